package order

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/money"
	"market/internal/text"
)

// Text rules of the admin's order fields, for the form reader.
var (
	CarrierText  = text.Options{Label: "The carrier", Max: 50, Name: true}
	TrackingText = text.Options{Label: "The tracking number", Max: 50}
	ReasonText   = text.Options{Label: "The reason", Max: 200}
)

// next is where each admin step may move an order from (docs/ORDERS.md).
var next = map[string][]string{
	StatusPreparing: {StatusPlaced},
	StatusShipped:   {StatusPlaced, StatusPreparing},
	StatusDelivered: {StatusShipped},
}

// Advance moves an order on (preparing, shipped with its carrier and
// tracking number, delivered), with a step of the timeline.
func (s *Service) Advance(ctx context.Context, adminID, orderID int64, to, carrier, tracking string) (Order, error) {
	from, ok := next[to]
	if !ok {
		return Order{}, errOrderNotFound
	}
	if to == StatusShipped {
		f := errs.Fields{}
		f.Check(carrier != "", "carrier", "Name the carrier.")
		f.Check(tracking != "", "tracking_number", "Enter the tracking number.")
		if err := f.Err(); err != nil {
			return Order{}, err
		}
	}
	return s.changeOrder(ctx, orderID, nil, func(q *db.Queries, o db.Order) error {
		if !slices.Contains(from, o.Status) {
			return errs.New(errs.Conflict, "This order is %s; it cannot be marked %s.", o.Status, to)
		}
		p := db.SetOrderStatusParams{ID: o.ID, Status: to}
		note := ""
		if to == StatusShipped {
			p.Carrier, p.TrackingNumber = &carrier, &tracking
			note = carrier + " " + tracking
		}
		if err := q.SetOrderStatus(ctx, p); err != nil {
			return err
		}
		after := map[string]any{"status": to}
		if to == StatusShipped {
			after["carrier"], after["tracking_number"] = carrier, tracking
		}
		if err := audit.Record(ctx, q, audit.Order, to, audit.Subject("order", o.ID), map[string]any{"status": o.Status}, after); err != nil {
			return err
		}
		return q.InsertOrderEvent(ctx, db.InsertOrderEventParams{OrderID: o.ID, Status: to, Note: note, ActorID: &adminID})
	})
}

// AdminCancel cancels an order before it is delivered, with the reason the
// shopper sees on the timeline; everything is given back (reverse).
func (s *Service) AdminCancel(ctx context.Context, adminID, orderID int64, reason string) (Order, error) {
	if reason == "" {
		return Order{}, &errs.Error{Code: errs.Invalid, Message: "Say why the order is cancelled; the shopper sees it.",
			Fields: map[string]string{"reason": "Say why the order is cancelled; the shopper sees it."}}
	}
	return s.changeOrder(ctx, orderID, nil, func(q *db.Queries, o db.Order) error {
		if o.Status == StatusDelivered {
			return errs.New(errs.Conflict, "This order was delivered; refund its lines instead.")
		}
		if err := audit.Record(ctx, q, audit.Order, "cancel", audit.Subject("order", o.ID),
			map[string]any{"status": o.Status, "refunded": o.Refunded},
			map[string]any{"status": StatusCancelled, "refunded": o.Charged, "reason": reason}); err != nil {
			return err
		}
		return reverse(ctx, q, o, adminID, &reason)
	})
}

// RefundInput is a partial refund of one line.
type RefundInput struct {
	AdminID, OrderID, ProductID int64
	Quantity                    int64
	Restock                     bool // put the units back in stock
	Reason                      string
}

// Refund gives back part of an order, by line and quantity, in one
// transaction: money, points used and points earned in proportion to the
// line's share of the subtotal, each with its ledger row, and the stock when
// asked. The shares are cut from running totals (what all refunds so far
// come to, less what was given before), so refunds never give back more
// than was charged and refunding every unit gives back exactly the charge.
// The coupon stays used: it comes back only with a cancel of the whole order.
func (s *Service) Refund(ctx context.Context, in RefundInput) (Order, error) {
	f := errs.Fields{}
	f.Check(in.Quantity >= 1 && in.Quantity <= MaxQuantity, "quantity", "Refund 1 to 99 units.")
	f.Check(in.Reason != "", "reason", "Say why; the shopper sees it.")
	if err := f.Err(); err != nil {
		return Order{}, err
	}
	return s.changeOrder(ctx, in.OrderID, nil, func(q *db.Queries, o db.Order) error {
		items, err := q.OrderItems(ctx, o.ID)
		if err != nil {
			return err
		}
		var line *db.OrderItem
		var before int64 // value of the units refunded so far, at their prices
		for i, it := range items {
			before += it.Price * int64(it.Refunded)
			if it.ProductID == in.ProductID {
				line = &items[i]
			}
		}
		if line == nil {
			return errs.New(errs.NotFound, "This order has no such line.")
		}
		if left := int64(line.Quantity - line.Refunded); in.Quantity > left {
			return errs.New(errs.Conflict, "Only %d of %s can still be refunded.", left, line.Name)
		}
		after := before + line.Price*in.Quantity
		share := func(total int64) int64 { return part(total, after, o.Subtotal) - part(total, before, o.Subtotal) }
		amount, back, claw := share(o.Charged), share(o.PointsUsed), share(o.PointsEarned)
		w, err := q.Wallet(ctx, o.UserID)
		if err != nil {
			return err
		}
		if w.Points+back < claw {
			return errs.New(errs.Conflict, "This refund would take back %s points the order earned, and the shopper has spent them.", money.Count(claw))
		}
		if err := q.RecordRefund(ctx, db.RecordRefundParams{OrderID: o.ID, ProductID: in.ProductID, Quantity: int32(in.Quantity),
			Amount: amount, PointsReturned: back, PointsClawed: claw, Restocked: in.Restock, Reason: in.Reason, ActorID: in.AdminID}); err != nil {
			return err
		}
		if err := moveWallet(ctx, q, o.UserID, &o.ID, amount, []pointsMove{{back, "refund"}, {-claw, "clawback"}}, "refund"); err != nil {
			return err
		}
		if in.Restock {
			if err := q.ReturnStock(ctx, db.ReturnStockParams{ProductID: in.ProductID, Quantity: in.Quantity}); err != nil {
				return err
			}
			if err := q.InsertStockEntries(ctx, db.InsertStockEntriesParams{ProductIds: []int64{in.ProductID}, Deltas: []int64{in.Quantity},
				Reason: "refund, restocked", OrderID: &o.ID, ActorID: &in.AdminID}); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, q, audit.Order, "refund", audit.Subject("order", o.ID),
			map[string]any{"refunded": o.Refunded, "product_id": in.ProductID, "units_refunded": line.Refunded},
			map[string]any{"refunded": o.Refunded + amount, "product_id": in.ProductID, "units_refunded": int64(line.Refunded) + in.Quantity,
				"points_returned": back, "points_clawed": claw, "restocked": in.Restock, "reason": in.Reason}); err != nil {
			return err
		}
		note := fmt.Sprintf("%d × %s: %s back (%s)", in.Quantity, line.Name, money.Won(amount), in.Reason)
		return q.InsertOrderEvent(ctx, db.InsertOrderEventParams{OrderID: o.ID, Status: "refunded", Note: note, ActorID: &in.AdminID})
	})
}

// part is floor(total × value / subtotal), without overflow.
func part(total, value, subtotal int64) int64 {
	n := new(big.Int).Mul(big.NewInt(total), big.NewInt(value))
	return n.Quo(n, big.NewInt(subtotal)).Int64()
}
