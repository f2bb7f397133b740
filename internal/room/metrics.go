package room

import "github.com/prometheus/client_golang/prometheus"

// metrics are the room's Prometheus series (market_room_*).
type metrics struct {
	arrivals *prometheus.CounterVec
	streams  prometheus.Gauge
}

// newMetrics creates the series and registers them when reg is not nil.
func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		arrivals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "market_room_arrivals_total",
			Help: "Claims that entered the waiting room without a ticket in hand: skipped (within the rate), waiting (a ticket whose turn has not come) or admitted (the session's ticket, whose turn has come).",
		}, []string{"outcome"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_room_streams", Help: "Live waiting streams open on this instance.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.arrivals, m.streams)
	}
	return m
}
