package coupon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"market/internal/db"
)

// FlushOptions tune the write-back flusher (FLUSH_* settings).
type FlushOptions struct {
	Batch       int           // entries per read and per transaction
	Interval    time.Duration // pause between passes when the streams are empty
	ReclaimIdle time.Duration // another consumer's pending entries idle this long are taken over (XAUTOCLAIM)
	Workers     int           // consumers per instance
	Consumer    string        // consumer name prefix; host and pid when empty
}

func (o FlushOptions) withDefaults() FlushOptions {
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.ReclaimIdle <= 0 {
		o.ReclaimIdle = 30 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d-%d", host, os.Getpid(), time.Now().UnixNano()%1_000_000)
	}
	return o
}

// drainTimeout bounds the final pass on shutdown. After a failed pass the
// next one comes after retryFirst, doubling up to retryMax: a PostgreSQL
// that comes back is noticed within a second, and the entries this consumer
// holds are retried at once (they are its own, not left for XAUTOCLAIM).
const (
	drainTimeout = 10 * time.Second
	retryFirst   = 50 * time.Millisecond
	retryMax     = time.Second
)

// RunFlusher persists claims from the campaigns' streams until ctx ends, then
// drains what is left (new entries and this instance's pending ones) and
// returns. Several instances share the work through one consumer group.
func (s *Service) RunFlusher(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range s.opts.Flush.Workers {
		w := &flushWorker{s: s, consumer: fmt.Sprintf("%s-w%d", s.opts.Flush.Consumer, i), gauges: i == 0}
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
}

// flushWorker is one consumer of the group.
type flushWorker struct {
	s         *Service
	consumer  string
	gauges    bool                           // this worker refreshes the pending gauges
	campaigns []db.ListFlushableCampaignsRow // the last list read from PostgreSQL, kept when it is down
}

func (w *flushWorker) run(ctx context.Context) {
	t := time.NewTimer(w.s.opts.Flush.Interval)
	defer t.Stop()
	retry := retryFirst
	for {
		select {
		case <-ctx.Done():
			w.drain()
			return
		case <-t.C:
		}
		if _, err := w.pass(ctx); err != nil {
			t.Reset(retry)
			retry = min(2*retry, retryMax)
			continue
		}
		retry = retryFirst
		t.Reset(w.s.opts.Flush.Interval)
	}
}

// drain runs passes with a fresh context until nothing is left to read.
func (w *flushWorker) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if n, err := w.pass(ctx); err != nil || n == 0 {
			return
		}
	}
}

