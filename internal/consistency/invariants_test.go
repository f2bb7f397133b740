package consistency_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/order"
	"market/internal/testenv"
)

// shop is a small shop on real PostgreSQL and Redis, built through the real
// services, so that the report starts green.
type shop struct {
	t        *testing.T
	pool     *pgxpool.Pool
	rdb      *redis.Client
	coupons  *coupon.Service
	orders   *order.Service
	report   *consistency.Service
	campaign int64
	products []int64
	admin    int64
}

func newShop(t *testing.T, total int64) *shop {
	t.Helper()
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	log := slog.New(slog.DiscardHandler)
	coupons := coupon.NewService(pool, rdb, coupon.Options{Log: log})
	orders, err := order.NewService(pool, order.Options{Locking: order.Pessimistic, Coupons: coupons})
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{t: t, pool: pool, rdb: rdb, coupons: coupons, orders: orders, report: consistency.NewService(pool, log, coupons)}
	s.exec(`INSERT INTO categories (slug, name) VALUES ('test', 'Test')`)
	for range 3 {
		var id int64
		s.scan(&id, `INSERT INTO products (sku, name, brand, category_id, price)
			SELECT 'SKU-' || gen_random_uuid(), 'Product', 'Brand', id, 10000 FROM categories RETURNING id`)
		s.exec(`INSERT INTO product_stock (product_id, stock, opening_stock) VALUES ($1, 1000, 1000)`, id)
		s.products = append(s.products, id)
	}
	s.scan(&s.admin, `INSERT INTO users (email, password_hash, name, role) VALUES ('admin@example.test', 'x', 'Admin', 'admin') RETURNING id`)
	c, err := coupons.Create(t.Context(), coupon.Input{Name: "Storm sale", DiscountType: coupon.DiscountFixed, DiscountValue: 3000,
		TotalQuantity: total, StartsAt: time.Now().Add(-time.Hour), EndsAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coupons.Transition(t.Context(), c.ID, "activate"); err != nil {
		t.Fatal(err)
	}
	s.campaign = c.ID
	return s
}

func (s *shop) exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.pool.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

func (s *shop) scan(dst any, sql string, args ...any) {
	s.t.Helper()
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(dst); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// shopper creates a shopper topped up through the order service.
func (s *shop) shopper(balance int64) int64 {
	s.t.Helper()
	var id int64
	s.scan(&id, `WITH u AS (INSERT INTO users (email, password_hash, name) VALUES ('s' || gen_random_uuid() || '@example.test', 'x', 'Shopper') RETURNING id),
			a AS (INSERT INTO addresses (user_id, recipient, phone, postal_code, line1, is_default)
				SELECT id, 'Shopper', '01012345678', '06236', '1 Teheran-ro', true FROM u)
		SELECT id FROM u`)
	if _, err := s.orders.TopUp(context.Background(), id, balance); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *shop) claim(user int64) {
	s.t.Helper()
	o, err := s.coupons.Claim(context.Background(), s.campaign, user)
	if err != nil || o.Result != coupon.Claimed {
		s.t.Fatalf("claim: %v %v", o, err)
	}
}

// flush persists every pending claim: a flusher started and stopped at once drains.
func (s *shop) flush() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.coupons.RunFlusher(ctx)
}

func (s *shop) couponOf(user int64) int64 {
	s.t.Helper()
	var id int64
	s.scan(&id, `SELECT id FROM coupons WHERE user_id = $1 AND campaign_id = $2`, user, s.campaign)
	return id
}

// buy checks out one unit of the first product, with the shopper's coupon when withCoupon.
func (s *shop) buy(user int64, withCoupon bool, points int64) order.Order {
	s.t.Helper()
	if _, err := s.orders.SetItem(context.Background(), user, s.products[0], 2); err != nil {
		s.t.Fatal(err)
	}
	in := order.CheckoutInput{UserID: user, Key: fmt.Sprintf("k-%d-%d", user, time.Now().UnixNano()), Points: points}
	if withCoupon {
		in.CouponID = s.couponOf(user)
	}
	o, _, err := s.orders.Checkout(context.Background(), in)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

func (s *shop) run() consistency.Report {
	s.t.Helper()
	r, err := s.report.Run(context.Background(), "manual", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// red lists the failing rows as "name | subject".
func red(r consistency.Report) []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name+" | "+c.Subject)
		}
	}
	return out
}

// fixture is the story every break starts from: four shoppers, three
// claims, an order with a coupon, one cancelled with its coupon restored,
// one without a coupon that earned points.
type fixture struct {
	*shop
	users  []int64
	placed order.Order // users[0], with coupon
	undone order.Order // users[1], with coupon, cancelled
	plain  order.Order // users[3], no coupon
}

func newFixture(t *testing.T) fixture {
	s := newShop(t, 10)
	f := fixture{shop: s}
	for range 4 {
		f.users = append(f.users, s.shopper(100_000))
	}
	for _, u := range f.users[:3] {
		s.claim(u)
	}
	s.flush()
	f.placed = s.buy(f.users[0], true, 0)
	f.undone = s.buy(f.users[1], true, 0)
	if _, err := s.orders.Cancel(context.Background(), f.users[1], f.undone.ID); err != nil {
		t.Fatal(err)
	}
	f.plain = s.buy(f.users[3], false, 0)
	if r := s.run(); !r.OK {
		t.Fatalf("the fixture should start green: %v", red(r))
	}
	return f
}

const (
	redisTotal   = "Redis claimed + Redis remaining = total"
	redisState   = "Redis state = PostgreSQL state"
	redisConfig  = "Redis total = PostgreSQL total"
	redisCovers  = "PostgreSQL coupons ≤ Redis claimed"
	streamCovers = "PostgreSQL coupons + pending stream entries = Redis claimed"
	deadLetters  = "no dead-lettered claims left"
	balanceName  = "balance = balance ledger, balance ≥ 0"
	pointsName   = "points = points ledger, points ≥ 0"
	amountName   = "charged = items − discount − points"
	couponName   = "a used coupon belongs to exactly one live order"
	refundName   = "refunds ≤ charged, and in the balance ledger"
)

func TestEveryBrokenInvariantTurnsTheReportRedOnExactlyThatItem(t *testing.T) {
	type want struct {
		name, subject string // subject: a prefix of the failing row's subject
		left, right   int64
		detail        string // a phrase the detail must contain
		repair        string
	}
	cases := []struct {
		name  string
		brk   func(f fixture) []want
		fixes string // the repair action that turns it green again ("" when none may)
	}{
		{"a claim deleted from PostgreSQL is shown and written back from Redis", func(f fixture) []want {
			f.exec(`DELETE FROM coupons WHERE user_id = $1 AND campaign_id = $2`, f.users[2], f.campaign)
			f.exec(`UPDATE campaigns SET persisted_count = persisted_count - 1 WHERE id = $1`, f.campaign)
			return []want{{streamCovers, campaignSubject(f), 2, 3, "2 persisted + 0 pending", "rebuild_campaign"}}
		}, "rebuild_campaign"},
		{"a Redis stock counter bumped is rebuilt from PostgreSQL", func(f fixture) []want {
			f.rdb.IncrBy(context.Background(), fmt.Sprintf("coupon:{%d}:stock", f.campaign), 5)
			return []want{{redisTotal, campaignSubject(f), 15, 10, "3 claimed + 12 remaining", "rebuild_campaign"}}
		}, "rebuild_campaign"},
		{"Redis answering claims in another state is brought back to PostgreSQL's", func(f fixture) []want {
			f.rdb.HSet(context.Background(), fmt.Sprintf("coupon:{%d}:meta", f.campaign), "state", "paused")
			return []want{{redisState, campaignSubject(f), 0, 1, "Redis answers claims as paused; PostgreSQL says active", "rebuild_campaign"}}
		}, "rebuild_campaign"},
		{"a Redis total above PostgreSQL's is brought back to PostgreSQL's", func(f fixture) []want {
			k := fmt.Sprintf("coupon:{%d}:", f.campaign)
			f.rdb.HSet(context.Background(), k+"meta", "total", 12)
			f.rdb.IncrBy(context.Background(), k+"stock", 2)
			return []want{
				{redisConfig, campaignSubject(f), 12, 10, "Redis counts stock from a total of 12; PostgreSQL says 10", "rebuild_campaign"},
				{redisTotal, campaignSubject(f), 12, 10, "3 claimed + 9 remaining", "rebuild_campaign"},
			}
		}, "rebuild_campaign"},
		{"a claim lost from Redis is merged back from PostgreSQL", func(f fixture) []want {
			f.rdb.HDel(context.Background(), fmt.Sprintf("coupon:{%d}:claimed", f.campaign), fmt.Sprint(f.users[2]))
			return []want{
				{redisTotal, campaignSubject(f), 9, 10, "2 claimed + 7 remaining", "rebuild_campaign"},
				{redisCovers, campaignSubject(f), 3, 2, "PostgreSQL holds 3 coupons, Redis knows 2", "rebuild_campaign"},
				{streamCovers, campaignSubject(f), 3, 2, "3 persisted + 0 pending", "rebuild_campaign"},
			}
		}, "rebuild_campaign"},
		{"a dead-lettered claim is re-driven", func(f fixture) []want {
			f.claim(f.users[3])
			deadLetter(f)
			return []want{
				{streamCovers, campaignSubject(f), 3, 4, "1 dead letters", "redrive_dead_letters"},
				{deadLetters, campaignSubject(f), 1, 0, "1 claims failed to persist", "redrive_dead_letters"},
			}
		}, "redrive_dead_letters"},
		{"a balance ledger row removed is shown with the order it belonged to", func(f fixture) []want {
			f.exec(`DELETE FROM balance_ledger WHERE order_id = $1`, f.placed.ID)
			bal := f.wallet(f.users[0]).Balance
			return []want{{balanceName, fmt.Sprintf("shopper %d ", f.users[0]), bal, bal + f.placed.Charged,
				fmt.Sprintf("order %d (placed) moved %d but its ledger rows sum to 0", f.placed.ID, -f.placed.Charged), ""}}
		}, ""},
		{"a balance edited behind the app's back is shown, not overwritten", func(f fixture) []want {
			f.exec(`UPDATE users SET balance = balance + 500 WHERE id = $1`, f.users[2])
			return []want{{balanceName, fmt.Sprintf("shopper %d ", f.users[2]), 100_500, 100_000, "off by +500", ""}}
		}, ""},
		{"a points ledger row removed is shown with its order", func(f fixture) []want {
			f.exec(`DELETE FROM points_ledger WHERE order_id = $1 AND reason = 'earned'`, f.plain.ID)
			pts := f.wallet(f.users[3]).Points
			return []want{{pointsName, fmt.Sprintf("shopper %d ", f.users[3]), pts, pts - f.plain.PointsEarned,
				fmt.Sprintf("order %d (placed) moved %d points but its ledger rows sum to 0", f.plain.ID, f.plain.PointsEarned), ""}}
		}, ""},
		{"an order amount edited no longer adds up to its items", func(f fixture) []want {
			f.exec(`UPDATE orders SET subtotal = subtotal + 1000, charged = charged + 1000 WHERE id = $1`, f.plain.ID)
			return []want{{amountName, fmt.Sprintf("order %d ", f.plain.ID), f.plain.Charged + 1000, f.plain.Charged, "subtotal says 21000", ""}}
		}, ""},
		{"an order line's price edited no longer adds up to the charge", func(f fixture) []want {
			f.exec(`UPDATE order_items SET price = price + 100 WHERE order_id = $1`, f.placed.ID)
			return []want{{amountName, fmt.Sprintf("order %d ", f.placed.ID), f.placed.Charged, f.placed.Charged + 200, "1 item lines sum to 20200", ""}}
		}, ""},
		// A missing order (order_id 999999) is refused by coupons_order_id_fkey;
		// another shopper's order, which never used the coupon, is not.
		{"a coupon marked used by an order that did not use it", func(f fixture) []want {
			c := f.couponOf(f.users[2])
			f.exec(`UPDATE coupons SET status = 'used', order_id = $2, used_at = now() WHERE id = $1`, c, f.plain.ID)
			return []want{{couponName, fmt.Sprintf("coupon %d ", c), 0, 1, fmt.Sprintf("order %d, which does not name it", f.plain.ID), ""}}
		}, ""},
		{"a coupon marked used by a cancelled order", func(f fixture) []want {
			c := f.couponOf(f.users[1])
			f.exec(`UPDATE coupons SET status = 'used', order_id = $2, used_at = now() WHERE id = $1`, c, f.undone.ID)
			return []want{{couponName, fmt.Sprintf("coupon %d ", c), 0, 1, fmt.Sprintf("order %d, which is cancelled", f.undone.ID), ""}}
		}, ""},
		{"an order that says it gave back money the ledger does not hold", func(f fixture) []want {
			f.exec(`UPDATE orders SET refunded = 1 WHERE id = $1`, f.placed.ID)
			return []want{{refundName, fmt.Sprintf("order %d ", f.placed.ID), 1, 0, "refund rows in the balance ledger sum to 0", ""}}
		}, ""},
		{"a coupon given back while its order is still placed", func(f fixture) []want {
			c := f.couponOf(f.users[0])
			f.exec(`UPDATE coupons SET status = 'issued', order_id = NULL, used_at = NULL WHERE id = $1`, c)
			return []want{{couponName, fmt.Sprintf("coupon %d ", c), 1, 0, fmt.Sprintf("live orders [%d] use it", f.placed.ID), ""}}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			wants := tc.brk(f)
			r := f.run()
			if r.OK {
				t.Fatal("the report stayed green")
			}
			// Exactly the expected rows are red: each failing subject and its family's summary.
			var expect []string
			for _, w := range wants {
				expect = append(expect, w.name+" | all ")
				c, ok := findRow(r, w.name, w.subject)
				if !ok {
					t.Fatalf("no red row %q for %q; red: %v", w.name, w.subject, red(r))
				}
				expect = append(expect, w.name+" | "+c.Subject)
				if c.Left != w.left || c.Right != w.right || !strings.Contains(c.Detail, w.detail) || c.Repair != w.repair {
					t.Errorf("%s: got left %d right %d repair %q detail %q; want %d, %d, %q, %q", w.name, c.Left, c.Right, c.Repair, c.Detail, w.left, w.right, w.repair, w.detail)
				}
			}
			if got := red(r); !sameRows(got, expect) {
				t.Fatalf("red rows:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(expect, "\n  "))
			}
			if tc.fixes == "" {
				return
			}
			// The safe repair turns it green, and running it again changes nothing.
			for i := range 2 {
				res, err := f.report.Repair(context.Background(), consistency.RepairInput{Action: tc.fixes, CampaignID: f.campaign, ActorID: f.admin})
				if err != nil {
					t.Fatal(err)
				}
				if !res.Repair.OK || !res.After.OK || res.Repair.ActorID == nil || *res.Repair.ActorID != f.admin {
					t.Fatalf("repair %d: %+v; red after: %v", i+1, res.Repair, red(res.After))
				}
			}
			hist, err := f.report.History(context.Background(), 20)
			if err != nil {
				t.Fatal(err)
			}
			repairs := 0
			for _, h := range hist {
				if h.Kind == "repair" {
					repairs++
				}
			}
			if repairs != 2 {
				t.Fatalf("history holds %d repairs, want 2", repairs)
			}
		})
	}
}

func TestRepairRefusesBadInputAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	var draft int64
	f.scan(&draft, `INSERT INTO campaigns (name, discount_type, discount_value, total_quantity, starts_at, ends_at)
		VALUES ('Draft', 'fixed', 1000, 5, now(), now() + interval '1 day') RETURNING id`)
	cases := []struct {
		name string
		in   consistency.RepairInput
		code errs.Code
	}{
		{"unknown action", consistency.RepairInput{Action: "overwrite_balances", CampaignID: f.campaign}, errs.Invalid},
		{"rebuild without a campaign", consistency.RepairInput{Action: "rebuild_campaign"}, errs.Invalid},
		{"rebuild of an unknown campaign", consistency.RepairInput{Action: "rebuild_campaign", CampaignID: 987654}, errs.NotFound},
		{"re-drive of an unknown campaign", consistency.RepairInput{Action: "redrive_dead_letters", CampaignID: 987654}, errs.NotFound},
		{"rebuild of a draft", consistency.RepairInput{Action: "rebuild_campaign", CampaignID: draft}, errs.Conflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.ActorID = f.admin
			_, err := f.report.Repair(context.Background(), tc.in)
			if !errs.Is(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
	var runs int64
	f.scan(&runs, `SELECT count(*) FROM consistency_runs WHERE kind = 'repair'`)
	if runs != 0 {
		t.Fatalf("%d repairs recorded for refused input", runs)
	}
}

func TestRedriveIsSafeToRunTwiceAndMarksDeadLettersRedriven(t *testing.T) {
	f := newFixture(t)
	f.claim(f.users[3])
	deadLetter(f)
	for i, want := range []coupon.Redriven{{Tried: 1, Persisted: 1, Resolved: 1}, {}} {
		got, err := f.coupons.RedriveDeadLetters(context.Background(), 0)
		if err != nil || got != want {
			t.Fatalf("re-drive %d: %+v (%v), want %+v", i+1, got, err, want)
		}
	}
	var open, persisted int64
	f.scan(&open, `SELECT count(*) FROM coupon_dead_letters WHERE resolved_at IS NULL`)
	f.scan(&persisted, `SELECT persisted_count FROM campaigns WHERE id = $1`, f.campaign)
	if open != 0 || persisted != 4 {
		t.Fatalf("open dead letters %d, persisted %d", open, persisted)
	}
	if r := f.run(); !r.OK {
		t.Fatalf("red after re-drive: %v", red(r))
	}
}

// A few hundred shoppers claim, check out (some with their coupon) and
// cancel at once, with the flusher running; the report afterwards is green,
// both while the flusher still holds entries and after it drained.
func TestStormOfClaimsAndCheckoutsLeavesTheReportGreen(t *testing.T) {
	const shoppers = 300
	s := newShop(t, 200)
	users := make([]int64, shoppers)
	for i := range users {
		users[i] = s.shopper(200_000)
	}
	flushCtx, stopFlusher := context.WithCancel(context.Background())
	flusherDone := make(chan struct{})
	go func() { s.coupons.RunFlusher(flushCtx); close(flusherDone) }()
	defer func() { stopFlusher(); <-flusherDone }()

	var wg sync.WaitGroup
	start := make(chan struct{})
	errc := make(chan error, shoppers)
	for i, u := range users {
		wg.Go(func() {
			<-start
			ctx := context.Background()
			o, err := s.coupons.Claim(ctx, s.campaign, u)
			if err != nil {
				errc <- fmt.Errorf("claim: %w", err)
				return
			}
			if _, err := s.orders.SetItem(ctx, u, s.products[i%len(s.products)], int64(1+i%3)); err != nil {
				errc <- err
				return
			}
			in := order.CheckoutInput{UserID: u, Key: fmt.Sprintf("storm-%d", u), Points: 0}
			if o.Result == coupon.Claimed && i%2 == 0 {
				if err := s.coupons.SyncUser(ctx, u); err != nil {
					errc <- err
					return
				}
				var id int64
				if err := s.pool.QueryRow(ctx, `SELECT id FROM coupons WHERE user_id = $1 AND campaign_id = $2`, u, s.campaign).Scan(&id); err != nil {
					errc <- err
					return
				}
				in.CouponID = id
			}
			placed, _, err := s.orders.Checkout(ctx, in)
			if err != nil {
				errc <- fmt.Errorf("checkout: %w", err)
				return
			}
			if i%5 == 0 {
				if _, err := s.orders.Cancel(ctx, u, placed.ID); err != nil {
					errc <- fmt.Errorf("cancel: %w", err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if r := s.run(); !r.OK {
		t.Fatalf("red right after the storm (flusher running): %v", red(r))
	}
	stopFlusher()
	<-flusherDone
	r := s.run()
	if !r.OK {
		t.Fatalf("red after the flusher drained: %v", red(r))
	}
	var claimed, orders int64
	s.scan(&claimed, `SELECT count(*) FROM coupons WHERE campaign_id = $1`, s.campaign)
	s.scan(&orders, `SELECT count(*) FROM orders`)
	if claimed != 200 || orders != shoppers {
		t.Fatalf("the storm did not happen: %d coupons, %d orders", claimed, orders)
	}
}

// deadLetter does to the newest pending claim what the flusher does to one
// that keeps failing: into coupon_dead_letters, out of the stream.
func deadLetter(f fixture) {
	f.t.Helper()
	ctx := context.Background()
	stream := fmt.Sprintf("coupon:{%d}:claims", f.campaign)
	msgs, err := f.rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		f.t.Fatalf("want one pending claim: %v %v", msgs, err)
	}
	f.exec(`INSERT INTO coupon_dead_letters (campaign_id, stream_id, payload, error, attempts) VALUES ($1, $2, $3, 'boom', 6)`,
		f.campaign, msgs[0].ID, fmt.Sprint(msgs[0].Values))
	f.rdb.XDel(ctx, stream, msgs[0].ID)
}

func (f fixture) wallet(user int64) order.Wallet {
	f.t.Helper()
	w, err := f.orders.Wallet(context.Background(), user)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func campaignSubject(f fixture) string { return fmt.Sprintf("campaign %d ", f.campaign) }

func findRow(r consistency.Report, name, subjectPrefix string) (consistency.Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name && !c.OK && strings.HasPrefix(c.Subject, subjectPrefix) {
			return c, true
		}
	}
	return consistency.Check{}, false
}

// sameRows compares red rows with expectations whose summary rows are prefixes ("… | all ").
func sameRows(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	left := slices.Clone(want)
	for _, g := range got {
		i := slices.IndexFunc(left, func(w string) bool { return strings.HasPrefix(g, w) })
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}
