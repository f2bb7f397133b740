package web

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/order"
	"market/views"
)

func (s *Server) orders(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	before := f.int64("before", 1, math.MaxInt64, false, 0)
	if err := f.err(); err != nil {
		return err
	}
	list, next, err := s.Orders.Orders(r.Context(), currentUser(r).ID, before)
	if err != nil {
		return err
	}
	vm := make([]views.OrderView, len(list))
	js := make([]map[string]any, len(list))
	for i, o := range list {
		vm[i] = orderView(o)
		js[i] = orderListJSON(o)
	}
	cursor, older := "", ""
	if next > 0 {
		cursor = strconv.FormatInt(next, 10)
		older = "/orders?before=" + cursor
	}
	return s.render(w, r, answer{Page: views.OrdersPage(vm, older), JSON: map[string]any{"orders": js, "next_cursor": cursor}})
}

// orderID reads {id}; anything but a positive whole number is not found.
func orderID(r *http.Request) (int64, error) {
	id, err := parseWhole(chi.URLParam(r, "id"))
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

func (s *Server) orderPage(w http.ResponseWriter, r *http.Request) error {
	id, err := orderID(r)
	if err != nil {
		return err
	}
	o, err := s.Orders.Order(r.Context(), currentUser(r).ID, id)
	if err != nil {
		return err
	}
	return s.render(w, r, answer{Page: views.OrderPage(orderView(o)), JSON: orderJSON(o)})
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := orderID(r)
	if err != nil {
		return err
	}
	o, err := s.Orders.Cancel(r.Context(), currentUser(r).ID, id)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, orderJSON(o))
	}
	s.sessions.flash(w, r, "success", "Order #"+strconv.FormatInt(o.ID, 10)+" is cancelled. We refunded "+views.Won(o.Charged)+".")
	redirect(w, r, "/orders/"+strconv.FormatInt(o.ID, 10))
	return nil
}

func (s *Server) topUp(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	amount := f.int64("amount", 1, order.MaxTopUp, true, 0)
	err = f.err()
	var wal order.Wallet
	if err == nil {
		wal, err = s.Orders.TopUp(r.Context(), currentUser(r).ID, amount)
	}
	if err != nil {
		if vf, status, ok := formOf(err, f.values); ok && !wantsJSON(r) {
			return s.renderAccount(w, r, views.AccountView{TopUp: vf}, status)
		}
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]any{"balance": wal.Balance, "points": wal.Points})
	}
	s.sessions.flash(w, r, "success", "Added "+views.Won(amount)+" to your balance.")
	redirect(w, r, "/account")
	return nil
}

func orderView(o order.Order) views.OrderView {
	v := views.OrderView{ID: o.ID, Status: o.Status, Subtotal: o.Subtotal, Discount: o.Discount, PointsUsed: o.PointsUsed,
		Charged: o.Charged, PointsEarned: o.PointsEarned, Placed: views.When(o.CreatedAt)}
	if o.CancelledAt != nil {
		v.Cancelled = views.When(*o.CancelledAt)
	}
	v.Refunded, v.Carrier, v.Tracking = o.Refunded, o.Carrier, o.TrackingNumber
	for _, it := range o.Items {
		v.Lines = append(v.Lines, views.OrderLine{ProductID: it.ProductID, Name: it.Name, Price: it.Price, Quantity: it.Quantity, Refunded: it.Refunded})
	}
	if a := o.Address; a != nil {
		v.ShipTo = &views.ShipTo{Recipient: a.Recipient, Phone: a.Phone, PostalCode: a.PostalCode, Line1: a.Line1, Line2: a.Line2}
	}
	for _, e := range o.Events {
		note := e.Note
		if e.Status == order.StatusCancelled && note == "" {
			note = "Cancelled by you"
		}
		v.Events = append(v.Events, views.OrderEvent{Status: e.Status, When: views.When(e.At), Note: note})
	}
	return v
}

type orderItemJSON struct {
	ProductID int64  `json:"product_id"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Quantity  int64  `json:"quantity"`
	Refunded  int64  `json:"refunded"`
}

type orderEventJSON struct {
	Status string `json:"status"`
	At     string `json:"at"`
	Note   string `json:"note"`
}

// orderListJSON is an order as lists show it: without items and events,
// which a list does not load (docs/HTTP.md).
func orderListJSON(o order.Order) map[string]any {
	js := orderJSON(o)
	delete(js, "items")
	delete(js, "events")
	return js
}

// orderJSON is the contract's order (docs/HTTP.md): id, status, the
// amounts, refunded, items and the timeline's events.
func orderJSON(o order.Order) map[string]any {
	items := make([]orderItemJSON, len(o.Items))
	for i, it := range o.Items {
		items[i] = orderItemJSON{ProductID: it.ProductID, Name: it.Name, Price: it.Price, Quantity: it.Quantity, Refunded: it.Refunded}
	}
	events := make([]orderEventJSON, len(o.Events))
	for i, e := range o.Events {
		events[i] = orderEventJSON{Status: e.Status, At: e.At.Format(time.RFC3339), Note: e.Note}
	}
	m := map[string]any{"id": o.ID, "status": o.Status, "subtotal": o.Subtotal, "discount": o.Discount,
		"points_used": o.PointsUsed, "points_earned": o.PointsEarned, "charged": o.Charged, "refunded": o.Refunded,
		"items": items, "events": events, "coupon_id": o.CouponID, "created_at": o.CreatedAt.Format(time.RFC3339),
		"carrier": nilIfEmpty(o.Carrier), "tracking_number": nilIfEmpty(o.TrackingNumber), "address": o.Address}
	if o.CancelledAt != nil {
		m["cancelled_at"] = o.CancelledAt.Format(time.RFC3339)
		m["cancel_reason"] = nilIfEmpty(o.CancelReason)
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ledgerRows are ledger entries for a page whose order links start with
// orders ("/orders/" for the shopper, "/admin/orders/" for an admin).
func ledgerRows(es []order.Entry, orders string) []views.LedgerRow {
	out := make([]views.LedgerRow, len(es))
	for i, e := range es {
		out[i] = views.LedgerRow{When: views.When(e.At), Delta: e.Delta, Reason: e.Reason}
		if e.Note != nil {
			out[i].Note = *e.Note
		}
		if e.OrderID != nil {
			out[i].OrderID = *e.OrderID
			out[i].OrderHref = orders + strconv.FormatInt(*e.OrderID, 10)
		}
	}
	return out
}

func ledgerJSON(es []order.Entry) []map[string]any {
	out := make([]map[string]any, len(es))
	for i, e := range es {
		out[i] = map[string]any{"delta": e.Delta, "reason": e.Reason, "note": e.Note, "order_id": e.OrderID, "at": e.At.Format(time.RFC3339)}
	}
	return out
}
