package order

import (
	"context"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Cancel reverses an order in one transaction: stock back, balance refunded,
// points used returned and points earned taken back, the coupon usable again
// (until it expires). An order that cannot be fully reversed is refused.
func (s *Service) Cancel(ctx context.Context, userID, orderID int64) (Order, error) {
	if orderID <= 0 {
		return Order{}, errOrderNotFound
	}
	var out Order
	err := s.inTx(ctx, func(q *db.Queries) error {
		// Lock order: shopper, order, coupon, products ascending — as checkout.
		w, err := q.LockShopper(ctx, userID)
		if isNoRows(err) {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		o, err := q.LockOrder(ctx, db.LockOrderParams{ID: orderID, UserID: userID})
		if isNoRows(err) {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		if o.Status == "cancelled" {
			return errs.New(errs.Conflict, "This order is already cancelled.")
		}
		if w.Points+o.PointsUsed < o.PointsEarned {
			return errs.New(errs.Conflict, "This order cannot be cancelled: the %s points it earned have already been spent.", money.Count(o.PointsEarned))
		}
		if err := q.MarkCancelled(ctx, o.ID); err != nil {
			return err
		}
		restored, err := q.RestoreCoupon(ctx, &o.ID)
		if err != nil {
			return err
		}
		for _, id := range restored {
			if err := q.InsertCouponEvent(ctx, db.InsertCouponEventParams{CouponID: id, OrderID: o.ID, Event: "restored"}); err != nil {
				return err
			}
		}
		if err := moveWallet(ctx, q, userID, &o.ID, o.Charged, []pointsMove{{o.PointsUsed, "refund"}, {-o.PointsEarned, "clawback"}}, "refund"); err != nil {
			return err
		}
		items, err := q.OrderItems(ctx, o.ID) // ascending product id
		if err != nil {
			return err
		}
		ids := make([]int64, len(items))
		deltas := make([]int64, len(items))
		for i, it := range items {
			if err := q.ReturnStock(ctx, db.ReturnStockParams{ProductID: it.ProductID, Quantity: int64(it.Quantity)}); err != nil {
				return err
			}
			ids[i], deltas[i] = it.ProductID, int64(it.Quantity)
		}
		if err := q.InsertStockEntries(ctx, db.InsertStockEntriesParams{ProductIds: ids, Deltas: deltas, Reason: "order cancelled", OrderID: &o.ID, ActorID: &userID}); err != nil {
			return err
		}
		o, err = q.GetOrder(ctx, db.GetOrderParams{ID: o.ID, UserID: userID})
		if err != nil {
			return err
		}
		out = orderOf(o, items)
		return nil
	})
	return out, err
}

// Orders lists the shopper's orders, newest first (lines not loaded).
func (s *Service) Orders(ctx context.Context, userID int64) ([]Order, error) {
	rows, err := s.q.ListOrders(ctx, db.ListOrdersParams{UserID: userID, Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]Order, len(rows))
	for i, r := range rows {
		out[i] = orderOf(r, nil)
	}
	return out, nil
}

// Order is one of the shopper's orders with its lines; another shopper's id is not found.
func (s *Service) Order(ctx context.Context, userID, orderID int64) (Order, error) {
	if orderID <= 0 {
		return Order{}, errOrderNotFound
	}
	o, err := s.q.GetOrder(ctx, db.GetOrderParams{ID: orderID, UserID: userID})
	if isNoRows(err) {
		return Order{}, errOrderNotFound
	}
	if err != nil {
		return Order{}, err
	}
	items, err := s.q.OrderItems(ctx, o.ID)
	if err != nil {
		return Order{}, err
	}
	return orderOf(o, items), nil
}
