package coupon

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"market/internal/errs"
	"market/internal/redisdb"
)

// errUnconfirmed answers a claim that ran in its Redis primary but that no
// replica acknowledged in time (Options.Wait). Answering "claimed" would be a
// promise a failover right now could break (the replica promoted without
// it), so the shopper is asked to try again: the claim is still in the
// primary and its stream, so a retry answers "already claimed" (the coupon is
// theirs), and should it be lost with the primary, a retry claims anew.
var errUnconfirmed = errs.New(errs.Unavailable, "We could not confirm your coupon just now. Please press Claim again: if it was issued, it shows as yours.")

// claimBatched runs claim.lua for one shopper in the next pipeline
// (redisdb.Pipe): under a storm one round trip carries many claims, and each
// is still its own script call, so the answers are exactly those of
// claim.lua called one by one.
func (s *Service) claimBatched(ctx context.Context, campaignID int64, k, stripe int, userID int64) (Outcome, error) {
	keys := stripeKeys(campaignID, stripe, k).forClaim()
	pipe, err := s.claimPipe(ctx, keys[0])
	if err != nil {
		return Outcome{}, err
	}
	run := func(load bool) (*redis.Cmd, error) {
		var cmd *redis.Cmd
		err := pipe.Do(ctx, func(p redis.Pipeliner) {
			if load {
				cmd = claimScript.Eval(context.Background(), p, keys, userID, k)
			} else {
				cmd = claimScript.EvalSha(context.Background(), p, keys, userID, k)
			}
		})
		if err != nil && !errors.Is(err, redisdb.ErrNotReplicated) {
			return nil, err // never sent, or its caller gave up
		}
		return cmd, err
	}
	cmd, short := run(false)
	if cmd != nil && isNoScript(cmd.Err()) {
		// A Redis that restarted (or a cluster node new to this script) has an
		// empty script cache: EVAL loads it. NOSCRIPT means the script did not
		// run, so running it now claims nothing twice.
		cmd, short = run(true)
	}
	if cmd == nil {
		return Outcome{}, short
	}
	v, err := cmd.Slice()
	if err != nil {
		s.nodeFailed()
		return Outcome{}, err
	}
	o, err := pairOf(v)
	if err == nil && short != nil && o.Result == Claimed {
		return Outcome{}, &wrapped{errUnconfirmed, short}
	}
	return o, err
}

// claimPipe is the pipeline a campaign's claims go through. Without WAIT,
// the one shared pipe (a Cluster client splits it by slot). With WAIT, the
// pipe of the primary that holds the campaign's slot: WAIT must follow the
// claims on their own connection, and a Cluster client would route the
// keyless WAIT to any node.
func (s *Service) claimPipe(ctx context.Context, key string) (*redisdb.Pipe, error) {
	if s.opts.Wait.Replicas == 0 {
		return s.claims, nil
	}
	var node *redis.Client
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		node = n
	case *redis.Client:
		node = c
	default:
		return nil, fmt.Errorf("coupon: waiting for replicas needs a node or Cluster client, not %T", s.rdb)
	}
	// By client, not address: a node the Cluster client replaced gets a new pipe.
	if p, ok := s.waitPipes.Load(node); ok {
		return p.(*redisdb.Pipe), nil
	}
	batch := s.m.claimBatch
	p, _ := s.waitPipes.LoadOrStore(node, redisdb.NewWaitPipe(redisdb.WithoutRetries(node).(*redis.Client), s.opts.Wait, func(n int) { batch.Observe(float64(n)) }))
	return p.(*redisdb.Pipe), nil
}

// nodeFailed has a Cluster client look up the slots' primaries again soon: a
// claim sent straight to a primary (claimPipe) does not follow MOVED or a
// failover by itself, so until then it would keep reaching the old one.
func (s *Service) nodeFailed() {
	if c, ok := s.rdb.(*redis.ClusterClient); ok && s.opts.Wait.Replicas > 0 {
		c.ReloadState(context.Background())
	}
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
