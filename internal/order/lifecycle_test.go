package order_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"market/internal/errs"
	"market/internal/order"
)

// placeOne places one order of qty units of a new product at price for a
// new shopper with a 10% coupon and 500 points to spend.
func placeOne(t *testing.T, e *env, price, qty int64) (shopper, product int64, o order.Order) {
	t.Helper()
	shopper = e.shoppers(1, 1_000_000)[0]
	e.exec("UPDATE users SET points = 500 WHERE id = $1", shopper)
	e.exec("INSERT INTO points_ledger (user_id, delta, reason, note) VALUES ($1, 500, 'adjustment', 'test')", shopper)
	product = e.product(price, 100)
	cp := e.coupon(shopper, "percent", 10, 0, time.Now().Add(time.Hour))
	e.add(shopper, product, qty)
	o, _, err := e.svc.Checkout(context.Background(), order.CheckoutInput{UserID: shopper, Key: "k", CouponID: cp, Points: 500})
	if err != nil {
		t.Fatal(err)
	}
	return shopper, product, o
}

func TestAnOrderMovesOnlyAlongItsLifecycle(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	admin := e.shoppers(1, 0)[0]
	shopper, _, o := placeOne(t, e, 10_000, 2)
	steps := []struct {
		to, carrier, tracking string
		code                  errs.Code // "" when allowed
	}{
		{order.StatusDelivered, "", "", errs.Conflict},    // not shipped yet
		{order.StatusShipped, "", "", errs.Invalid},       // no carrier or tracking
		{order.StatusPreparing, "", "", ""},               // placed → preparing
		{order.StatusPreparing, "", "", errs.Conflict},    // already
		{order.StatusShipped, "CJ", "6123-4567-8901", ""}, // preparing → shipped
		{order.StatusPreparing, "", "", errs.Conflict},    // no way back
		{order.StatusDelivered, "", "", ""},               // shipped → delivered
		{order.StatusShipped, "CJ", "1", errs.Conflict},   // no way back
		{"refunded", "", "", errs.NotFound},               // not a step
	}
	for i, st := range steps {
		_, err := e.svc.Advance(ctx, admin, o.ID, st.to, st.carrier, st.tracking)
		if st.code == "" && err != nil || st.code != "" && !errs.Is(err, st.code) {
			t.Fatalf("step %d to %s: %v, want %q", i, st.to, err, st.code)
		}
	}
	if _, err := e.svc.Cancel(ctx, shopper, o.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("the shopper cancelled a delivered order: %v", err)
	}
	if _, err := e.svc.AdminCancel(ctx, admin, o.ID, "late"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("an admin cancelled a delivered order: %v", err)
	}
	got, err := e.svc.Order(ctx, shopper, o.ID)
	if err != nil || got.Status != order.StatusDelivered || got.Carrier != "CJ" || got.TrackingNumber != "6123-4567-8901" || len(got.Events) != 4 {
		t.Fatalf("order %+v (%v)", got, err)
	}
	if got.Events[0].Status != order.StatusPlaced || got.Events[2].Status != order.StatusShipped || got.Events[2].Note != "CJ 6123-4567-8901" {
		t.Fatalf("timeline %+v", got.Events)
	}
	if _, err := e.svc.Advance(ctx, admin, 999_999, order.StatusPreparing, "", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("an unknown order: %v", err)
	}
	e.consistent()
}

// A shipped order can be cancelled by an admin (with a reason the shopper
// sees), not by the shopper; everything comes back, the coupon included.
func TestAnAdminCancelsAShippedOrderWithAReason(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	admin := e.shoppers(1, 0)[0]
	shopper, product, o := placeOne(t, e, 10_000, 2)
	if _, err := e.svc.Advance(ctx, admin, o.ID, order.StatusShipped, "CJ", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(ctx, shopper, o.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("the shopper cancelled a shipped order: %v", err)
	}
	if _, err := e.svc.AdminCancel(ctx, admin, o.ID, ""); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a cancel without a reason: %v", err)
	}
	got, err := e.svc.AdminCancel(ctx, admin, o.ID, "Lost by the carrier")
	if err != nil || got.Status != order.StatusCancelled || got.CancelReason != "Lost by the carrier" || got.Refunded != o.Charged {
		t.Fatalf("cancel: %+v (%v)", got, err)
	}
	if b := e.count("SELECT balance FROM users WHERE id = $1", shopper); b != 1_000_000 {
		t.Fatalf("balance %d after the cancel, want it all back", b)
	}
	if st := e.count("SELECT stock FROM product_stock WHERE product_id = $1", product); st != 100 {
		t.Fatalf("stock %d", st)
	}
	if n := e.count("SELECT count(*) FROM coupons WHERE user_id = $1 AND status = 'issued'", shopper); n != 1 {
		t.Fatalf("the coupon did not come back")
	}
	e.consistent()
}

