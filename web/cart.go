package web

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"market/internal/errs"
	"market/internal/order"
	"market/internal/reqctx"
	"market/views"
)

// orderRoutes: cart, checkout, orders and the wallet top-up (docs/HTTP.md).
func (s *Server) orderRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.requireUser)
		r.Get("/cart", s.h(s.cart))
		r.Post("/cart/items", s.h(s.setCartItem))
		r.Post("/cart/items/{productID}/delete", s.h(s.removeCartItem))
		r.Post("/checkout", s.h(s.checkout))
		r.Get("/orders", s.h(s.orders))
		r.Get("/orders/{id}", s.h(s.orderPage))
		r.Post("/orders/{id}/cancel", s.h(s.cancelOrder))
		r.Post("/account/topup", s.h(s.topUp))
	})
}

// cartBadge puts the number of units in the shopper's cart in the context for
// the header of full pages (not for JSON or HTMX fragments, which have no header).
func (s *Server) cartBadge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := reqctx.CurrentUser(r.Context())
		if !ok || s.Orders == nil || wantsJSON(r) || isPartial(r) || strings.HasPrefix(r.URL.Path, "/admin") {
			next.ServeHTTP(w, r)
			return
		}
		n, err := s.Orders.Units(r.Context(), u.ID)
		if err != nil {
			// The badge is decoration: log and render the page without a count.
			s.Log.Warn("cart badge", "request_id", requestIDOf(r), "err", err)
		}
		next.ServeHTTP(w, r.WithContext(reqctx.WithCartUnits(r.Context(), n)))
	})
}

func (s *Server) cart(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Orders.CheckoutView(r.Context(), currentUser(r).ID)
	if err != nil {
		return err
	}
	return s.renderCart(w, r, v, newKey(), views.Form{}, http.StatusOK)
}

func (s *Server) renderCart(w http.ResponseWriter, r *http.Request, v order.CheckoutView, key string, f views.Form, status int) error {
	vm := cartView(v, key, f)
	return s.render(w, r, answer{Status: status, Page: views.CartPage(vm), Fragment: views.CartSection(vm), JSON: cartJSON(v.Cart)})
}

func (s *Server) setCartItem(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	productID := f.int64("product_id", 1, math.MaxInt64, true, 0)
	qty := f.int64("quantity", 1, order.MaxQuantity, true, 0)
	if err := f.err(); err != nil {
		return err
	}
	c, err := s.Orders.SetItem(r.Context(), currentUser(r).ID, productID, qty)
	if err != nil {
		return err
	}
	name := ""
	for _, l := range c.Lines {
		if l.ProductID == productID {
			name = l.Name
		}
	}
	return s.cartChanged(w, r, c, views.CartAdded(name, c.Units), "Your cart now has "+strconv.FormatInt(qty, 10)+" × "+name+".")
}

func (s *Server) removeCartItem(w http.ResponseWriter, r *http.Request) error {
	id, err := parseWhole(chi.URLParam(r, "productID"))
	if err != nil {
		return errNotFound
	}
	c, err := s.Orders.RemoveItem(r.Context(), currentUser(r).ID, id)
	if err != nil {
		return err
	}
	return s.cartChanged(w, r, c, nil, "Removed from your cart.")
}

// cartChanged answers a cart change: JSON gets the cart; an HTMX request from
// the cart page gets the cart section, from elsewhere the "added" note; both
// carry the header badge out of band. A browser goes to the cart.
func (s *Server) cartChanged(w http.ResponseWriter, r *http.Request, c order.Cart, added templ.Component, flash string) error {
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, cartJSON(c))
	}
	if !isPartial(r) {
		s.sessions.flash(w, r, "success", flash)
		redirect(w, r, "/cart")
		return nil
	}
	frag := added
	if r.Header.Get("HX-Target") == "cart" || frag == nil {
		v, err := s.Orders.CheckoutView(r.Context(), currentUser(r).ID)
		if err != nil {
			return err
		}
		frag = cartSectionWithBadge(cartView(v, newKey(), views.Form{}))
	}
	return s.render(w, r, answer{Page: frag, Fragment: frag})
}

func cartSectionWithBadge(v views.CartView) templ.Component {
	return templ.Join(views.CartSection(v), views.CartBadge(v.Units, true))
}

func (s *Server) checkout(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := order.CheckoutInput{
		UserID:   currentUser(r).ID,
		CouponID: f.int64("coupon_id", 0, math.MaxInt64, false, 0),
		Points:   f.int64("points", 0, math.MaxInt64, false, 0),
		Key:      f.str("idempotency_key", order.MaxKeyLen),
	}
	if strings.TrimSpace(f.values["expected_total"]) != "" { // optional: absent is not 0
		total := f.int64("expected_total", 0, math.MaxInt64, true, 0)
		in.ExpectedTotal = &total
	}
	if err := f.err(); err != nil {
		return s.checkoutFailed(w, r, err, f, in.Key)
	}
	o, created, err := s.Orders.Checkout(r.Context(), in)
	if err != nil {
		return s.checkoutFailed(w, r, err, f, in.Key)
	}
	if wantsJSON(r) {
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return writeJSON(w, status, orderJSON(o))
	}
	if created {
		s.sessions.flash(w, r, "success", "Thank you! Your order #"+strconv.FormatInt(o.ID, 10)+" is placed.")
	}
	redirect(w, r, "/orders/"+strconv.FormatInt(o.ID, 10))
	return nil
}

// checkoutFailed shows a refused checkout on the cart page, next to the form;
// JSON clients and unexpected errors get the usual error answer.
func (s *Server) checkoutFailed(w http.ResponseWriter, r *http.Request, err error, f *form, key string) error {
	e, ok := errs.As(err)
	if !ok || wantsJSON(r) {
		return err
	}
	v, verr := s.Orders.CheckoutView(r.Context(), currentUser(r).ID)
	if verr != nil {
		return err
	}
	status := http.StatusUnprocessableEntity
	if st, ok := statusOf[e.Code]; ok {
		status = st
	}
	// A refused checkout placed nothing under its key, so the re-rendered form
	// keeps it (a repeat is still one order); only a key already spent on
	// another cart is replaced.
	if key == "" || e.Code == order.CodeIdempotencyMismatch {
		key = newKey()
	}
	vf := views.Form{Values: f.values, Errors: e.Fields, Message: e.Message}
	return s.renderCart(w, r, v, key, vf, status)
}

func cartView(v order.CheckoutView, key string, f views.Form) views.CartView {
	out := views.CartView{Subtotal: v.Cart.Subtotal, Units: v.Cart.Units, Balance: v.Balance, Points: v.Points, Key: key, Form: f}
	for _, l := range v.Cart.Lines {
		out.Lines = append(out.Lines, views.CartLine{ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity, Stock: l.Stock})
	}
	for _, c := range v.Coupons {
		out.Coupons = append(out.Coupons, views.CouponOption{ID: c.ID, Name: c.Name, Discount: c.Discount, Expires: views.When(c.ExpiresAt)})
	}
	return out
}

type cartItemJSON struct {
	ProductID int64  `json:"product_id"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Quantity  int64  `json:"quantity"`
	Stock     int64  `json:"stock"`
}

func cartJSON(c order.Cart) map[string]any {
	items := make([]cartItemJSON, len(c.Lines))
	for i, l := range c.Lines {
		items[i] = cartItemJSON{ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity, Stock: l.Stock}
	}
	return map[string]any{"items": items, "subtotal": c.Subtotal, "units": c.Units}
}

// newKey is a checkout form's idempotency key: random, made when the page renders.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
