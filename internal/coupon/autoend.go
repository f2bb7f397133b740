package coupon

import (
	"context"
	"time"

	"market/internal/errs"
)

// autoEndLock is the advisory lock that keeps an auto-end pass to one
// instance at a time (internal/consistency holds 7_401_001).
const autoEndLock = 7_401_002

// AutoEndEvery is how often serve looks for campaigns whose window is over:
// one indexed query a second, so an admin list is stale for a second at most.
const AutoEndEvery = time.Second

// RunAutoEnd ends, every interval until ctx ends, the campaigns whose claim
// window is over, so that no list shows a stale "active". Every instance
// runs it; the one holding the advisory lock does the pass.
func (s *Service) RunAutoEnd(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, _, err := s.EndOverdue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("auto-end pass failed; it runs again", "err", err)
		} else if n > 0 {
			s.log.Info("campaigns ended at the close of their window", "campaigns", n)
		}
	}
}

// EndOverdue ends every active or paused campaign whose window is over (on
// the service's clock) through the admin's End: the same transition, the
// same copy to Redis. It reports how many it ended and whether this
// instance held the lock (false: another instance is doing the pass).
func (s *Service) EndOverdue(ctx context.Context) (int, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Release()
	var leader bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", autoEndLock).Scan(&leader); err != nil || !leader {
		return 0, false, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", autoEndLock) //nolint:errcheck
	ids, err := s.q.OverdueCampaigns(ctx, s.opts.Now())
	if err != nil {
		return 0, true, err
	}
	ended := 0
	for _, id := range ids {
		_, err := s.transition(ctx, id, "end", "the claim window closed", false)
		switch {
		case err == nil:
			ended++
			s.m.autoEnded.Inc()
		case errs.Is(err, errs.Conflict):
			// An admin ended it meanwhile.
		default:
			return ended, true, err
		}
	}
	return ended, true, nil
}