// Refunding every unit of a line, a few at a time, gives back exactly what
// was charged, used and earned; each refund moves the balance by its amount;
// a later cancel gives back only the rest.
func TestPartialRefundsAddUpToTheChargeExactly(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	admin := e.shoppers(1, 0)[0]
	shopper, product, o := placeOne(t, e, 3_333, 7) // 23,331 − 10% − 500 points: shares that do not divide evenly
	e.exec("UPDATE users SET points = points + 1000 WHERE id = $1", shopper)
	e.exec("INSERT INTO points_ledger (user_id, delta, reason, note) VALUES ($1, 1000, 'adjustment', 'test')", shopper)
	var refunded int64
	for i, q := range []int64{1, 2, 3} {
		before := e.count("SELECT balance FROM users WHERE id = $1", shopper)
		got, err := e.svc.Refund(ctx, order.RefundInput{AdminID: admin, OrderID: o.ID, ProductID: product, Quantity: q, Restock: i == 0, Reason: "damaged"})
		if err != nil {
			t.Fatalf("refund %d: %v", i, err)
		}
		if moved := e.count("SELECT balance FROM users WHERE id = $1", shopper) - before; moved != got.Refunded-refunded {
			t.Fatalf("refund %d moved the balance by %d, the order says %d", i, moved, got.Refunded-refunded)
		}
		refunded = got.Refunded
	}
	if _, err := e.svc.Refund(ctx, order.RefundInput{AdminID: admin, OrderID: o.ID, ProductID: product, Quantity: 2, Reason: "x"}); !errs.Is(err, errs.Conflict) {
		t.Fatalf("refunding more than is left: %v", err)
	}
	if st := e.count("SELECT stock FROM product_stock WHERE product_id = $1", product); st != 94 {
		t.Fatalf("stock %d, want 93 + the 1 restocked", st)
	}
	// The last unit: a cancel gives back the rest and restocks only it.
	got, err := e.svc.AdminCancel(ctx, admin, o.ID, "customer asked")
	if err != nil {
		t.Fatal(err)
	}
	if got.Refunded != o.Charged || e.count("SELECT points_returned - points_used + points_earned - points_clawed FROM orders WHERE id = $1", o.ID) != 0 {
		t.Fatalf("after the cancel: refunded %d of %d", got.Refunded, o.Charged)
	}
	if st := e.count("SELECT stock FROM product_stock WHERE product_id = $1", product); st != 95 {
		t.Fatalf("stock %d after the cancel, want 95 (the unrefunded unit back)", st)
	}
	e.consistent()

	// Every unit refunded: exactly the charge, to the won.
	_, p2, o2 := placeOne(t, e, 3_333, 7)
	for range 7 {
		if _, err := e.svc.Refund(ctx, order.RefundInput{AdminID: admin, OrderID: o2.ID, ProductID: p2, Quantity: 1, Reason: "returned"}); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.count("SELECT refunded FROM orders WHERE id = $1", o2.ID); r != o2.Charged {
		t.Fatalf("seven single refunds gave back %d of %d", r, o2.Charged)
	}
	e.consistent()
}

// Admins refunding the same line at once never refund more units, or more
// money, than were bought.
func TestSimultaneousRefundsOfOneLineNeverGoOver(t *testing.T) {
	e := newEnv(t, order.Pessimistic)
	admins := e.shoppers(2, 0)
	_, product, o := placeOne(t, e, 10_000, 3)
	var ok, refused atomic.Int64
	crowd(20, func(i int) {
		_, err := e.svc.Refund(context.Background(), order.RefundInput{AdminID: admins[i%2], OrderID: o.ID, ProductID: product, Quantity: 1, Restock: true, Reason: "double click"})
		switch {
		case err == nil:
			ok.Add(1)
		case errs.Is(err, errs.Conflict):
			refused.Add(1)
		default:
			t.Errorf("refund: %v", err)
		}
	})
	if ok.Load() != 3 || refused.Load() != 17 {
		t.Fatalf("%d refunds went through, %d refused; want 3 and 17", ok.Load(), refused.Load())
	}
	if r := e.count("SELECT refunded FROM orders WHERE id = $1", o.ID); r != o.Charged {
		t.Fatalf("refunded %d of %d", r, o.Charged)
	}
	e.consistent()
}
