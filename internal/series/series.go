// Package series lays counts out on a time axis: the fixed buckets the
// dashboard charts draw, filled in where the database returned no row.
package series

import "time"

// Point is one bucket of a time series: its start and its count.
type Point struct {
	At    time.Time `json:"at"`
	Value int64     `json:"value"`
}

// Window is n buckets of step ending at the bucket that holds now: the
// first bucket starts at Since, the last one ends at Until.
type Window struct {
	Since, Until time.Time
	Step         time.Duration
	N            int
}

// Last is the window of n buckets of step whose last bucket holds now.
// Bucket edges are aligned to whole steps, so a refresh a moment later
// shows the same buckets with the newest one grown.
func Last(now time.Time, step time.Duration, n int) Window {
	end := now.Truncate(step).Add(step)
	return Window{Since: end.Add(-time.Duration(n) * step), Until: end, Step: step, N: n}
}

// Fill returns the window's n buckets in order, each with the count of the
// row that starts there (rows may skip empty buckets; a row outside the
// window or off the bucket grid is dropped rather than misplaced).
func (w Window) Fill(starts []time.Time, counts []int64) []Point {
	out := make([]Point, w.N)
	for i := range out {
		out[i].At = w.Since.Add(time.Duration(i) * w.Step)
	}
	for j, at := range starts {
		d := at.Sub(w.Since)
		if d < 0 || d%w.Step != 0 {
			continue
		}
		if i := int(d / w.Step); i < w.N {
			out[i].Value += counts[j]
		}
	}
	return out
}