// pass goes once over every flushable campaign: retries this consumer's own
// pending entries, takes over other consumers' idle ones, then reads new ones
// until a short batch. It returns how many
// entries it persisted.
func (w *flushWorker) pass(ctx context.Context) (int, error) {
	if ids, err := w.s.q.ListFlushableCampaigns(ctx); err == nil {
		w.campaigns = ids
	} else if len(w.campaigns) == 0 {
		return 0, err
	}
	total := 0
	var firstErr error
	for _, c := range w.campaigns {
		// A striped campaign has a stream per stripe (stripes.go).
		for stripe := range max(int(c.Stripes), 1) {
			n, err := w.flushStream(ctx, c.ID, c.RedisEpoch, stripeKeys(c.ID, stripe, int(c.Stripes)).claims)
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil && ctx.Err() == nil {
		w.s.m.flushErrors.Inc()
		w.s.log.Warn("coupon flush pass failed; entries stay pending", "consumer", w.consumer, "err", firstErr)
	}
	if w.gauges {
		w.refreshGauges(ctx)
	}
	return total, firstErr
}

// flushStream persists a stream's entries under the campaign's epoch as
// listed at the start of the pass, before they were read: entries read after
// a rebuild began are refused (errStaleEpoch), stay pending, and go through
// on the next pass, unless the rebuild followed a wipe of the stream.
func (w *flushWorker) flushStream(ctx context.Context, id, epoch int64, stream string) (int, error) {
	opt := w.s.opts.Flush
	// This consumer's own pending entries ("0" re-reads them): left by a
	// failed pass, or read just before a shutdown.
	msgs, err := w.read(ctx, stream, "0")
	if isNoGroup(err) {
		// A stream without the group: claims went on into a stream lost
		// after its rebuild created the group (a wipe mid-rebuild, a key
		// deleted). None of its entries was ever read: the group starts at
		// its beginning. No stream at all: nothing to persist.
		if err := w.s.rdb.XGroupCreate(ctx, stream, group, "0").Err(); err != nil && !isBusyGroup(err) {
			return 0, nil
		}
		w.s.log.Warn("coupon stream had no flusher group; created from its first entry", "campaign", id, "stream", stream)
		msgs, err = nil, nil
	}
	if err != nil {
		return 0, err
	}
	total, err := w.persist(ctx, id, epoch, stream, msgs)
	if err != nil {
		return total, err
	}
	// Entries a crashed consumer left pending.
	start := "0-0"
	for {
		msgs, next, err := w.s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: stream, Group: group, Consumer: w.consumer, MinIdle: opt.ReclaimIdle, Start: start, Count: int64(opt.Batch),
		}).Result()
		if isNoGroup(err) {
			return total, nil // the stream went meanwhile; the next pass looks again
		}
		if err != nil {
			return total, err
		}
		w.s.m.reclaimed.Add(float64(len(msgs)))
		n, err := w.persist(ctx, id, epoch, stream, msgs)
		total += n
		if err != nil {
			return total, err
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	for {
		msgs, err := w.read(ctx, stream, ">")
		if isNoGroup(err) {
			return total, nil // the stream went meanwhile; the next pass looks again
		}
		if err != nil {
			return total, err
		}
		n, err := w.persist(ctx, id, epoch, stream, msgs)
		total += n
		if err != nil || len(msgs) < opt.Batch {
			return total, err
		}
	}
}

func (w *flushWorker) read(ctx context.Context, stream, from string) ([]redis.XMessage, error) {
	res, err := w.s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: w.consumer, Streams: []string{stream, from}, Count: int64(w.s.opts.Flush.Batch), Block: -1,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil || len(res) == 0 {
		return nil, err
	}
	return res[0].Messages, nil
}

// persist inserts a batch in one transaction and only then acknowledges and
// deletes its entries (a deleted entry is a persisted one, so the stream's
// length is the backlog). Only what can never succeed is dead-lettered: an
// entry that does not parse, or one PostgreSQL refuses as data (permanent);
// when a batch is refused so, its entries are tried one by one so that the
// others go through. Anything else (PostgreSQL unreachable, restarting,
// overloaded, a deadlock) leaves the entries pending, and the next pass
// retries them, for as long as it takes.
func (w *flushWorker) persist(ctx context.Context, id, epoch int64, stream string, msgs []redis.XMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	var good []redis.XMessage
	var entries []claimEntry
	for _, m := range msgs {
		e, err := parseEntry(m)
		if err != nil {
			if err := w.deadLetter(ctx, id, stream, m, err.Error()); err != nil {
				return 0, err
			}
			continue
		}
		good = append(good, m)
		entries = append(entries, e)
	}
	n, err := w.s.insert(ctx, id, &epoch, entries)
	if err == nil {
		return int(n), w.ack(ctx, stream, good)
	}
	if !permanent(err) {
		return 0, err
	}
	total := 0
	for i, m := range good {
		n, err := w.s.insert(ctx, id, &epoch, entries[i:i+1])
		switch {
		case err == nil:
			total += int(n)
			err = w.ack(ctx, stream, []redis.XMessage{m})
		case permanent(err):
			err = w.deadLetter(ctx, id, stream, m, err.Error())
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// permanent says PostgreSQL refused the data itself (class 22, data
// exception; class 23, integrity constraint): trying again cannot help.
// Everything else may pass later: a lost connection, a server shutting
// down or starting (57P01, 57P03), too many connections (53300), a deadlock
// (40P01), a timeout.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

func (w *flushWorker) ack(ctx context.Context, stream string, msgs []redis.XMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	pipe := w.s.rdb.Pipeline()
	pipe.XAck(ctx, stream, group, ids...)
	pipe.XDel(ctx, stream, ids...)
	_, err := pipe.Exec(ctx)
	return err
}

func (w *flushWorker) deadLetter(ctx context.Context, id int64, stream string, m redis.XMessage, reason string) error {
	payload := fmt.Sprint(m.Values)
	err := w.s.q.InsertDeadLetter(ctx, db.InsertDeadLetterParams{
		CampaignID: id, StreamID: m.ID, Payload: payload, Error: reason, Attempts: 1,
	})
	if err != nil {
		return err
	}
	w.s.m.deadLetters.Inc()
	w.s.log.Error("coupon claim dead-lettered", "campaign", id, "entry", m.ID, "payload", payload, "err", reason)
	return w.ack(ctx, stream, []redis.XMessage{m})
}

// refreshGauges sets the backlog and the age of its oldest entry.
func (w *flushWorker) refreshGauges(ctx context.Context) {
	var backlog int64
	var oldest time.Duration
	for _, c := range w.campaigns {
		for stripe := range max(int(c.Stripes), 1) {
			stream := stripeKeys(c.ID, stripe, int(c.Stripes)).claims
			n, err := w.s.rdb.XLen(ctx, stream).Result()
			if err != nil || n == 0 {
				continue
			}
			backlog += n
			if first, err := w.s.rdb.XRangeN(ctx, stream, "-", "+", 1).Result(); err == nil && len(first) == 1 {
				if age := time.Since(streamTime(first[0].ID)); age > oldest {
					oldest = age
				}
			}
		}
	}
	w.s.m.pending.Set(float64(backlog))
	w.s.m.oldestPending.Set(oldest.Seconds())
}

// streamTime is the time in a stream entry id ("ms-seq").
func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	var n int64
	fmt.Sscan(ms, &n)
	return time.UnixMilli(n)
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// insert persists claims idempotently and counts them in the campaign, in
// one statement; it returns how many rows were new. With an epoch, the claims
// were read from Redis in that epoch of the campaign (InsertClaims).
func (s *Service) insert(ctx context.Context, id int64, epoch *int64, entries []claimEntry) (int64, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	var n int64
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		var err error
		n, err = insertClaims(ctx, q, id, epoch, entries)
		return err
	})
	if err == nil {
		s.m.flushed.Add(float64(n))
		s.m.flushBatches.Inc()
	}
	return n, err
}

func insertClaims(ctx context.Context, q *db.Queries, id int64, epoch *int64, entries []claimEntry) (int64, error) {
	users := make([]int64, len(entries))
	ats := make([]time.Time, len(entries))
	for i, e := range entries {
		users[i], ats[i] = e.userID, e.at
	}
	n, err := q.InsertClaims(ctx, db.InsertClaimsParams{CampaignID: id, UserIds: users, ClaimedAts: ats, Epoch: epoch})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errStaleEpoch // the transaction rolls back what the statement inserted
	}
	return n, err
}

// errStaleEpoch is claims read from Redis before the campaign's keys were
// rebuilt: they are not written (InsertClaims).
var errStaleEpoch = errors.New("campaign keys rebuilt since these claims were read; they are read again")
