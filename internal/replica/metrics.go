package replica

import "github.com/prometheus/client_golang/prometheus"

// Why a read went to the primary although a replica is configured.
const (
	reasonDown     = "down"      // unreachable or not a replica
	reasonLagging  = "lagging"   // behind by more than REPLICA_MAX_LAG
	reasonOwnWrite = "own_write" // the reader's write not replayed within READ_YOUR_WRITES_WAIT
	reasonConflict = "conflict"  // the replica cancelled the read to replay a change
)

// Metrics are the read replica's Prometheus series (market_replica_*).
type Metrics struct {
	replicaReads prometheus.Counter
	fallbacks    map[string]prometheus.Counter
	up           prometheus.Gauge
	lag          prometheus.Gauge
}

// NewMetrics creates the series and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	reads := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "market_replica_reads_total", Help: "Catalogue and search reads sent to the read replica.",
	})
	fallbacks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "market_replica_fallbacks_total",
		Help: "Catalogue and search reads sent to the primary although a replica is configured, by reason: down, lagging, own_write, conflict.",
	}, []string{"reason"})
	m := &Metrics{
		replicaReads: reads,
		fallbacks:    map[string]prometheus.Counter{},
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_replica_up", Help: "1 when the last probe reached the read replica, 0 when it did not.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_replica_lag_seconds", Help: "How long ago the primary had written the oldest change the replica has not replayed.",
		}),
	}
	// Every reason exists from the start, at zero, so a dashboard can graph it.
	for _, reason := range []string{reasonDown, reasonLagging, reasonOwnWrite, reasonConflict} {
		m.fallbacks[reason] = fallbacks.WithLabelValues(reason)
	}
	if reg != nil {
		reg.MustRegister(reads, fallbacks, m.up, m.lag)
	}
	return m
}
