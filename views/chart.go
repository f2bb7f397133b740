package views

import "strconv"

// ChartPoint is one bar of a time series.
type ChartPoint struct {
	Label string // e.g. "14:05"
	Value int64
}

// Chart geometry, in SVG user units (the SVG scales to its container).
const (
	chartW, chartH = 600, 180
	chartLeft      = 44 // room for y-axis labels
	chartBottom    = 22 // room for x-axis labels
	chartPlotH     = chartH - chartBottom - 8
	chartPlotW     = chartW - chartLeft - 4
	chartPlotTop   = 8
	chartLabels    = 6 // at most this many x-axis labels, so they never overlap
)

type bar struct {
	X, Y, W, H string
	Value      int64
	Label      string
	ShowLabel  bool
	LabelX     string
	Anchor     string // text-anchor: the newest label ends at the plot's edge
}

func peak(points []ChartPoint) int64 {
	var m int64
	for _, p := range points {
		m = max(m, p.Value)
	}
	return m
}

func total(points []ChartPoint) int64 {
	var t int64
	for _, p := range points {
		t += p.Value
	}
	return t
}

// bars lays the points out as bars scaled to the peak.
func bars(points []ChartPoint) []bar {
	if len(points) == 0 {
		return nil
	}
	top := scaleTop(points)
	slot := float64(chartPlotW) / float64(len(points))
	w := max(slot*0.8, 1)
	// Labels count back from the newest bar, which always has one.
	every := max((len(points)+chartLabels-1)/chartLabels, 1)
	out := make([]bar, len(points))
	for i, p := range points {
		h := float64(p.Value) / float64(top) * chartPlotH
		x := chartLeft + float64(i)*slot + (slot-w)/2
		out[i] = bar{
			X: f(x), Y: f(chartPlotTop + chartPlotH - h), W: f(w), H: f(h),
			Value: p.Value, Label: p.Label,
			ShowLabel: (len(points)-1-i)%every == 0,
			LabelX:    f(x + w/2),
			Anchor:    "middle",
		}
	}
	out[len(out)-1].Anchor, out[len(out)-1].LabelX = "end", f(chartW-4)
	return out
}

// scaleTop is the value at the top of the chart's scale: the peak, and 1 for
// a chart of zeros (so that its axis does not read 0 to 0).
func scaleTop(points []ChartPoint) int64 { return max(peak(points), 1) }

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// segment is one part of a stacked bar, as a percentage width.
type segment struct {
	Class, Label string
	X, W         string
	Value        int64
}

// stack splits 100% of the width among the parts in order.
func stack(parts ...segment) []segment {
	var sum int64
	for _, p := range parts {
		sum += p.Value
	}
	if sum == 0 {
		return nil
	}
	x := 0.0
	for i := range parts {
		w := float64(parts[i].Value) / float64(sum) * 100
		parts[i].X, parts[i].W = f(x), f(w)
		x += w
	}
	return parts
}
