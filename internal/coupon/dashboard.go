package coupon

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/db"
	"market/internal/series"
)

// The claims chart: 60 buckets of 10 seconds, the last ten minutes.
const (
	ClaimStep    = 10 * time.Second
	ClaimBuckets = 60
)

// Dashboard is the coupons' share of the admin dashboard.
type Dashboard struct {
	Campaigns []Live         // active and paused campaigns, counters from Redis
	Claims    []series.Point // claims per ClaimStep, oldest first
	WriteBack WriteBack
}

// WriteBack is the flusher's state over the campaigns it reads.
type WriteBack struct {
	Flushed       int64         // claims persisted to PostgreSQL
	Pending       int64         // stream entries not yet persisted
	OldestPending time.Duration // age of the oldest of them; 0 when none
	DeadLetters   int64         // claims the flusher gave up on, not yet resolved
}

// Dashboard reads the live campaigns, the claims of the last ten minutes and
// the write-back state: three queries and one Redis pipeline.
func (s *Service) Dashboard(ctx context.Context, now time.Time) (Dashboard, error) {
	var d Dashboard
	shown, err := s.q.ListCampaignsInStates(ctx, []string{StateActive, StatePaused})
	if err != nil {
		return d, err
	}
	flushable, err := s.q.FlushableCampaignsPersisted(ctx)
	if err != nil {
		return d, err
	}
	if d.WriteBack.DeadLetters, err = s.q.CountDeadLetters(ctx); err != nil {
		return d, err
	}
	// Claims per bucket come from coupons.claimed_at in PostgreSQL, not from
	// the stream: the flusher deletes entries once persisted, so the stream
	// holds only the backlog, while claimed_at is the time of the claim in
	// Redis (carried in the entry). The backlog is counted into the newest
	// bucket: it is at most a few flush intervals old while the flusher keeps
	// up, and once flushed it moves to the bucket of its real time. (An entry
	// is briefly in both places between the commit and its XDEL, and a
	// coupon SyncUser persisted early stays in the stream until the flusher
	// acknowledges it, so "now" can run a little high for a moment.)
	w := series.Last(now, ClaimStep, ClaimBuckets)
	rows, err := s.q.ClaimsPerBucket(ctx, db.ClaimsPerBucketParams{StepSeconds: int32(ClaimStep / time.Second), Since: w.Since, Until: w.Until})
	if err != nil {
		return d, err
	}
	starts, counts := make([]time.Time, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		starts[i], counts[i] = r.Bucket, r.Claims
	}
	d.Claims = w.Fill(starts, counts)

	return d, s.dashboardCounters(ctx, &d, shown, flushable, now)
}

// dashboardCounters reads every shown campaign's counters and every
// flushable one's backlog in one round trip. A striped campaign's figures
// are the sums over its stripes (stripes.go).
func (s *Service) dashboardCounters(ctx context.Context, d *Dashboard, shown []Campaign, flushable []db.FlushableCampaignsPersistedRow, now time.Time) error {
	pipe := s.rdb.Pipeline()
	type backlogCmds struct {
		length []*redis.IntCmd
		first  []*redis.XMessageSliceCmd
	}
	lives := make([][]heldCmds, len(shown)) // a campaign's stripes
	for i, c := range shown {
		for stripe := range stripeCount(c) {
			k := stripeKeys(c.ID, stripe, stripeCount(c))
			lives[i] = append(lives[i], heldCmds{meta: pipe.HMGet(ctx, k.meta, "state", "total"), stock: pipe.Get(ctx, k.stock), hl: pipe.HLen(ctx, k.claimed)})
		}
	}
	backlogs := make([]backlogCmds, len(flushable))
	for i, c := range flushable {
		k, _ := s.stripesOf(ctx, c.ID)
		for stripe := range max(k, 1) {
			sk := stripeKeys(c.ID, stripe, max(k, 1))
			backlogs[i].length = append(backlogs[i].length, pipe.XLen(ctx, sk.claims))
			backlogs[i].first = append(backlogs[i].first, pipe.XRangeN(ctx, sk.claims, "-", "+", 1))
		}
	}
	if len(shown)+len(flushable) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return unavailable(err)
		}
	}
	pendingOf := make(map[int64]int64, len(flushable))
	for i, c := range flushable {
		var n int64
		for j, length := range backlogs[i].length {
			n += length.Val()
			if first := backlogs[i].first[j].Val(); length.Val() > 0 && len(first) == 1 {
				d.WriteBack.OldestPending = max(d.WriteBack.OldestPending, now.Sub(streamTime(first[0].ID)))
			}
		}
		pendingOf[c.ID] = n
		d.WriteBack.Flushed += c.PersistedCount
		d.WriteBack.Pending += n
	}
	if len(d.Claims) > 0 {
		d.Claims[len(d.Claims)-1].Value += d.WriteBack.Pending
	}
	d.Campaigns = make([]Live, len(shown))
	for i, c := range shown {
		l := Live{Campaign: c, Claimed: c.PersistedCount, Remaining: c.TotalQuantity - c.PersistedCount}
		warm, claimed, remaining := true, int64(0), int64(0)
		var first heldConfig // every stripe holds the campaign's state and total
		for j, cmds := range lives[i] {
			h := heldOf(cmds.meta.Val(), cmds.stock, cmds.hl.Val())
			if j == 0 {
				first = h
			}
			warm = warm && h.Warm
			claimed, remaining = claimed+h.Claimed, remaining+h.Remaining
		}
		if warm {
			l.Claimed, l.Remaining, l.Pending, l.Warm = claimed, remaining, pendingOf[c.ID], true
			l.RedisState, l.RedisTotal = first.State, first.Total
		}
		d.Campaigns[i] = l
	}
	return nil
}
