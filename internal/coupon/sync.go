package coupon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"market/internal/db"
	"market/internal/errs"
)

// PostgreSQL decides a campaign's configuration (state, window, total);
// Redis holds the copy that claims read. Every write of that copy happens
// under the campaign's row lock (LockCampaign) and writes what PostgreSQL
// holds at that moment, so admins, rebuilds and the background sync on any
// number of instances take turns and never write an older read.
//
// The order of the two stores keeps PostgreSQL's total at or above what Redis
// may hand out, whatever fails in between:
//   - a change that lets Redis hand out more (activate, resume, a larger
//     total) or the end of a claim window is committed first and copied
//     after the commit; until the copy lands the campaign is pending
//     (redis_pending_since) and the background sync retries it;
//   - an admin's pause or end is written to Redis first and committed
//     second (Transition), refused while Redis cannot be reached;
//   - a smaller total is applied in Redis first, where the check against
//     claims is atomic, and committed second: should the commit fail, Redis
//     is lower than PostgreSQL until the next sync, never higher.
//
// Holding the row lock also holds the flusher back (its insert needs the row
// for the foreign key and persisted_count), so a rebuild reads the coupons
// and the stream while neither moves.

// Lock waits and bounds. The lock is held for one or two Redis round trips,
// or for a rebuild.
const (
	adminLockWait = 3 * time.Second        // an admin's action waits its turn (under the pool's statement_timeout)
	claimLockWait = time.Second            // a claim that found the keys missing
	syncLockWait  = 200 * time.Millisecond // the background sync skips a campaign being written
	syncTimeout   = 30 * time.Second       // one copy or rebuild, detached from the request that started it
	restoreWait   = 2 * time.Second        // claims wait this long for another claim's rebuild
	rebuildChunk  = 1000                   // claimed-hash fields per round trip of a rebuild
)

var errBusy = errs.New(errs.Busy, "This campaign is being updated. Please try again in a moment.")

// locked runs fn in one transaction with the campaign's row locked, waiting
// at most wait for the lock (errBusy after that).
func (s *Service) locked(ctx context.Context, id int64, wait time.Duration, fn func(q *db.Queries, c Campaign) error) error {
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		// The wait for the lock is bounded by wait; what runs under it (a
		// rebuild of a big campaign) by syncTimeout, not by the request
		// pool's statement and idle budgets.
		if err := q.SetCampaignTxBudget(ctx, db.SetCampaignTxBudgetParams{
			LockTimeout: strconv.FormatInt(wait.Milliseconds(), 10), Budget: strconv.FormatInt(syncTimeout.Milliseconds(), 10),
		}); err != nil {
			return err
		}
		c, err := q.LockCampaign(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoCampaign
		}
		if err != nil {
			return err
		}
		return fn(q, c)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: lock_timeout
		return errBusy
	}
	return err
}

// applyMode is apply.lua's ARGV[1]; applied is its answer (see apply.lua).
type (
	applyMode string
	applied   string
)

const (
	modeResize applyMode = "resize" // a lower total, refused below what is claimed
	modeSync   applyMode = "sync"   // PostgreSQL's figures over whatever Redis has
	modeCreate applyMode = "create" // the last step of a rebuild

	appliedOK           applied = "ok"            // Redis held the figures already
	appliedChanged      applied = "changed"       // Redis held others, now replaced
	appliedBelowClaimed applied = "below_claimed" // resize only; n is what is claimed
	appliedMissing      applied = "missing"       // keys missing or behind: rebuild first
)

// apply runs apply.lua with the campaign's figures: what happened, and the
// stock left (or, for appliedBelowClaimed, the coupons claimed). claims is
// what the claimed hash must hold at least: PostgreSQL's coupons, or for
// modeCreate every claim the rebuild merged.
func (s *Service) apply(ctx context.Context, c Campaign, mode applyMode, claims int64) (applied, int64, error) {
	k := keysOf(c.ID)
	v, err := applyScript.Run(ctx, s.rdb, []string{k.meta, k.stock, k.claimed},
		string(mode), c.State, c.StartsAt.UnixMilli(), c.EndsAt.UnixMilli(), c.TotalQuantity, claims).Slice()
	if err != nil {
		return "", 0, err
	}
	o, err := pairOf(v)
	return applied(o.Result), o.Remaining, err
}

