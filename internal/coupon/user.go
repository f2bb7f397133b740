package coupon

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// SyncUser persists, at once, every claim this shopper holds in Redis for a
// campaign (live, or ended in the last week) that the flusher has not written yet, through the same
// idempotent insert (so persisted_count grows exactly once per coupon). The
// checkout calls it so that a coupon claimed a second ago can be used.
func (s *Service) SyncUser(ctx context.Context, userID int64) error {
	rows, err := s.q.UnsyncedCampaignsForUser(ctx, userID)
	if err != nil || len(rows) == 0 {
		return err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	member := strconv.FormatInt(userID, 10)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	stripes := s.stripesOfAll(ctx, ids)
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, stripeKeys(id, stripeOf(userID, stripes[i]), stripes[i]).claimed, member)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return unavailable(err)
	}
	for i, r := range rows {
		ms, err := cmds[i].Int64()
		if err != nil {
			continue // no claim in this campaign
		}
		_, err = s.insert(ctx, r.ID, &r.RedisEpoch, []claimEntry{{userID: userID, at: time.UnixMilli(ms)}})
		if errors.Is(err, errStaleEpoch) || permanent(err) {
			// Rebuilt meanwhile, or refused as data: the flusher persists or
			// dead-letters the claim; the shopper's page goes on without it.
			s.log.Warn("a shopper's claim not persisted at once", "user", userID, "campaign", r.ID, "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Coupon statuses as shoppers see them.
const (
	StatusIssued  = "issued"
	StatusUsed    = "used"
	StatusExpired = "expired"
)

// UserCoupon is one of a shopper's coupons.
type UserCoupon struct {
	ID           int64
	CampaignID   int64
	CampaignName string
	Discount     Discount
	DiscountText string
	Status       string // issued | used | expired
	ClaimedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       *time.Time
	OrderID      *int64
}

// ListForUser returns the shopper's persisted coupons, newest first, after
// persisting any claim still waiting in Redis (SyncUser).
func (s *Service) ListForUser(ctx context.Context, userID int64) ([]UserCoupon, error) {
	if err := s.SyncUser(ctx, userID); err != nil {
		// The list still shows what PostgreSQL has; the flusher catches up.
		s.log.Warn("sync a shopper's claims", "user", userID, "err", err)
	}
	rows, err := s.q.ListUserCoupons(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]UserCoupon, len(rows))
	for i, r := range rows {
		d := Discount{Type: r.DiscountType, Value: r.DiscountValue, MaxDiscount: r.MaxDiscount, MinOrderAmount: r.MinOrderAmount}
		status := r.Status
		if status == StatusIssued && !now.Before(r.ExpiresAt) {
			status = StatusExpired
		}
		out[i] = UserCoupon{ID: r.ID, CampaignID: r.CampaignID, CampaignName: r.CampaignName, Discount: d, DiscountText: d.Text(),
			Status: status, ClaimedAt: r.ClaimedAt, ExpiresAt: r.ExpiresAt, UsedAt: r.UsedAt, OrderID: r.OrderID}
	}
	return out, nil
}
