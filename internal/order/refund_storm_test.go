package order_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"market/internal/consistency"
	"market/internal/errs"
	"market/internal/order"
)

// A storm of partial refunds and cancels from two admins at once, over
// orders with coupons and points in every status before delivery and
// after, leaves the shop's own consistency report green: no order refunds
// more than it charged, and every ledger adds up.
func TestTheConsistencyReportIsGreenAfterAStormOfRefunds(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := newEnv(t, order.Pessimistic)
	ctx := context.Background()
	admins := e.shoppers(2, 0)
	type line struct{ order, product int64 }
	var lines []line
	for i := range 6 {
		_, product, o := placeOne(t, e, 1_000+int64(i)*777, 5)
		for _, step := range []string{order.StatusPreparing, order.StatusShipped, order.StatusDelivered}[:i%4] {
			if _, err := e.svc.Advance(ctx, admins[0], o.ID, step, "CJ", "T-1"); err != nil {
				t.Fatal(err)
			}
		}
		lines = append(lines, line{o.ID, product})
	}
	var refunds, cancels, refused atomic.Int64
	crowd(48, func(i int) {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		l := lines[rng.IntN(len(lines))]
		var err error
		if rng.IntN(6) == 0 {
			_, err = e.svc.AdminCancel(ctx, admins[i%2], l.order, "storm")
			if err == nil {
				cancels.Add(1)
			}
		} else {
			_, err = e.svc.Refund(ctx, order.RefundInput{AdminID: admins[i%2], OrderID: l.order, ProductID: l.product,
				Quantity: 1 + rng.Int64N(2), Restock: rng.IntN(2) == 0, Reason: "storm"})
			if err == nil {
				refunds.Add(1)
			}
		}
		switch {
		case err == nil:
		case errs.Is(err, errs.Conflict):
			refused.Add(1)
		default:
			t.Errorf("seed %d: %v", seed, err)
		}
	})
	if refunds.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("seed %d: %d refunds, %d cancels, %d refused: the storm did not press on the limits", seed, refunds.Load(), cancels.Load(), refused.Load())
	}
	report, err := consistency.NewService(e.pool, slog.New(slog.DiscardHandler), nil).Run(ctx, "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		if !c.OK {
			t.Errorf("seed %d: red after the storm: %s %s: %d vs %d %s", seed, c.Name, c.Subject, c.Left, c.Right, c.Detail)
		}
	}
	e.consistent()
	t.Logf("%d refunds, %d cancels, %d refused", refunds.Load(), cancels.Load(), refused.Load())
}
