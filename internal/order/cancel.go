package order

import (
	"context"
	"math"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
)

// Cancel is the shopper's cancel, until the order ships: see reverse.
func (s *Service) Cancel(ctx context.Context, userID, orderID int64) (Order, error) {
	if orderID <= 0 {
		return Order{}, errOrderNotFound
	}
	return s.changeOrder(ctx, orderID, &userID, func(q *db.Queries, o db.Order) error {
		if o.Status == StatusShipped || o.Status == StatusDelivered {
			return errs.New(errs.Conflict, "This order has shipped and can no longer be cancelled. Ask the shop for a refund when it arrives.")
		}
		return reverse(ctx, q, o, userID, nil)
	})
}

// changeOrder runs change on one order in a transaction that holds, in the
// package's lock order, its shopper and then the order itself. With owner
// set, another shopper's order is not found.
func (s *Service) changeOrder(ctx context.Context, orderID int64, owner *int64, change func(q *db.Queries, o db.Order) error) (Order, error) {
	var out Order
	err := s.inTx(ctx, func(q *db.Queries) error {
		userID, err := q.OrderOwner(ctx, orderID)
		if isNoRows(err) || err == nil && owner != nil && *owner != userID {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		if _, err := q.LockShopper(ctx, userID); err != nil {
			return err
		}
		o, err := q.LockOrder(ctx, db.LockOrderParams{ID: orderID, UserID: userID})
		if err != nil {
			return err
		}
		if o.Status == StatusCancelled {
			return errs.New(errs.Conflict, "This order is already cancelled.")
		}
		if err := change(q, o); err != nil {
			return err
		}
		out, err = loadOrder(ctx, q, orderID, userID)
		return err
	})
	return out, err
}

// reverse cancels a locked order and gives back what partial refunds had
// not: the charge, the points used, the points earned taken back, the stock
// of every unit not refunded, and the coupon (usable again until it
// expires). An order whose earned points were already spent cannot be fully
// reversed and is refused.
func reverse(ctx context.Context, q *db.Queries, o db.Order, actorID int64, reason *string) error {
	w, err := q.Wallet(ctx, o.UserID)
	if err != nil {
		return err
	}
	charge, back, claw := o.Charged-o.Refunded, o.PointsUsed-o.PointsReturned, o.PointsEarned-o.PointsClawed
	if w.Points+back < claw {
		return errs.New(errs.Conflict, "This order cannot be cancelled: the %s points it earned have already been spent.", money.Count(claw))
	}
	if err := q.MarkCancelled(ctx, db.MarkCancelledParams{ID: o.ID, Reason: reason}); err != nil {
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
	if err := moveWallet(ctx, q, o.UserID, &o.ID, charge, []pointsMove{{back, "refund"}, {-claw, "clawback"}}, "refund"); err != nil {
		return err
	}
	items, err := q.OrderItems(ctx, o.ID) // ascending product id
	if err != nil {
		return err
	}
	var ids, deltas []int64
	for _, it := range items {
		if left := int64(it.Quantity - it.Refunded); left > 0 {
			if err := q.ReturnStock(ctx, db.ReturnStockParams{ProductID: it.ProductID, Quantity: left}); err != nil {
				return err
			}
			ids, deltas = append(ids, it.ProductID), append(deltas, left)
		}
	}
	if len(ids) > 0 {
		if err := q.InsertStockEntries(ctx, db.InsertStockEntriesParams{ProductIds: ids, Deltas: deltas, Reason: "order cancelled", OrderID: &o.ID, ActorID: &actorID}); err != nil {
			return err
		}
	}
	note := ""
	if reason != nil {
		note = *reason
	}
	return q.InsertOrderEvent(ctx, db.InsertOrderEventParams{OrderID: o.ID, Status: StatusCancelled, Note: note, ActorID: &actorID})
}

// loadOrder reads an order with its lines and timeline (placed first).
func loadOrder(ctx context.Context, q *db.Queries, orderID, userID int64) (Order, error) {
	o, err := q.GetOrder(ctx, db.GetOrderParams{ID: orderID, UserID: userID})
	if isNoRows(err) {
		return Order{}, errOrderNotFound
	}
	if err != nil {
		return Order{}, err
	}
	items, err := q.OrderItems(ctx, o.ID)
	if err != nil {
		return Order{}, err
	}
	events, err := q.OrderEvents(ctx, o.ID)
	if err != nil {
		return Order{}, err
	}
	out := orderOf(o, items)
	for _, e := range events {
		out.Events = append(out.Events, Event{Status: e.Status, Note: e.Note, At: e.CreatedAt})
	}
	return out, nil
}

// OrdersPageSize is how many orders a page of the shopper's history shows.
const OrdersPageSize = 20

// Orders is a page of the shopper's orders, newest first (lines not
// loaded), before the order before (0: from the newest); next is the cursor
// of the page after it (0 on the last).
func (s *Service) Orders(ctx context.Context, userID, before int64) (orders []Order, next int64, err error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := s.q.ListOrders(ctx, db.ListOrdersParams{UserID: userID, Before: before, Lim: OrdersPageSize + 1})
	if err != nil {
		return nil, 0, err
	}
	for _, r := range rows[:min(len(rows), OrdersPageSize)] {
		orders = append(orders, orderOf(r, nil))
	}
	if len(rows) > OrdersPageSize {
		next = rows[OrdersPageSize-1].ID
	}
	return orders, next, nil
}

// Order is one of the shopper's orders with its lines and timeline; another
// shopper's id is not found.
func (s *Service) Order(ctx context.Context, userID, orderID int64) (Order, error) {
	if orderID <= 0 {
		return Order{}, errOrderNotFound
	}
	return loadOrder(ctx, s.q, orderID, userID)
}
