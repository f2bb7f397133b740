package coupon

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/db"
)

// Status is a campaign as a shopper sees it (docs/HTTP.md, shoppers'
// campaign JSON). The claim script decides claims on Redis's clock; this
// decides what the page says and whether its button is on.
type Status string

const (
	Upcoming    Status = "upcoming" // active, its window not open yet
	Open        Status = "open"     // active, in its window, coupons left
	SoldOutSale Status = "sold_out" // active, in its window, none left
	Closed      Status = "closed"   // past its window, paused or ended
)

// How far shoppers see ahead and behind: campaigns opening within a week,
// and a closed one for an hour after its end, so that a shopper who comes
// back a minute late reads "Closed" rather than nothing.
const (
	upcomingShown = 7 * 24 * time.Hour
	closedShown   = time.Hour
)

// StatusAt is the one decision of a campaign's shopper-facing status at now,
// with remaining the coupons left. A paused campaign reads closed: nothing
// can be claimed, and it may never resume.
func StatusAt(c Campaign, remaining int64, now time.Time) Status {
	switch {
	case c.State != StateActive, !now.Before(c.EndsAt):
		return Closed
	case now.Before(c.StartsAt):
		return Upcoming
	case remaining <= 0:
		return SoldOutSale
	default:
		return Open
	}
}

// Sale is a campaign on the shoppers' pages.
type Sale struct {
	Campaign
	Remaining int64
	Status    Status
}

// Sales are what shoppers see, with the time they were decided at: open
// first, then upcoming by opening time, sold out, and recently closed.
type Sales struct {
	Now   time.Time
	Items []Sale
}

var statusOrder = map[Status]int{Open: 0, Upcoming: 1, SoldOutSale: 2, Closed: 3}

// Sales lists the campaigns shoppers see, their remaining counts read from
// Redis in one round trip. When Redis cannot answer, the counts are
// PostgreSQL's (the coupons persisted so far): the page still shows the
// sale, and the claim itself is decided in Redis anyway.
func (s *Service) Sales(ctx context.Context) (Sales, error) {
	now := s.opts.Now()
	cs, err := s.q.ListShopperCampaigns(ctx, db.ListShopperCampaignsParams{Since: now.Add(-closedShown), Until: now.Add(upcomingShown)})
	if err != nil {
		return Sales{}, err
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	left, err := s.remaining(ctx, ids)
	if err != nil {
		s.log.Warn("remaining counts from PostgreSQL: Redis did not answer", "err", err)
	}
	out := Sales{Now: now, Items: make([]Sale, len(cs))}
	for i, c := range cs {
		n, ok := left[c.ID]
		if !ok {
			n = c.TotalQuantity - c.PersistedCount
		}
		out.Items[i] = Sale{Campaign: c, Remaining: n, Status: StatusAt(c, n, now)}
	}
	slices.SortStableFunc(out.Items, func(a, b Sale) int {
		return cmp.Compare(statusOrder[a.Status], statusOrder[b.Status])
	})
	return out, nil
}

// remaining reads the stock left of each campaign in one pipeline; a
// campaign whose keys Redis does not hold is left out of the answer.
func (s *Service) remaining(ctx context.Context, ids []int64) (Counts, error) {
	out := make(Counts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// A striped campaign's remaining is the sum of its stripes' stock
	// (stripes.go); units moving between stripes are left out for that moment.
	stripes := s.stripesOfAll(ctx, ids)
	pipe := s.rdb.Pipeline()
	cmds := make([][]*redis.StringCmd, len(ids))
	for i, id := range ids {
		for stripe := range stripes[i] {
			cmds[i] = append(cmds[i], pipe.Get(ctx, stripeKeys(id, stripe, stripes[i]).stock))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return out, err
	}
	for i, id := range ids {
		sum, warm := int64(0), true
		for _, c := range cmds[i] {
			n, err := c.Int64()
			sum, warm = sum+max(n, 0), warm && err == nil
		}
		if warm {
			out[id] = sum
		}
	}
	return out, nil
}

// Remaining reads the campaigns' remaining coupons from Redis in one round
// trip (the live counts' poll); a campaign Redis does not hold is left out.
func (s *Service) Remaining(ctx context.Context, ids []int64) (Counts, error) {
	n, err := s.remaining(ctx, ids)
	if err != nil {
		return nil, unavailable(err)
	}
	return n, nil
}
