package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/coupon"
)

// claimer is what the claims bench measures at the service level: the shop's
// *coupon.Service, or the row-lock baseline below, called side by side with
// the same shoppers at the same concurrency.
type claimer interface {
	Claim(ctx context.Context, campaignID, userID int64) (coupon.Outcome, error)
}

var _ claimer = (*coupon.Service)(nil)

// soldOutMemo is how long the baseline answers "sold out" from memory after
// seeing a campaign sold out. The shop asks Redis every time (so a holder
// hears already_claimed); the baseline keeps the shortcut a shop without
// Redis would take, to its advantage.
const soldOutMemo = 2 * time.Second

// rowLock is the baseline a shop without Redis would build, made as fast as
// it honestly can be: one guarded statement per claim (the campaign's row is
// locked for that statement only, in its implicit transaction), the coupon
// written at once, and a sold-out shortcut. Give it a pool of the
// size `serve` uses.
type rowLock struct {
	pool    *pgxpool.Pool
	soldOut sync.Map // campaign id → time.Time until which "sold out" is answered from memory
}

// claimRowLock locks the campaign's row only if it is claimable now (FOR
// UPDATE re-reads the row after waiting, so the stock test sees the last
// claim's count), inserts the coupon if stock is left, and counts it. A
// shopper who already holds one conflicts and counts nothing. The first
// column tells a missing campaign apart; stock_left is NULL when the
// campaign is not claimable, claimed_left NULL when nothing was claimed.
const claimRowLock = `
WITH c AS (
    SELECT id, valid_days, total_quantity - persisted_count AS stock_left
    FROM campaigns
    WHERE id = $1 AND state = 'active' AND starts_at <= now() AND now() < ends_at
    FOR UPDATE
), ins AS (
    INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at)
    SELECT id, $2, now(), now() + make_interval(days => valid_days) FROM c WHERE stock_left > 0
    ON CONFLICT (campaign_id, user_id) DO NOTHING
    RETURNING 1
), up AS (
    UPDATE campaigns SET persisted_count = persisted_count + 1
    WHERE id = $1 AND EXISTS (SELECT 1 FROM ins)
    RETURNING total_quantity - persisted_count AS claimed_left
)
SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1), (SELECT stock_left FROM c), (SELECT claimed_left FROM up)`

var errNoCampaign = errors.New("row-lock baseline: no such campaign")

// Claim answers as the shop does (coupon.Outcome), with one round trip to
// PostgreSQL, or none while the campaign is known to be sold out.
func (r *rowLock) Claim(ctx context.Context, campaignID, userID int64) (coupon.Outcome, error) {
	if until, ok := r.soldOut.Load(campaignID); ok && time.Now().Before(until.(time.Time)) {
		return coupon.Outcome{Result: coupon.SoldOut}, nil
	}
	var (
		found             bool
		stockLeft, remain *int64
	)
	if err := r.pool.QueryRow(ctx, claimRowLock, campaignID, userID).Scan(&found, &stockLeft, &remain); err != nil {
		return coupon.Outcome{}, err
	}
	switch {
	case !found:
		return coupon.Outcome{}, errNoCampaign
	case remain != nil:
		return coupon.Outcome{Result: coupon.Claimed, Remaining: *remain}, nil
	case stockLeft == nil:
		return coupon.Outcome{Result: coupon.NotActive}, nil
	case *stockLeft <= 0:
		r.soldOut.Store(campaignID, time.Now().Add(soldOutMemo))
		return coupon.Outcome{Result: coupon.SoldOut}, nil
	default:
		return coupon.Outcome{Result: coupon.AlreadyClaimed, Remaining: *stockLeft}, nil
	}
}
