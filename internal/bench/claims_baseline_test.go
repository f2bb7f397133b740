package bench

import (
	"fmt"
	"sync"
	"testing"

	"market/internal/coupon"
	"market/internal/testenv"
)

// The row-lock baseline answers as the shop does: a crowd with repeat
// claims gets exactly the stock, one coupon per shopper, persisted_count
// matching the coupons; then sold out, and not active once paused.
func TestTheRowLockBaselineIssuesExactlyTheStockOncePerShopper(t *testing.T) {
	ctx := t.Context()
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	made := &benchCampaigns{svc: coupon.NewService(pool, rdb, coupon.Options{})}
	const stock, shoppers = 40, 120
	var users []int64
	rows, err := pool.Query(ctx, `INSERT INTO users (email, password_hash, name)
		SELECT 'row-lock-' || g || '@example.test', '!', 'Shopper' FROM generate_series(1, $1::int) g RETURNING id`, shoppers)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		users = append(users, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	id, err := made.open(ctx, "Row lock", stock)
	if err != nil {
		t.Fatal(err)
	}
	c := &rowLock{pool: pool}
	var (
		mu     sync.Mutex
		counts = map[coupon.Result]int{}
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i := range 2 * shoppers { // every shopper twice
		wg.Go(func() {
			<-start
			o, err := c.Claim(ctx, id, users[i%shoppers])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			counts[o.Result]++
		})
	}
	close(start)
	wg.Wait()
	var coupons, distinct, persisted int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT user_id), (SELECT persisted_count FROM campaigns WHERE id = $1)
		FROM coupons WHERE campaign_id = $1`, id).Scan(&coupons, &distinct, &persisted); err != nil {
		t.Fatal(err)
	}
	if counts[coupon.Claimed] != stock || coupons != stock || distinct != stock || persisted != stock {
		t.Fatalf("answers %v; %d coupons for %d shoppers, persisted_count %d; want %d of each", counts, coupons, distinct, persisted, stock)
	}
	if counts[coupon.Claimed]+counts[coupon.AlreadyClaimed]+counts[coupon.SoldOut] != 2*shoppers {
		t.Fatalf("answers %v: not every claim was claimed, already claimed or sold out", counts)
	}
	other, err := made.open(ctx, "Row lock paused", stock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := made.svc.Transition(ctx, other, "pause"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		campaign int64
		want     coupon.Result
	}{{id, coupon.SoldOut}, {other, coupon.NotActive}} {
		if o, err := c.Claim(ctx, tc.campaign, users[0]); err != nil || o.Result != tc.want {
			t.Fatalf("campaign %d: %v, %v; want %s", tc.campaign, o, err, tc.want)
		}
	}
	if _, err := c.Claim(ctx, 1<<40, users[0]); err == nil {
		t.Fatal("a claim on a campaign that does not exist was answered")
	}
	if err := made.cleanup(ctx, pool, rdb); err != nil {
		t.Fatal(err)
	}
	var left int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM campaigns`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d campaigns left after cleanup (%v)", left, err)
	}
	if n, err := rdb.Exists(ctx, fmt.Sprintf("coupon:{%d}:meta", id)).Result(); err != nil || n != 0 {
		t.Fatalf("campaign %d's keys left in Redis (%v)", id, err)
	}
}
