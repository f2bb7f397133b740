package replica

import (
	"context"
	"errors"
	"time"
)

var errNotReplica = errors.New("the server named by DATABASE_READ_URL is not a replica (pg_last_wal_replay_lsn() is NULL)")

// Run checks the replica every Options.Probe until ctx ends, so that no
// request pays for a health check. Without a replica it returns at once.
func (r *Reads) Run(ctx context.Context) {
	if r.replica == nil {
		return
	}
	tick := time.NewTicker(r.opts.Probe)
	defer tick.Stop()
	for {
		r.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Probe checks the replica once. serve calls it before it listens, so the
// first requests find the replica's state known; Run goes on from there.
func (r *Reads) Probe(ctx context.Context) {
	if r.replica != nil {
		r.probe(ctx)
	}
}

// probe reads the primary's flushed WAL position (what the replica can have
// been sent), then the replica's replay position, and sets the health.
func (r *Reads) probe(ctx context.Context) {
	now := time.Now()
	r.sample(ctx, now)
	qctx, cancel := context.WithTimeout(ctx, r.probeTimeout())
	defer cancel()
	var replay *int64
	err := r.replica.QueryRow(qctx, replayLSN).Scan(&replay)
	if err == nil && replay == nil {
		err = errNotReplica
	}
	if err != nil {
		if ctx.Err() == nil { // not shutting down
			r.markDown(err)
		}
		return
	}
	r.advance(LSN(*replay))
	lag := r.lag(now, LSN(*replay))
	r.m.lag.Set(lag.Seconds())
	r.m.up.Set(1)
	next := healthy
	if lag > r.opts.MaxLag {
		next = lagging
	}
	if prev := r.state.Swap(next); prev != next {
		r.opts.Log.Info("read replica state", "state", stateNames[next], "lag", lag)
	}
}

// probeTimeout: a replica slower than this to say where it is counts as down.
func (r *Reads) probeTimeout() time.Duration { return max(r.opts.Probe, time.Second) }

// sample records the primary's flushed WAL position. A primary that does
// not answer adds none: no writes are happening, and the lag is judged on
// what was sent before.
func (r *Reads) sample(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, r.probeTimeout())
	defer cancel()
	var sent int64
	if err := r.primary.QueryRow(ctx, "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint").Scan(&sent); err != nil {
		return
	}
	if n := len(r.sent); n == 0 || r.sent[n-1].lsn < LSN(sent) {
		r.sent = append(r.sent, sample{at: now, lsn: LSN(sent)})
	}
	if len(r.sent) > maxSamples {
		r.sent = r.sent[len(r.sent)-maxSamples:]
	}
}

var stateNames = map[int32]string{unprobed: "unprobed", down: "down", lagging: "lagging", healthy: "healthy"}

// lag is how long ago the primary had flushed the oldest position the
// replica has not replayed: zero when it has replayed everything the probes
// saw. Positions are sampled once a probe, so the lag is known to about
// one probe interval.
func (r *Reads) lag(now time.Time, replayed LSN) time.Duration {
	i := 0
	for i < len(r.sent) && r.sent[i].lsn <= replayed {
		i++
	}
	r.sent = r.sent[i:]
	if len(r.sent) == 0 {
		return 0
	}
	return now.Sub(r.sent[0].at)
}
