package seed

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
)

// Campaign adds an active demo coupon campaign, open for a month, unless an
// active one exists. serve copies it into Redis at start, so a new user of
// `make run` can claim at once.
func Campaign(ctx context.Context, pool *pgxpool.Pool, out io.Writer) error {
	q := db.New(pool)
	live, err := q.ListCampaignsInStates(ctx, []string{"active"})
	if err != nil || len(live) > 0 {
		return err
	}
	maxOff := int64(5000)
	now := time.Now()
	c, err := q.CreateCampaign(ctx, db.CreateCampaignParams{
		Name: "Opening week: 10% off", DiscountType: "percent", DiscountValue: 10, MaxDiscount: &maxOff,
		MinOrderAmount: 20000, TotalQuantity: 1000, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(30 * 24 * time.Hour), ValidDays: 7, Stripes: 1,
	})
	if err != nil {
		return err
	}
	if _, err := q.SetCampaignState(ctx, db.SetCampaignStateParams{ID: c.ID, State: "active"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "campaign %q: active, %d coupons\n", c.Name, c.TotalQuantity)
	return nil
}