// syncLocked makes Redis hold the campaign as PostgreSQL does, rebuilding its
// keys when they are missing or behind. c is the locked row; the pending
// mark is cleared once Redis holds it.
func (s *Service) syncLocked(ctx context.Context, q *db.Queries, c *Campaign, why string) error {
	if c.State != StateDraft && stripeCount(*c) > 1 {
		if err := s.syncStripesLocked(ctx, q, *c, why); err != nil {
			return err
		}
	} else if c.State != StateDraft {
		status, left, err := s.apply(ctx, *c, modeSync, c.PersistedCount)
		if err != nil {
			return unavailable(err)
		}
		switch status {
		case appliedMissing:
			if err := s.rebuildLocked(ctx, q, *c, why); err != nil {
				return err
			}
		case appliedChanged:
			s.event(ctx, q, c.ID, "state", fmt.Sprintf("%s: Redis now holds state %s, total %d, %d remaining", why, c.State, c.TotalQuantity, left))
		}
	}
	if c.RedisPendingSince != nil {
		if err := q.ClearRedisPending(ctx, c.ID); err != nil {
			return err
		}
		c.RedisPendingSince = nil
	}
	return nil
}

// rebuildLocked writes a campaign's keys from every claim that exists
// outside the claimed hash: coupons in PostgreSQL, entries waiting in the
// stream, and dead letters (claims still, so their stock is never offered
// twice). The hash is merged (a shopper already in it keeps their entry) in
// chunks, so Redis never blocks on one huge call; the stock key is removed
// first and written last, so claims answer "missing" (and wait, or are told
// to retry) until the hash is whole. The stock is written only beside a hash
// that holds every claim counted (errKeysLost otherwise: keys lost meanwhile
// would let shoppers claim twice).
func (s *Service) rebuildLocked(ctx context.Context, q *db.Queries, c Campaign, why string) error {
	claims, err := s.stopClaims(ctx, c)
	if err != nil {
		return unavailable(err)
	}
	n, err := s.mergeAll(ctx, q, c, claims)
	if err != nil {
		return err
	}
	var left int64
	if stripeCount(c) == 1 {
		var status applied
		if status, left, err = s.apply(ctx, c, modeCreate, claims[0]); err == nil && status == appliedMissing {
			err = errKeysLost
		}
	} else {
		var status applied
		if status, left, err = s.distribute(ctx, c, c.TotalQuantity, claims); err == nil && status == appliedBelowClaimed {
			// More claims than the total cannot come from claims (they stop at
			// zero stock); should it happen, nothing more is offered.
			_, _, err = s.distribute(ctx, c, left, claims)
			left = 0
		}
	}
	if err != nil {
		return unavailable(err)
	}
	detail := fmt.Sprintf("%s: state %s, %d persisted, %d pending in the stream, %d dead letters, %d remaining of %d",
		why, c.State, n.persisted, n.pending, n.letters, left, c.TotalQuantity)
	if n.persisted+n.pending+n.letters == 0 {
		// Nothing was claimed yet: a first load (activation), not a loss.
		s.event(ctx, q, c.ID, "warm", detail)
		return nil
	}
	s.m.rebuilds.Inc()
	s.log.Warn("coupon campaign rebuilt in Redis", "campaign", c.ID, "detail", detail)
	s.event(ctx, q, c.ID, "rebuild", detail)
	return nil
}

// errKeysLost is a rebuild or spread that found a claimed hash holding fewer
// claims than it counted: the keys were lost meanwhile, and the stock stays
// unwritten until the next rebuild.
var errKeysLost = errors.New("campaign keys lost during a rebuild; it runs again")

// stopClaims makes claims of the campaign answer "missing" until the
// rebuild writes the stock back, and answers the claims each stripe's hash
// held at that moment, which claims no longer change.
func (s *Service) stopClaims(ctx context.Context, c Campaign) ([]int64, error) {
	if stripeCount(c) > 1 {
		claims, _, err := s.freezeStripes(ctx, c)
		return claims, err
	}
	k := keysOf(c.ID)
	var held *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k.stock)
		held = p.HLen(ctx, k.claimed)
		return nil
	})
	return []int64{held.Val()}, err
}

