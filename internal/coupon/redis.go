package coupon

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// keys are one stripe's Redis keys (stripes.go). They share one hash tag,
// so a stripe lives in one Cluster slot and its scripts touch one node.
// out and in record moves between stripes (a campaign of one stripe has none).
type keys struct {
	meta, stock, claimed, claims, out string
}

// keysOf are an unstriped campaign's keys, and stripe 0's of a striped one.
func keysOf(campaignID int64) keys { return stripeKeys(campaignID, 0, 1) }

// forClaim is claim.lua's KEYS, in its order.
func (k keys) forClaim() []string { return []string{k.meta, k.stock, k.claimed, k.claims} }

// group is the flusher's consumer group on every campaign's claims stream.
const group = "flusher"

var (
	//go:embed claim.lua
	claimSrc string
	//go:embed apply.lua
	applySrc string

	// EVALSHA first, EVAL on NOSCRIPT (redis.Script.Run, and the claim
	// batcher for its pipelines), so a Redis that restarted with an empty
	// script cache costs one extra round trip.
	claimScript = redis.NewScript(claimSrc)
	applyScript = redis.NewScript(applySrc)
)

// Result is what a claim came to: the claim answer's "result" (docs/HTTP.md).
type Result string

const (
	Claimed        Result = "claimed"
	AlreadyClaimed Result = "already_claimed"
	SoldOut        Result = "sold_out"
	NotActive      Result = "not_active"
	// missing is internal: the campaign's keys are not in Redis.
	missing Result = "missing"
	// wrongStripes is internal: the claim named another number of stripes
	// than the campaign has (its remaining is the campaign's).
	wrongStripes Result = "stripes"
)

// Outcome is a claim's result and the stock left after it.
type Outcome struct {
	Result    Result
	Remaining int64
}

func pairOf(v []any) (Outcome, error) {
	if len(v) != 2 {
		return Outcome{}, fmt.Errorf("coupon script: unexpected reply %v", v)
	}
	s, ok1 := v[0].(string)
	n, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return Outcome{}, fmt.Errorf("coupon script: unexpected reply %v", v)
	}
	return Outcome{Result: Result(s), Remaining: n}, nil
}

// liveStats reads a campaign's counters and configuration from Redis, and
// the stream entries not yet persisted (acknowledged entries are deleted).
func liveStats(ctx context.Context, rdb redis.UniversalClient, campaignID int64, stripes int) (heldConfig, int64, error) {
	if stripes > 1 {
		st, err := readStripes(ctx, rdb, campaignID, stripes)
		if err != nil {
			return heldConfig{}, 0, err
		}
		h, pending := heldOfStripes(st), int64(0)
		for _, x := range st {
			pending += x.pending
		}
		h.Remaining += h.InTransit // stock still, between two stripes
		return h, pending, nil
	}
	pipe := rdb.TxPipeline()
	held := queueHeld(ctx, pipe, campaignID)
	xl := pipe.XLen(ctx, keysOf(campaignID).claims)
	_, _ = pipe.Exec(ctx)
	h, err := held.result()
	if err == nil {
		err = firstErr(xl)
	}
	return h, xl.Val(), err
}

// heldCmds read what Redis holds of one campaign's configuration.
type heldCmds struct {
	meta  *redis.SliceCmd
	stock *redis.StringCmd
	hl    *redis.IntCmd
}

// queueHeld queues the reads in p (a transaction, so that they agree).
func queueHeld(ctx context.Context, p redis.Pipeliner, campaignID int64) heldCmds {
	k := keysOf(campaignID)
	return heldCmds{meta: p.HMGet(ctx, k.meta, "state", "total"), stock: p.Get(ctx, k.stock), hl: p.HLen(ctx, k.claimed)}
}

func (c heldCmds) result() (heldConfig, error) {
	if err := firstErr(c.meta, c.stock, c.hl); err != nil {
		return heldConfig{}, err
	}
	return heldOf(c.meta.Val(), c.stock, c.hl.Val()), nil
}

// MetaKey is the key that holds a campaign in Redis: the waiting room
// (internal/room) engages only for a campaign Redis holds, and its keys share
// this key's hash tag so that its script runs on the campaign's node.
func MetaKey(campaignID int64) string { return keysOf(campaignID).meta }
