package coupon

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// claimBatched runs claim.lua for one shopper in the next pipeline
// (redisdb.Pipe): under a storm one round trip carries many claims, and each
// is still its own script call, so the answers are exactly those of
// claim.lua called one by one.
func (s *Service) claimBatched(ctx context.Context, campaignID int64, k, stripe int, userID int64) (Outcome, error) {
	keys := stripeKeys(campaignID, stripe, k).forClaim()
	var cmd *redis.Cmd
	if err := s.claims.Do(ctx, func(p redis.Pipeliner) { cmd = claimScript.EvalSha(context.Background(), p, keys, userID, k) }); err != nil {
		return Outcome{}, err
	}
	if isNoScript(cmd.Err()) {
		// A Redis that restarted (or a cluster node new to this script) has an
		// empty script cache: EVAL loads it. NOSCRIPT means the script did not
		// run, so running it now claims nothing twice.
		cmd = claimScript.Eval(ctx, s.rdb, keys, userID, k)
	}
	v, err := cmd.Slice()
	if err != nil {
		return Outcome{}, err
	}
	return pairOf(v)
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
