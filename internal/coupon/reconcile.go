package coupon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"market/internal/db"
	"market/internal/errs"
)

// RedisState is one campaign's side in Redis, read in one atomic step
// (MULTI/EXEC) for the consistency report.
type RedisState struct {
	CampaignID int64
	Warm       bool   // the meta and stock keys exist
	State      string // the state claims are answered with ("" when not warm)
	Total      int64  // the total the stock was counted from
	Claimed    int64  // shoppers in the claimed hash (hashes, of a striped campaign)
	Remaining  int64  // the stock counter (the stripes' stock and the units moving between them)
	Pending    int64  // stream entries not yet persisted
	// StreamUsers are the shoppers in the pending entries (at most
	// maxStreamRead), so the report can tell which of them the flusher has
	// written meanwhile.
	StreamUsers []int64
}

// maxStreamRead bounds how many pending entries one report reads per campaign.
const maxStreamRead = 200_000

// RedisStates snapshots the campaigns' counters: one pipeline, with each
// campaign's reads in a MULTI so that its claimed, stock and stream agree
// with each other (a claim is one Lua script, so it is before or after).
func (s *Service) RedisStates(ctx context.Context, ids []int64) ([]RedisState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	type cmds struct {
		held heldCmds
		xl   *redis.IntCmd
		xr   *redis.XMessageSliceCmd
	}
	// One transaction per campaign: in a Cluster each campaign lives in its
	// own slot, and a MULTI cannot span slots.
	all := make([]cmds, len(ids))
	stripes := s.stripesOfAll(ctx, ids)
	out := make([]RedisState, len(ids))
	for i, id := range ids {
		if stripes[i] > 1 {
			st, err := s.stripedState(ctx, id, stripes[i])
			if err != nil {
				return nil, unavailable(err)
			}
			out[i] = st
			continue
		}
		k := keysOf(id)
		_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			all[i] = cmds{held: queueHeld(ctx, p, id), xl: p.XLen(ctx, k.claims), xr: p.XRangeN(ctx, k.claims, "-", "+", maxStreamRead)}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
	}
	for i, id := range ids {
		if stripes[i] > 1 {
			continue
		}
		c := all[i]
		h, err := c.held.result()
		if err != nil {
			return nil, unavailable(err)
		}
		st := RedisState{CampaignID: id, Warm: h.Warm, State: h.State, Total: h.Total, Claimed: h.Claimed, Remaining: h.Remaining, Pending: c.xl.Val()}
		for _, m := range c.xr.Val() {
			if e, err := parseEntry(m); err == nil {
				st.StreamUsers = append(st.StreamUsers, e.userID)
			}
		}
		out[i] = st
	}
	return out, nil
}

// stripedState is RedisStates for a striped campaign, summed over its
// stripes. The stripes are not read atomically together, so a snapshot
// taken while a move was half-seen is taken again (a few times at most):
// the report should show drift, not a move in flight.
func (s *Service) stripedState(ctx context.Context, id int64, k int) (RedisState, error) {
	var st []stripeState
	var h heldConfig
	for try := 0; try < 5; try++ {
		var err error
		if st, err = readStripes(ctx, s.rdb, id, k); err != nil {
			return RedisState{}, err
		}
		if h = heldOfStripes(st); h.adds(h.Total) && h.Agree {
			break
		}
		time.Sleep(borrowSettle)
	}
	out := RedisState{CampaignID: id, Warm: h.Warm, State: h.State, Total: h.Total, Claimed: h.Claimed, Remaining: h.Remaining + h.InTransit}
	for stripe, x := range st {
		out.Pending += x.pending
		if x.pending == 0 {
			continue
		}
		entries, err := s.rdb.XRangeN(ctx, stripeKeys(id, stripe, k).claims, "-", "+", maxStreamRead).Result()
		if err != nil {
			return RedisState{}, err
		}
		for _, m := range entries {
			if e, err := parseEntry(m); err == nil {
				out.StreamUsers = append(out.StreamUsers, e.userID)
			}
		}
	}
	return out, nil
}

// Rebuilt is what a repair of one campaign did.
type Rebuilt struct {
	Campaign  Campaign
	Persisted int64 // claims held in Redis that PostgreSQL had lost, written back
	Claimed   int64 // after the repair, in Redis
	Remaining int64
}

// Rebuild repairs one campaign both ways, under its lock, and is safe to run
// twice or while claims are served:
//  1. claims in Redis's claimed hash that are neither pending in the stream,
//     nor in PostgreSQL, nor dead letters are written through the flusher's
//     idempotent insert (the shopper was told "claimed"; Redis is the record
//     of claims until they are flushed, as SyncUser also assumes);
//  2. the Redis keys are rebuilt from PostgreSQL, the stream and the dead
//     letters, and hold PostgreSQL's state and total.
func (s *Service) Rebuild(ctx context.Context, campaignID int64, reason string) (Rebuilt, error) {
	// A rebuild once started runs to its end: the admin's request may not wait for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	r := Rebuilt{}
	err := s.locked(ctx, campaignID, adminLockWait, func(q *db.Queries, c Campaign) error {
		if c.State == StateDraft {
			return errs.New(errs.Conflict, "Campaign %d is a draft: it has nothing in Redis to repair.", campaignID)
		}
		lost, err := s.lostClaims(ctx, q, c)
		if err != nil {
			return err
		}
		if len(lost) > 0 {
			if r.Persisted, err = insertClaims(ctx, q, campaignID, nil, lost); err != nil { // under the lock: no rebuild meanwhile
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) {
					// Data the insert refuses (a shopper who no longer exists, more
					// than the total): shown to the admin, nothing written.
					return errs.New(errs.Conflict, "Redis holds %d claims PostgreSQL lacks, and they cannot be written back: %s", len(lost), pgErr.Message)
				}
				return fmt.Errorf("write back %d claims PostgreSQL lacked: %w", len(lost), err)
			}
			c.PersistedCount += r.Persisted
		}
		r.Campaign = c
		return s.rebuildLocked(ctx, q, c, reason)
	})
	if err != nil {
		return Rebuilt{}, err
	}
	st, err := s.RedisStates(ctx, []int64{campaignID})
	if err != nil {
		return Rebuilt{}, err
	}
	r.Claimed, r.Remaining = st[0].Claimed, st[0].Remaining
	return r, nil
}

