package web

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// up is 1 when /readyz last reached a dependency (postgres, redis), 0 when not.
	up *prometheus.GaugeVec
	// The children per label set, looked up once (WithLabelValues hashes
	// and allocates on every call): routeKey → *routeMetrics.
	children sync.Map
}

type routeKey struct {
	method, route string
	status        int
}

type routeMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "market_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "market_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "market_dependency_up", Help: "1 when the last /readyz probe reached the dependency, 0 when it did not.",
		}, []string{"dependency"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.up)
	}
	return m
}

func (m *httpMetrics) observe(method, route string, status int, took time.Duration) {
	if status == 0 {
		status = 200
	}
	k := routeKey{method, route, status}
	c, ok := m.children.Load(k)
	if !ok {
		c, _ = m.children.LoadOrStore(k, &routeMetrics{
			requests: m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
			latency:  m.latency.WithLabelValues(method, route),
		})
	}
	rm := c.(*routeMetrics)
	rm.requests.Inc()
	rm.latency.Observe(took.Seconds())
}

func (m *httpMetrics) dependencyUp(name string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(name).Set(v)
}
