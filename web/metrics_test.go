package web

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRequestsAreCountedPerRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newHTTPMetrics(reg)
	h := newHarness(t)
	h.s.metrics = m
	srv := h.s.routes()
	rec := newRecorder()
	srv.ServeHTTP(rec, mustRequest(t, "/login"))
	srv.ServeHTTP(newRecorder(), mustRequest(t, "/no-such-page"))
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", "/login", "200")); got != 1 {
		t.Fatalf("GET /login counted %v times", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET", "unmatched", "404")); got != 1 {
		t.Fatalf("unmatched 404 counted %v times", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Fatalf("latency series: %d", n)
	}
}
