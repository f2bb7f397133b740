package coupon

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// keys are one campaign's Redis keys. They share the hash tag {id}, so a
// campaign lives in one Cluster slot and its scripts touch one node.
type keys struct {
	meta, stock, claimed, claims string
}

func keysOf(campaignID int64) keys {
	p := "coupon:{" + strconv.FormatInt(campaignID, 10) + "}:"
	return keys{meta: p + "meta", stock: p + "stock", claimed: p + "claimed", claims: p + "claims"}
}

// forClaim is claim.lua's KEYS, in its order.
func (k keys) forClaim() []string { return []string{k.meta, k.stock, k.claimed, k.claims} }

// group is the flusher's consumer group on every campaign's claims stream.
const group = "flusher"

var (
	//go:embed claim.lua
	claimSrc string
	//go:embed warm.lua
	warmSrc string
	//go:embed resize.lua
	resizeSrc string

	// EVALSHA first, EVAL on NOSCRIPT (redis.Script.Run, and the claim
	// batcher for its pipelines), so a Redis that restarted with an empty
	// script cache costs one extra round trip.
	claimScript  = redis.NewScript(claimSrc)
	warmScript   = redis.NewScript(warmSrc)
	resizeScript = redis.NewScript(resizeSrc)
)

// Result is what a claim came to (SPEC 5's "result").
type Result string

const (
	Claimed        Result = "claimed"
	AlreadyClaimed Result = "already_claimed"
	SoldOut        Result = "sold_out"
	NotActive      Result = "not_active"
	// missing is internal: the campaign's keys are not in Redis.
	missing Result = "missing"
)

// Outcome is a claim's result and the stock left after it.
type Outcome struct {
	Result    Result
	Remaining int64
}

// runWarm calls warm.lua with the claims known elsewhere (user → claimed at).
func runWarm(ctx context.Context, rdb redis.Scripter, c Campaign, claims map[int64]time.Time) (claimed, remaining int64, err error) {
	k := keysOf(c.ID)
	args := make([]any, 0, 4+2*len(claims))
	args = append(args, c.State, c.StartsAt.UnixMilli(), c.EndsAt.UnixMilli(), c.TotalQuantity)
	for u, at := range claims {
		args = append(args, u, at.UnixMilli())
	}
	v, err := warmScript.Run(ctx, rdb, []string{k.meta, k.stock, k.claimed}, args...).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("warm.lua: unexpected reply %v", v)
	}
	return v[0], v[1], nil
}

// runResize calls resize.lua: status is "ok", "below_claimed" or "missing".
func runResize(ctx context.Context, rdb redis.Scripter, campaignID, total int64) (string, int64, error) {
	k := keysOf(campaignID)
	v, err := resizeScript.Run(ctx, rdb, []string{k.meta, k.stock, k.claimed}, total).Slice()
	if err != nil {
		return "", 0, err
	}
	o, err := pairOf(v)
	return string(o.Result), o.Remaining, err
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

// liveStats reads a campaign's counters from Redis: claimed shoppers, stock
// left, and stream entries not yet persisted (acknowledged entries are deleted).
func liveStats(ctx context.Context, rdb redis.UniversalClient, campaignID int64) (claimed, remaining, pending int64, warm bool, err error) {
	k := keysOf(campaignID)
	pipe := rdb.Pipeline()
	hl := pipe.HLen(ctx, k.claimed)
	st := pipe.Get(ctx, k.stock)
	xl := pipe.XLen(ctx, k.claims)
	_, err = pipe.Exec(ctx)
	if err != nil && err != redis.Nil {
		return 0, 0, 0, false, err
	}
	remaining, serr := st.Int64()
	return hl.Val(), remaining, xl.Val(), serr == nil, nil
}