// lostClaims are the claims in Redis's claimed hash that are in none of the
// stream, PostgreSQL and the dead letters.
func (s *Service) lostClaims(ctx context.Context, q *db.Queries, c Campaign) ([]claimEntry, error) {
	campaignID := c.ID
	hash := map[string]string{}
	known := make(map[int64]bool)
	for stripe := range stripeCount(c) {
		k := stripeKeys(campaignID, stripe, stripeCount(c))
		var h *redis.MapStringStringCmd
		var stream *redis.XMessageSliceCmd
		// Hash and stream of a stripe in one MULTI: a claim is in both or in
		// neither, and an entry missing from the stream was persisted before
		// it was deleted.
		if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			h = p.HGetAll(ctx, k.claimed)
			stream = p.XRange(ctx, k.claims, "-", "+")
			return nil
		}); err != nil {
			return nil, unavailable(err)
		}
		for member, at := range h.Val() {
			hash[member] = at
		}
		for _, m := range stream.Val() {
			if e, err := parseEntry(m); err == nil {
				known[e.userID] = true
			}
		}
	}
	rows, err := q.CampaignUserIDs(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		known[r.UserID] = true
	}
	letters, err := q.CampaignDeadLetterPayloads(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	for _, p := range letters {
		if e, err := parsePayload(p); err == nil {
			known[e.userID] = true
		}
	}
	var lost []claimEntry
	for member, at := range hash {
		uid, err1 := strconv.ParseInt(member, 10, 64)
		ms, err2 := strconv.ParseInt(at, 10, 64)
		if err1 != nil || err2 != nil || uid <= 0 || known[uid] {
			continue
		}
		lost = append(lost, claimEntry{userID: uid, at: time.UnixMilli(ms)})
	}
	return lost, nil
}

// Redriven is what a re-drive of dead letters did.
type Redriven struct {
	Tried     int   // unresolved dead letters found
	Persisted int64 // coupons written (0 for those already in PostgreSQL)
	Resolved  int64 // dead letters marked re-driven
	Failed    int   // still failing (left unresolved)
}

// RedriveDeadLetters sends dead-lettered claims (of one campaign, or of all
// when campaignID is 0) through the flusher's idempotent insert again, and
// marks each re-driven in the same transaction. Safe to run twice: the second
// run finds nothing unresolved, and an insert of a coupon that exists is a no-op.
func (s *Service) RedriveDeadLetters(ctx context.Context, campaignID int64) (Redriven, error) {
	if campaignID != 0 {
		if _, err := s.Get(ctx, campaignID); err != nil {
			return Redriven{}, err
		}
	}
	rows, err := s.q.UnresolvedDeadLetters(ctx, campaignID)
	if err != nil {
		return Redriven{}, err
	}
	var out Redriven
	out.Tried = len(rows)
	for _, d := range rows {
		e, err := parsePayload(d.Payload)
		if err != nil {
			out.Failed++
			s.log.Warn("dead letter cannot be re-driven", "id", d.ID, "campaign", d.CampaignID, "err", err)
			continue
		}
		err = db.WithTx(ctx, s.pool, func(q *db.Queries) error {
			n, err := q.InsertClaims(ctx, db.InsertClaimsParams{CampaignID: d.CampaignID, UserIds: []int64{e.userID}, ClaimedAts: []time.Time{e.at}})
			if err != nil {
				return err
			}
			m, err := q.ResolveDeadLetters(ctx, []int64{d.ID})
			out.Persisted += n
			out.Resolved += m
			return err
		})
		if err != nil {
			out.Failed++
			s.log.Warn("dead letter failed again", "id", d.ID, "campaign", d.CampaignID, "err", err)
		}
	}
	return out, nil
}

// parsePayload reads a dead letter's payload, the stream entry's fields as
// the flusher stored them: fmt.Sprint of the map, "map[at:1700000000000 user:42]".
func parsePayload(p string) (claimEntry, error) {
	inner, ok := strings.CutPrefix(p, "map[")
	inner, ok2 := strings.CutSuffix(inner, "]")
	if !ok || !ok2 {
		return claimEntry{}, fmt.Errorf("unreadable payload %q", p)
	}
	values := map[string]any{}
	for _, f := range strings.Fields(inner) {
		k, v, _ := strings.Cut(f, ":")
		values[k] = v
	}
	return parseEntry(redis.XMessage{ID: "dead-letter", Values: values})
}
