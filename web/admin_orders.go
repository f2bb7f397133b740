package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/errs"
	"market/internal/order"
	"market/views"
)

func (s *Server) adminOrderRoutes(r chi.Router) {
	r.Get("/orders", s.h(s.adminOrders))
	r.Get("/orders/{id}", s.h(s.adminOrder))
	r.Post("/orders/{id}/{step:prepare|ship|deliver}", s.h(s.advanceOrder))
	r.Post("/orders/{id}/cancel", s.h(s.adminCancelOrder))
	r.Post("/orders/{id}/refund", s.h(s.refundOrder))
}

// steps are the lifecycle routes' statuses (docs/ORDERS.md).
var steps = map[string]string{"prepare": order.StatusPreparing, "ship": order.StatusShipped, "deliver": order.StatusDelivered}

// orderForm reads an admin's change of an order: the order's id from the
// path and the form, whose fields read decides. The form is nil when the
// request has none to show again (an unknown order, an unreadable body).
func orderForm(r *http.Request, read func(f *form)) (int64, *form, error) {
	id, err := orderID(r)
	if err != nil {
		return 0, nil, err
	}
	f, err := parseForm(r)
	if err != nil {
		return 0, nil, err
	}
	read(f)
	return id, f, f.err()
}

func (s *Server) advanceOrder(w http.ResponseWriter, r *http.Request) error {
	var carrier, tracking string
	step := chi.URLParam(r, "step")
	id, f, err := orderForm(r, func(f *form) {
		carrier, tracking = f.text("carrier", order.CarrierText), f.text("tracking_number", order.TrackingText)
	})
	var o order.Order
	if err == nil {
		o, err = s.Orders.Advance(r.Context(), currentUser(r).ID, id, steps[step], carrier, tracking)
	}
	if err != nil {
		return s.orderRefused(w, r, id, step, f, err)
	}
	return s.orderChanged(w, r, o, "Order #"+strconv.FormatInt(id, 10)+" is "+o.Status+".")
}

func (s *Server) adminCancelOrder(w http.ResponseWriter, r *http.Request) error {
	var reason string
	id, f, err := orderForm(r, func(f *form) { reason = f.text("reason", order.ReasonText) })
	var o order.Order
	if err == nil {
		o, err = s.Orders.AdminCancel(r.Context(), currentUser(r).ID, id, reason)
	}
	if err != nil {
		return s.orderRefused(w, r, id, "cancel", f, err)
	}
	return s.orderChanged(w, r, o, "Order #"+strconv.FormatInt(id, 10)+" is cancelled; everything was given back.")
}

func (s *Server) refundOrder(w http.ResponseWriter, r *http.Request) error {
	in := order.RefundInput{AdminID: currentUser(r).ID}
	id, f, err := orderForm(r, func(f *form) {
		in.ProductID, in.Quantity = f.int64("product_id", 1, 1<<62, true, 0), f.int64("quantity", 1, order.MaxQuantity, true, 0)
		in.Restock = f.flag("restock", "Tick the box to put the units back in stock.")
		in.Reason = f.text("reason", order.ReasonText)
	})
	var o order.Order
	if err == nil {
		in.OrderID = id
		o, err = s.Orders.Refund(r.Context(), in)
	}
	if err != nil {
		return s.orderRefused(w, r, id, "refund", f, err)
	}
	return s.orderChanged(w, r, o, "Refunded "+views.Won(o.Refunded)+" on this order so far.")
}

// orderRefused answers a refused change of an order from a browser with
// the order's page again, the message beside the control that caused it
// (or at the top of the form that sent it, for a conflict with the order's
// state), as the other admin forms do. JSON clients, unknown orders and
// faults get the error itself.
func (s *Server) orderRefused(w http.ResponseWriter, r *http.Request, id int64, action string, f *form, err error) error {
	if f == nil || wantsJSON(r) {
		return err
	}
	vf, status, ok := formOf(err, f.values)
	if !ok {
		e, isErr := errs.As(err)
		if !isErr || e.Code != errs.Conflict {
			return err
		}
		vf, status = views.Form{Values: f.values, Message: e.Message}, http.StatusConflict
	}
	return s.renderAdminOrder(w, r, id, views.OrderAction{Name: action, Form: vf}, status)
}

// orderChanged answers an admin's change of an order: the order (JSON), or
// back to its page with what happened.
func (s *Server) orderChanged(w http.ResponseWriter, r *http.Request, o order.Order, done string) error {
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, orderJSON(o))
	}
	s.sessions.flash(w, r, "success", done)
	redirect(w, r, "/admin/orders/"+strconv.FormatInt(o.ID, 10))
	return nil
}

