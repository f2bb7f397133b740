package coupon

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the coupon domain's Prometheus series (market_coupon_*).
type Metrics struct {
	claims        *prometheus.CounterVec
	claimSeconds  prometheus.Histogram
	claimBatch    prometheus.Histogram
	flushed       prometheus.Counter
	flushBatches  prometheus.Counter
	flushErrors   prometheus.Counter
	reclaimed     prometheus.Counter
	deadLetters   prometheus.Counter
	rebuilds      prometheus.Counter
	moves         prometheus.Counter
	movesFinished prometheus.Counter
	pending       prometheus.Gauge
	oldestPending prometheus.Gauge
	watchers      prometheus.Gauge
	liveReads     prometheus.Counter
	autoEnded     prometheus.Counter
}

// NewMetrics creates the series and registers them when reg is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "market_coupon_claims_total", Help: "Coupon claims by result.",
		}, []string{"result"}),
		claimSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "market_coupon_claim_duration_seconds", Help: "Time of one claim in the service (Redis round trip).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		claimBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "market_coupon_claim_batch_size", Help: "Claims sent to Redis in one pipeline.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		flushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_flushed_total", Help: "Claims the flusher persisted to PostgreSQL (new rows).",
		}),
		flushBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_flush_batches_total", Help: "Batches the flusher committed.",
		}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_flush_errors_total", Help: "Batches that failed to persist and stay pending.",
		}),
		reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_reclaimed_total", Help: "Stream entries reclaimed from idle consumers (XAUTOCLAIM).",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_dead_letters_total", Help: "Stream entries moved to the dead-letter table.",
		}),
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_stripe_moves_total", Help: "Moves of stock from one stripe of a campaign to another that ran out.",
		}),
		movesFinished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_stripe_moves_finished_total", Help: "Moves between stripes found half-done and finished by another (a mover stopped between take and give).",
		}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_rebuilds_total", Help: "Campaigns rebuilt in Redis after their keys were lost.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_coupon_flush_pending", Help: "Claims in Redis streams not yet persisted to PostgreSQL.",
		}),
		oldestPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_coupon_flush_oldest_pending_seconds", Help: "Age of the oldest claim not yet persisted.",
		}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "market_coupon_live_watchers", Help: "Live remaining-count streams open on this instance.",
		}),
		liveReads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_live_reads_total", Help: "Reads of watched campaigns' remaining counts (one pipeline each, for every watcher).",
		}),
		autoEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "market_coupon_auto_ended_total", Help: "Campaigns ended by the server at the close of their window.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.claims, m.claimSeconds, m.claimBatch, m.flushed, m.flushBatches, m.flushErrors, m.reclaimed,
			m.deadLetters, m.rebuilds, m.moves, m.movesFinished, m.pending, m.oldestPending, m.watchers, m.liveReads, m.autoEnded)
	}
	return m
}
