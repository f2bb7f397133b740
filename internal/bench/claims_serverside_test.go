package bench

import "testing"

// The server's quantiles are read from the difference of two cumulative
// histograms: only the claims of the measured window count.
func TestServerQuantileOfAWindow(t *testing.T) {
	bounds := []float64{.001, .005, .025, .1}
	before := serverBuckets{bounds: bounds, counts: []uint64{900, 990, 1000, 1000}} // the warm-up: fast
	after := serverBuckets{bounds: bounds, counts: []uint64{900, 1040, 1090, 1100}} // then 100 slower claims
	for _, tc := range []struct {
		q    float64
		want string
	}{{0.5, "≤5ms"}, {0.9, "≤25ms"}, {0.99, "≤100ms"}} {
		if got := after.quantile(before, tc.q); got != tc.want {
			t.Errorf("q%.2f = %s, want %s", tc.q, got, tc.want)
		}
	}
	if got := before.quantile(before, 0.5); got != "-" {
		t.Errorf("no claims in the window: %s, want -", got)
	}
	if got := after.quantile(serverBuckets{}, 0.5); got != "≤1ms" {
		t.Errorf("from zero: %s, want ≤1ms", got)
	}
}
