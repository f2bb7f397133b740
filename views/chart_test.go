package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBarsScaleToThePeak(t *testing.T) {
	b := bars([]ChartPoint{{"a", 0}, {"b", 5}, {"c", 10}})
	if len(b) != 3 || b[0].H != "0.0" || b[2].H != f(chartPlotH) || b[1].H != f(chartPlotH/2) {
		t.Fatalf("heights: %+v", b)
	}
	if bars(nil) != nil {
		t.Fatal("no points, no bars")
	}
}

func TestStackSplitsTheWidth(t *testing.T) {
	s := stack(segment{Value: 1}, segment{Value: 1}, segment{Value: 2})
	if s[0].W != "25.0" || s[1].X != "25.0" || s[2].X != "50.0" || s[2].W != "50.0" {
		t.Fatalf("%+v", s)
	}
	if stack(segment{}, segment{}) != nil {
		t.Fatal("all zero: nothing to draw")
	}
}

func TestBarChartHasATitleAndNumbers(t *testing.T) {
	var buf bytes.Buffer
	if err := BarChart("claims", "Claims per minute", "claim", []ChartPoint{{"14:00", 3}, {"14:01", 12480}}).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`<title id="claims-title">Claims per minute: peak 12,480 claims, total 12,483</title>`, `role="img"`, "14:01: 12,480 claims"} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q in\n%s", want, html)
		}
	}
}

func TestMoneyAndCounts(t *testing.T) {
	for in, want := range map[int64]string{0: "₩0", 999: "₩999", 1000: "₩1,000", 12900: "₩12,900", 2000000: "₩2,000,000", -1500: "-₩1,500"} {
		if got := Won(in); got != want {
			t.Errorf("Won(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestBarLabelsNeverCrowdAndTheNewestIsLabelled(t *testing.T) {
	for _, n := range []int{1, 5, 6, 7, 60, 600} {
		b := bars(make([]ChartPoint, n))
		shown := 0
		for _, x := range b {
			if x.ShowLabel {
				shown++
			}
		}
		if shown > chartLabels || !b[n-1].ShowLabel || b[n-1].Anchor != "end" {
			t.Errorf("%d points: %d labels, newest shown %v anchored %q", n, shown, b[n-1].ShowLabel, b[n-1].Anchor)
		}
	}
}
