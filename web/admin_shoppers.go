package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/order"
	"market/internal/text"
	"market/views"
)

func (s *Server) adminShopperRoutes(r chi.Router) {
	r.Get("/shoppers", s.h(s.adminShoppers))
	r.Get("/shoppers/{id}", s.h(s.adminShopper))
	r.Post("/shoppers/{id}/adjust", s.h(s.adjustShopper))
	r.Post("/shoppers/{id}/disable", s.h(s.disableShopper))
	r.Post("/shoppers/{id}/enable", s.h(s.enableShopper))
}

// shopperQueryText is the list's search box: the start of an email or a name.
var shopperQueryText = text.Options{Label: "The search", Max: 100}

func (s *Server) adminShoppers(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	q := f.text("q", shopperQueryText)
	after := f.str("after", 20)
	if err := f.err(); err != nil {
		return err
	}
	page, err := s.Accounts.Shoppers(r.Context(), q, after)
	if err != nil {
		return err
	}
	v := views.AdminShoppersView{Q: q}
	js := make([]map[string]any, len(page.Shoppers))
	for i, sh := range page.Shoppers {
		v.Shoppers = append(v.Shoppers, views.ShopperRow{ID: sh.ID, Email: sh.Email, Name: sh.Name, Balance: sh.Balance,
			Points: sh.Points, Disabled: sh.DisabledAt != nil, Since: views.When(sh.CreatedAt)})
		js[i] = map[string]any{"id": sh.ID, "email": sh.Email, "name": sh.Name, "balance": sh.Balance, "points": sh.Points,
			"disabled": sh.DisabledAt != nil}
	}
	if page.Next != "" {
		next := url.Values{"after": {page.Next}}
		if q != "" {
			next.Set("q", q)
		}
		v.Next = "/admin/shoppers?" + next.Encode()
	}
	return s.render(w, r, answer{Page: views.AdminShoppersPage(v), Fragment: views.AdminShoppersBody(v),
		JSON: map[string]any{"shoppers": js, "next_cursor": page.Next}})
}

func (s *Server) adminShopper(w http.ResponseWriter, r *http.Request) error {
	return s.renderShopper(w, r, views.Form{}, http.StatusOK)
}

// renderShopper shows one shopper with everything support needs; adjust is
// the adjustment form being answered.
func (s *Server) renderShopper(w http.ResponseWriter, r *http.Request, adjust views.Form, status int) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, disabledAt, err := s.Accounts.Shopper(ctx, id)
	if err != nil {
		return err
	}
	wal, err := s.Orders.Wallet(ctx, id)
	if err != nil {
		return err
	}
	coupons, err := s.Coupons.ListForUser(ctx, id)
	if err != nil {
		return err
	}
	orders, _, err := s.Orders.Orders(ctx, id, 0) // the newest page
	if err != nil {
		return err
	}
	addresses, err := s.Accounts.Addresses(ctx, id)
	if err != nil {
		return err
	}
	v := views.AdminShopperView{ID: u.ID, Email: u.Email, Name: u.Name, Balance: wal.Balance, Points: wal.Points,
		Since: views.When(u.CreatedAt), Coupons: myCoupons(coupons), Adjust: adjust,
		BalanceHistory: ledgerRows(wal.BalanceHistory, "/admin/orders/"), PointsHistory: ledgerRows(wal.PointsHistory, "/admin/orders/")}
	if disabledAt != nil {
		v.Disabled = views.When(*disabledAt)
	}
	ordersJS := make([]map[string]any, len(orders))
	for i, o := range orders {
		v.Orders = append(v.Orders, orderView(o))
		ordersJS[i] = orderListJSON(o)
	}
	for _, a := range addresses {
		v.Addresses = append(v.Addresses, views.Address(a))
	}
	js := map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "balance": wal.Balance, "points": wal.Points,
		"disabled": disabledAt != nil, "created_at": u.CreatedAt.Format(time.RFC3339), "coupons": couponsJSON(coupons),
		"orders": ordersJS, "addresses": addresses,
		"balance_history": ledgerJSON(wal.BalanceHistory), "points_history": ledgerJSON(wal.PointsHistory)}
	return s.render(w, r, answer{Status: status, Page: views.AdminShopperPage(v), JSON: js})
}

// adjustShopper corrects a shopper's balance or points with a reason.
func (s *Server) adjustShopper(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, _, err := s.Accounts.Shopper(r.Context(), id); err != nil {
		return err // admins' wallets are not adjusted here
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	a := order.Adjustment{UserID: id, Kind: f.str("kind", 20),
		Delta: f.int64("delta", -order.MaxAdjustment, order.MaxAdjustment, true, 0), Note: f.text("reason", adjustReasonText)}
	err = f.errWith(a.Validate)
	var wal order.Wallet
	if err == nil {
		wal, err = s.Orders.Adjust(r.Context(), a)
	}
	if err != nil {
		if vf, status, ok := formOf(err, f.values); ok && !wantsJSON(r) {
			return s.renderShopper(w, r, vf, status)
		}
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]any{"balance": wal.Balance, "points": wal.Points})
	}
	s.sessions.flash(w, r, "success", "Adjusted the "+a.Kind+".")
	redirect(w, r, "/admin/shoppers/"+strconv.FormatInt(id, 10))
	return nil
}

var adjustReasonText = text.Options{Label: "The reason", Max: 200}

func (s *Server) disableShopper(w http.ResponseWriter, r *http.Request) error {
	return s.setShopperDisabled(w, r, true)
}

func (s *Server) enableShopper(w http.ResponseWriter, r *http.Request) error {
	return s.setShopperDisabled(w, r, false)
}

func (s *Server) setShopperDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Accounts.SetDisabled(r.Context(), id, disabled); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]any{"id": id, "disabled": disabled})
	}
	msg := "The account is enabled again."
	if disabled {
		msg = "The account is disabled and signed out everywhere."
	}
	s.sessions.flash(w, r, "success", msg)
	redirect(w, r, "/admin/shoppers/"+strconv.FormatInt(id, 10))
	return nil
}