// dateLayout is the list filter's dates: an HTML date input's value, a day in the server's zone.
const dateLayout = "2006-01-02"

// orderFilter parses the list's query: status, email, an order number,
// from and to (days, both included) and the keyset cursor before.
func orderFilter(f *form) order.Filter {
	flt := order.Filter{Status: f.str("status", 20), Email: f.text("email", order.FilterEmailText)}
	flt.From, flt.Before = f.days("from", "to")
	flt.OrderID = f.int64("order", 1, 1<<62, false, 0)
	flt.BeforeID = f.int64("before", 1, 1<<62, false, 0)
	return flt
}

// days reads two optional days (dateLayout, in the shop's zone) as the
// start of the first and the end of the second, both included; nil when
// absent.
func (f *form) days(from, to string) (start, end *time.Time) {
	day := func(name string) *time.Time {
		raw := f.str(name, 10)
		if raw == "" {
			return nil
		}
		d, err := time.ParseInLocation(dateLayout, raw, time.Local)
		if err != nil {
			f.fields.Add(name, "Enter a date like 2025-05-01.")
			return nil
		}
		return &d
	}
	start, end = day(from), day(to)
	if end != nil {
		e := end.AddDate(0, 0, 1) // the whole "to" day is included
		end = &e
	}
	return start, end
}

func (s *Server) adminOrders(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	flt := orderFilter(f)
	err := f.err()
	var page order.AdminPage
	if err == nil {
		page, err = s.Orders.AdminOrders(r.Context(), flt)
	}
	v := views.AdminOrdersView{Form: views.Form{Values: f.values}}
	status := http.StatusOK
	if err != nil {
		vf, st, ok := formOf(err, f.values)
		if !ok || wantsJSON(r) {
			return err
		}
		v.Form, status = vf, st
	}
	js := make([]map[string]any, len(page.Orders))
	for i, o := range page.Orders {
		v.Orders = append(v.Orders, views.AdminOrderRow{OrderView: orderView(o.Order), Email: o.Email})
		js[i] = orderListJSON(o.Order)
		js[i]["email"] = o.Email
	}
	next := ""
	if page.NextBefore > 0 {
		q := url.Values{}
		for k, x := range f.values {
			if x != "" && k != "before" {
				q.Set(k, x)
			}
		}
		q.Set("before", strconv.FormatInt(page.NextBefore, 10))
		next = "/admin/orders?" + q.Encode()
		v.Next = next
	}
	return s.render(w, r, answer{Status: status, Page: views.AdminOrdersPage(v), Fragment: views.AdminOrdersBody(v),
		JSON: map[string]any{"orders": js, "next": next}})
}

func (s *Server) adminOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := orderID(r)
	if err != nil {
		return err
	}
	return s.renderAdminOrder(w, r, id, views.OrderAction{}, http.StatusOK)
}

// renderAdminOrder shows one order with its ledger rows; action is a
// refused change being answered (its form shown again), if any.
func (s *Server) renderAdminOrder(w http.ResponseWriter, r *http.Request, id int64, action views.OrderAction, status int) error {
	d, err := s.Orders.AdminOrder(r.Context(), id)
	if err != nil {
		return err
	}
	v := views.AdminOrderDetail{AdminOrderRow: views.AdminOrderRow{OrderView: orderView(d.Order), Email: d.Email}, ShopperName: d.ShopperName, Action: action}
	js := orderJSON(d.Order)
	js["email"], js["user_id"] = d.Email, d.UserID
	if d.CouponCampaign != nil {
		v.CouponCampaignID, v.CouponCampaign = d.CouponCampaign.ID, d.CouponCampaign.Name
		js["coupon_campaign"] = map[string]any{"id": d.CouponCampaign.ID, "name": d.CouponCampaign.Name}
	}
	if d.CouponID != nil {
		v.CouponID = *d.CouponID
	}
	ledger := make([]map[string]any, len(d.Ledger))
	for i, l := range d.Ledger {
		v.Ledger = append(v.Ledger, views.OrderLedgerRow{Ledger: l.Ledger, SubjectID: l.SubjectID, Delta: l.Delta, Reason: l.Reason, At: views.When(l.At)})
		ledger[i] = map[string]any{"ledger": l.Ledger, "subject_id": l.SubjectID, "delta": l.Delta, "reason": l.Reason, "at": l.At.Format(time.RFC3339)}
	}
	js["ledger"] = ledger
	return s.render(w, r, answer{Status: status, Page: views.AdminOrderPage(v), JSON: js})
}