// merged counts the claims a rebuild found outside the claimed hashes.
type merged struct{ persisted, pending, letters int }

// mergeAll adds every claim that exists outside the claimed hashes (coupons
// in PostgreSQL, entries in the streams, dead letters) to the claimed hash
// of the shopper's stripe, with claims stopped, and adds to claims (by
// stripe, the claims each hash held when they stopped) the fields it wrote.
// It first creates the flusher's group on every stream, before any claim
// can land in it (BUSYGROUP: it exists).
func (s *Service) mergeAll(ctx context.Context, q *db.Queries, c Campaign, claims []int64) (merged, error) {
	k := stripeCount(c)
	var n merged
	// Claims the flusher read before this rebuild, from a stream that may
	// have been wiped since, are not written after it (InsertClaims).
	if err := q.BumpRedisEpoch(ctx, c.ID); err != nil {
		return n, err
	}
	m := merger{ctx: ctx, rdb: s.rdb, id: c.ID, claims: claims}
	for stripe := range k {
		stream := stripeKeys(c.ID, stripe, k).claims
		if err := s.rdb.XGroupCreateMkStream(ctx, stream, group, "0").Err(); err != nil && !isBusyGroup(err) {
			return n, unavailable(err)
		}
		read, err := s.mergeStream(ctx, &m, stream)
		if err != nil {
			return n, unavailable(err)
		}
		n.pending += read
	}
	rows, err := q.CampaignUserIDs(ctx, c.ID)
	if err != nil {
		return n, err
	}
	for _, r := range rows {
		m.add(claimEntry{userID: r.UserID, at: r.ClaimedAt})
	}
	letters, err := q.CampaignDeadLetterPayloads(ctx, c.ID)
	if err != nil {
		return n, err
	}
	for _, p := range letters {
		if cl, err := parsePayload(p); err == nil {
			m.add(cl)
		}
	}
	n.persisted, n.letters = len(rows), len(letters)
	return n, unavailable(m.flush())
}

// mergeStream adds a stream's claims to the merger. The stream holds the
// backlog, which an outage of PostgreSQL can make long: it is read a chunk
// at a time. It answers how many entries it read.
func (s *Service) mergeStream(ctx context.Context, m *merger, stream string) (int, error) {
	read := 0
	for start := "-"; ; {
		entries, err := s.rdb.XRangeN(ctx, stream, start, "+", rebuildChunk).Result()
		if err != nil {
			return read, err
		}
		for _, e := range entries {
			if cl, err := parseEntry(e); err == nil {
				m.add(cl)
			}
		}
		read += len(entries)
		if len(entries) < rebuildChunk {
			return read, nil
		}
		start = "(" + entries[len(entries)-1].ID
	}
}

// event records what happened to a campaign's Redis copy, in the caller's
// transaction; a failure to record is logged, not fatal.
func (s *Service) event(ctx context.Context, q *db.Queries, id int64, kind, detail string) {
	if err := q.InsertCampaignEvent(ctx, db.InsertCampaignEventParams{CampaignID: id, Kind: kind, Detail: detail}); err != nil {
		s.log.Error("record campaign event", "campaign", id, "err", err)
	}
}

// merger adds claims to the claimed hash of the shopper's stripe with
// HSETNX, rebuildChunk per round trip, counting in claims (by stripe) the
// fields it added. Counted so, a hash lost part way holds fewer claims than
// counted: the fields written before the loss are gone, and those written
// after count twice.
type merger struct {
	ctx    context.Context
	rdb    redis.UniversalClient
	id     int64
	claims []int64
	pipe   redis.Pipeliner
	sent   []sentField
	err    error
}

type sentField struct {
	stripe int
	cmd    *redis.BoolCmd
}

func (m *merger) add(c claimEntry) {
	if m.err != nil {
		return
	}
	if m.pipe == nil {
		m.pipe = m.rdb.Pipeline()
	}
	k := len(m.claims)
	stripe := stripeOf(c.userID, k)
	cmd := m.pipe.HSetNX(m.ctx, stripeKeys(m.id, stripe, k).claimed, strconv.FormatInt(c.userID, 10), c.at.UnixMilli())
	if m.sent = append(m.sent, sentField{stripe, cmd}); len(m.sent) == rebuildChunk {
		m.err = m.flush()
	}
}

