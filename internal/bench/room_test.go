package bench

import (
	"testing"
	"time"
)

// The room bench's order check must catch a line served out of order.
func TestFifoCatchesGapsAndTurnsOutOfOrder(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	line := func(numbers []int64, turns []time.Duration) []visit {
		vs := make([]visit, len(numbers))
		for i := range numbers {
			vs[i] = visit{number: numbers[i], admitAt: at.Add(turns[i]), due: time.Duration(i) * time.Millisecond}
		}
		return vs
	}
	ms := time.Millisecond
	cases := []struct {
		name string
		line []visit
		ok   bool
	}{
		{"in order, 10 ms apart", line([]int64{1, 2, 3}, []time.Duration{0, 10 * ms, 20 * ms}), true},
		{"a lull: a wider gap, still in order", line([]int64{1, 2, 3}, []time.Duration{0, 10 * ms, 50 * ms}), true},
		{"a number skipped", line([]int64{1, 2, 4}, []time.Duration{0, 10 * ms, 20 * ms}), false},
		{"a number repeated", line([]int64{1, 2, 2}, []time.Duration{0, 10 * ms, 20 * ms}), false},
		{"a later number's turn first", line([]int64{1, 2, 3}, []time.Duration{0, 20 * ms, 10 * ms}), false},
		{"two turns at once", line([]int64{1, 2, 3}, []time.Duration{0, 10 * ms, 10 * ms}), false},
		{"two turns closer than the interval", line([]int64{1, 2, 3}, []time.Duration{0, 10 * ms, 15 * ms}), false},
	}
	for _, c := range cases {
		if _, ok := fifo(c.line, 100); ok != c.ok {
			t.Errorf("%s: ok = %v, want %v", c.name, ok, c.ok)
		}
	}
}
