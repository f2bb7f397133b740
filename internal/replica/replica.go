// Package replica decides where the shop's catalogue and search reads go:
// to a PostgreSQL streaming replica when one is configured
// (DATABASE_READ_URL), and to the primary when the replica is down, when it
// lags past a bound, or when it has not yet replayed a write the reader made
// themself. Where reads go, and why: docs/HTTP.md, "Where reads go".
package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
)

// LSN is a position in the primary's write-ahead log, in bytes.
type LSN uint64

// Options bound how stale a read on the replica may be.
type Options struct {
	// Wait is how long a read waits for the replica to replay the reader's
	// own write before it reads the primary instead.
	Wait time.Duration
	// MaxLag: a replica that has not replayed what the primary had written
	// this long ago serves no reads.
	MaxLag time.Duration
	// Probe is how often the replica's health and lag are checked.
	Probe time.Duration
	Log   *slog.Logger
}

// The replica's health, as the last probe (or a failed read) saw it.
const (
	unprobed int32 = iota // not probed yet: treated as down
	down                  // unreachable, or not a replica
	lagging               // reachable, but behind by more than MaxLag
	healthy
)

// Reads hands out the pool a read should use. Without a replica every read
// goes to the primary, as it would without this package.
type Reads struct {
	primary *pgxpool.Pool
	replica *pgxpool.Pool // nil: no replica configured
	opts    Options
	m       *Metrics

	state    atomic.Int32
	replayed atomic.Uint64 // the replica's replay position last seen

	// sent is the primary's flushed WAL position at each probe, oldest
	// first, kept until the replica replays it (owned by Run).
	sent []sample
}

type sample struct {
	at  time.Time
	lsn LSN
}

// maxSamples bounds the probe's history when the replica never catches up:
// the lag it reports then stops growing at maxSamples probes, far past any
// useful MaxLag.
const maxSamples = 4096

// New routes reads between primary and replica (nil: primary only). The
// replica serves no read before a probe has found it healthy: call Probe,
// then keep Run running.
func New(primary, replica *pgxpool.Pool, o Options, m *Metrics) *Reads {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Probe <= 0 {
		o.Probe = 250 * time.Millisecond
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Reads{primary: primary, replica: replica, opts: o, m: m}
}

// PrimaryOnly is Reads without a replica: every read goes to pool.
func PrimaryOnly(pool *pgxpool.Pool) *Reads { return New(pool, nil, Options{}, nil) }

// Primary is the primary's pool, for writes and for reads that must see them.
func (r *Reads) Primary() *pgxpool.Pool { return r.primary }

// HasReplica says whether a replica is configured.
func (r *Reads) HasReplica() bool { return r.replica != nil }

// Read runs fn on the pool this read should use. When the replica fails
// under it (unreachable, going away, or cancelling the read to replay a
// change that conflicts with it), fn runs again on the primary: a replica
// that dies between two probes costs a retry, not an error page.
func (r *Reads) Read(ctx context.Context, fn func(*pgxpool.Pool) error) error {
	pool, onReplica := r.choose(ctx)
	err := fn(pool)
	if !onReplica || err == nil {
		return err
	}
	switch {
	case db.Unavailable(err):
		r.markDown(err)
		r.m.fallbacks[reasonDown].Inc()
	case recoveryConflict(err):
		r.m.fallbacks[reasonConflict].Inc()
	default:
		return err
	}
	return fn(r.primary)
}

// choose picks the pool for one read; onReplica says it is the replica's.
func (r *Reads) choose(ctx context.Context) (pool *pgxpool.Pool, onReplica bool) {
	if r.replica == nil || primaryOnly(ctx) {
		return r.primary, false
	}
	switch r.state.Load() {
	case unprobed, down:
		r.m.fallbacks[reasonDown].Inc()
		return r.primary, false
	case lagging:
		r.m.fallbacks[reasonLagging].Inc()
		return r.primary, false
	}
	if w := writeOf(ctx); w != nil && !r.caughtUp(ctx, w) {
		r.m.fallbacks[reasonOwnWrite].Inc()
		return r.primary, false
	}
	r.m.replicaReads.Inc()
	return r.replica, true
}

// caughtUp says whether the replica has replayed the reader's write,
// waiting for it at most Wait once per request: a page of several reads
// waits once, and all of them then go to the same place.
func (r *Reads) caughtUp(ctx context.Context, w *write) bool {
	if LSN(r.replayed.Load()) >= w.lsn {
		return true
	}
	w.once.Do(func() { w.replayed = r.waitFor(ctx, w.lsn) })
	return w.replayed
}

// waitFor asks the replica for its replay position every few milliseconds
// until it reaches lsn or Wait is over.
func (r *Reads) waitFor(ctx context.Context, lsn LSN) bool {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Wait)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var replay *int64
		if err := r.replica.QueryRow(ctx, replayLSN).Scan(&replay); err != nil || replay == nil {
			return false
		}
		r.advance(LSN(*replay))
		if LSN(*replay) >= lsn {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// Wrote returns the primary's WAL position after a write the caller has
// committed, for AfterWrite on the writer's next reads (0 without a
// replica: nothing to wait for). The insert position is past the commit
// even when commits are not flushed at once (synchronous_commit=off); it
// may point just past a page header, and then a wait ends at the primary.
func (r *Reads) Wrote(ctx context.Context) (LSN, error) {
	if r.replica == nil {
		return 0, nil
	}
	var lsn int64
	err := r.primary.QueryRow(ctx, "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint").Scan(&lsn)
	return LSN(lsn), err
}

// replayLSN is the replica's replay position; NULL on a server that is not a replica.
const replayLSN = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"

// advance records a replay position seen on the replica; it only grows.
func (r *Reads) advance(lsn LSN) {
	for {
		cur := r.replayed.Load()
		if uint64(lsn) <= cur || r.replayed.CompareAndSwap(cur, uint64(lsn)) {
			return
		}
	}
}

func (r *Reads) markDown(err error) {
	if r.state.Swap(down) != down {
		r.opts.Log.Warn("read replica unavailable: reads go to the primary", "err", err)
		r.m.up.Set(0)
	}
}

// recoveryConflict: the replica cancelled a read whose snapshot stood in
// the way of replaying the primary's changes (serialization_failure, which
// a read-only transaction meets on a replica only so).
func recoveryConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40001"
}

type ctxKey int

const (
	primaryKey ctxKey = iota
	writeKey
)

// OnPrimary marks reads made with ctx as ones that must see the primary:
// the admin's pages, whose forms edit what they show.
func OnPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey, true)
}

func primaryOnly(ctx context.Context) bool {
	v, _ := ctx.Value(primaryKey).(bool)
	return v
}

// write is a reader's own last write, and whether the replica had replayed
// it when this request first asked.
type write struct {
	lsn      LSN
	once     sync.Once
	replayed bool
}

// AfterWrite marks reads made with ctx as ones by someone who wrote at lsn
// (Wrote): they go to the replica once it has replayed lsn, waiting for it
// at most Options.Wait, else to the primary.
func AfterWrite(ctx context.Context, lsn LSN) context.Context {
	if lsn == 0 {
		return ctx
	}
	return context.WithValue(ctx, writeKey, &write{lsn: lsn})
}

func writeOf(ctx context.Context) *write {
	w, _ := ctx.Value(writeKey).(*write)
	return w
}