func (m *merger) flush() error {
	if m.err != nil || m.pipe == nil {
		return m.err
	}
	_, err := m.pipe.Exec(m.ctx)
	for _, f := range m.sent {
		if f.cmd.Val() {
			m.claims[f.stripe]++
		}
	}
	m.pipe, m.sent = nil, m.sent[:0]
	return err
}

// commitThenSync copies a committed change to Redis at once, on a context
// of its own (the admin's request may end first). When that fails the
// change stays pending and the background sync retries it; the campaign is
// returned as it is now.
func (s *Service) commitThenSync(ctx context.Context, c Campaign, why string) Campaign {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	err := s.locked(ctx, c.ID, adminLockWait, func(q *db.Queries, cur Campaign) error {
		err := s.syncLocked(ctx, q, &cur, why)
		if err == nil {
			c = cur
		}
		return err
	})
	if err != nil {
		s.log.Warn("campaign change not in Redis yet; the background sync retries it", "campaign", c.ID, "err", err)
	}
	return c
}

// flight is one restore in progress, which other claims of the campaign wait for.
type flight struct {
	done chan struct{}
	c    Campaign
	err  error
}

// restore brings back a campaign whose keys a claim found missing. One
// restore per campaign runs at a time in this process and one across
// instances (the row lock): a crowd arriving after Redis lost a campaign
// causes one rebuild, and claims that come meanwhile wait briefly for it or
// are told to try again. An unknown campaign answers errNoCampaign and
// touches nothing in Redis.
func (s *Service) restore(ctx context.Context, id int64) (Campaign, error) {
	f := &flight{done: make(chan struct{})}
	if v, running := s.restores.LoadOrStore(id, f); running {
		f = v.(*flight)
		select {
		case <-f.done:
			return f.c, f.err
		case <-time.After(restoreWait):
			return Campaign{}, errBusy
		case <-ctx.Done():
			return Campaign{}, ctx.Err()
		}
	}
	defer func() { s.restores.Delete(id); close(f.done) }()
	// Unknown campaigns and drafts are answered from a plain read: a claim
	// never takes the lock of a campaign an admin is still editing.
	if f.c, f.err = s.Get(ctx, id); f.err != nil || f.c.State == StateDraft {
		return f.c, f.err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	f.err = s.locked(rctx, id, claimLockWait, func(q *db.Queries, c Campaign) error {
		err := s.syncLocked(rctx, q, &c, "a claim found no keys in Redis")
		f.c = c
		return err
	})
	return f.c, f.err
}

// SyncOptions tune the background sync (SYNC_INTERVAL).
type SyncOptions struct {
	Interval time.Duration // how often Redis is compared with PostgreSQL
}

// RunSync keeps Redis in line with PostgreSQL until ctx ends: every
// interval it copies the changes Redis has not heard of, and compares every
// campaign past draft with Redis, syncing those that differ (keys lost to a
// FLUSHALL or a failover, a total a failed request left lower).
func (s *Service) RunSync(ctx context.Context) {
	t := time.NewTicker(s.opts.Sync.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.syncPass(ctx, syncLockWait, "background check"); err != nil && ctx.Err() == nil {
			s.log.Warn("coupon sync pass failed; it runs again", "err", err)
		}
	}
}

// SyncAll syncs every campaign past draft that differs from Redis, waiting
// its turn for each; serve calls it at start. It returns how many it synced.
func (s *Service) SyncAll(ctx context.Context) (int, error) {
	return s.syncPass(ctx, adminLockWait, "start")
}

// syncPass compares PostgreSQL and Redis in one query and one pipeline, and
// syncs (under the lock) the campaigns that are pending or differ.
func (s *Service) syncPass(ctx context.Context, wait time.Duration, why string) (int, error) {
	all, err := s.q.CampaignsInRedis(ctx)
	if err != nil {
		return 0, err
	}
	ids := make([]int64, len(all))
	stripes := make([]int, len(all))
	for i, c := range all {
		ids[i], stripes[i] = c.ID, max(int(c.Stripes), 1)
	}
	held, err := s.redisConfigs(ctx, ids, stripes)
	if err != nil {
		return 0, err
	}
	synced := 0
	var firstErr error
	for i, c := range all {
		h := held[i]
		if !c.Pending && h.Warm && h.Agree && h.State == c.State && h.Total == c.TotalQuantity &&
			h.adds(c.TotalQuantity) && h.Claimed >= c.PersistedCount {
			continue
		}
		if !c.Pending && stripes[i] > 1 {
			// A move between stripes may have been seen half-done: look again.
			if h, err = s.stripedConfig(ctx, c.ID, stripes[i], 0); err == nil && h.Warm && h.Agree && h.State == c.State &&
				h.Total == c.TotalQuantity && h.adds(c.TotalQuantity) && h.Claimed >= c.PersistedCount {
				continue
			}
		}
		synced++
		err := s.locked(ctx, c.ID, wait, func(q *db.Queries, c Campaign) error {
			return s.syncLocked(ctx, q, &c, why)
		})
		if err != nil && !errors.Is(err, errBusy) && firstErr == nil {
			firstErr = fmt.Errorf("sync campaign %d: %w", c.ID, err)
		}
	}
	return synced, firstErr
}

// heldConfig is what Redis holds of one campaign's configuration.
type heldConfig struct {
	Warm      bool // the meta and stock keys exist
	State     string
	Total     int64
	Claimed   int64
	Remaining int64
	// Striped campaigns (stripes.go): units moving between stripes, and
	// whether the stripes agree with each other (always true for one stripe).
	InTransit int64
	Agree     bool
}

// adds says whether the claims and the units left (and in transit) make the
// total, or, when more were claimed than the total (which claims cannot do,
// but an outage can leave), whether nothing is left: a campaign so is as
// settled as it can be, and syncing it again changes nothing.
func (h heldConfig) adds(total int64) bool {
	return h.Claimed+h.Remaining+h.InTransit == max(total, h.Claimed)
}

// redisConfigs reads the campaigns' configuration from Redis in one
// transaction (per slot on a Cluster), so that a claim lands before or after
// a campaign's reads, never between them.
// A striped campaign is read stripe by stripe (stripedConfig), and its moves
// left half-done for longer than moveGrace are finished on the way.
func (s *Service) redisConfigs(ctx context.Context, ids []int64, stripes []int) ([]heldConfig, error) {
	out := make([]heldConfig, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	all := make([]heldCmds, len(ids))
	pipe := s.rdb.TxPipeline()
	for i, id := range ids {
		if stripes[i] == 1 {
			all[i] = queueHeld(ctx, pipe, id)
		}
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range all {
		var h heldConfig
		var err error
		if stripes[i] == 1 {
			h, err = c.result()
		} else {
			h, err = s.stripedConfig(ctx, ids[i], stripes[i], moveGrace)
		}
		if err != nil {
			return nil, unavailable(err)
		}
		out[i] = h
	}
	return out, nil
}

// stripedConfig sums a striped campaign's stripes, after finishing the moves
// in transit for longer than grace.
func (s *Service) stripedConfig(ctx context.Context, id int64, k int, grace time.Duration) (heldConfig, error) {
	st, err := readStripes(ctx, s.rdb, id, k)
	if err != nil {
		return heldConfig{}, err
	}
	if n, err := s.finishMoves(ctx, id, st, grace); err != nil || n == 0 {
		return heldOfStripes(st), err
	}
	if st, err = readStripes(ctx, s.rdb, id, k); err != nil {
		return heldConfig{}, err
	}
	return heldOfStripes(st), nil
}

// firstErr is the first failure among commands, a missing key (redis.Nil) not being one.
func firstErr(cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// heldOf reads HMGET meta state total, GET stock and HLEN claimed.
func heldOf(meta []any, stock *redis.StringCmd, claimed int64) heldConfig {
	h := heldConfig{Claimed: claimed, Agree: true}
	if len(meta) == 2 {
		h.State, _ = meta[0].(string)
		t, _ := meta[1].(string)
		h.Total, _ = strconv.ParseInt(t, 10, 64)
	}
	n, err := stock.Int64()
	h.Warm = err == nil && h.State != ""
	h.Remaining = n
	return h
}
