package web

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"slices"
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
		r.Get("/checkout/preview", s.h(s.checkoutPreview))
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

// checkoutPreview is GET /checkout/preview: the price of a coupon and points
// for the cart as it is (order.Preview, the rule checkout charges by). JSON
// gets the numbers, HTMX the summary, a browser without JavaScript the cart
// page priced with that choice (its "Update total" button).
func (s *Server) checkoutPreview(w http.ResponseWriter, r *http.Request) error {
	f := newForm(r.URL.Query())
	in := choiceOf(f, currentUser(r).ID)
	if !wantsJSON(r) && !isPartial(r) {
		v, err := s.Orders.CheckoutPage(r.Context(), in)
		if err != nil {
			return err
		}
		vf := views.Form{Values: map[string]string{"coupon_id": f.values["coupon_id"], "points": f.values["points"]}, Errors: f.fields}
		status := http.StatusOK
		if ferr := f.err(); ferr != nil {
			status = statusFor(ferr)
		} else if v.QuoteErr != nil {
			status = statusFor(v.QuoteErr)
		}
		return s.renderCart(w, r, v, newKey(), vf, status)
	}
	var q order.Quote
	err := f.err()
	if err == nil {
		q, err = s.Orders.Preview(r.Context(), in)
	}
	if wantsJSON(r) {
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, quoteJSON(q))
	}
	if _, ok := errs.As(err); err != nil && !ok {
		return err
	}
	sum := summaryOf(q, err)
	// Explicitly where the summary is: a refused choice is said in the
	// summary, never over the controls.
	w.Header().Set("HX-Retarget", "#checkout-summary")
	w.Header().Set("HX-Reswap", "innerHTML")
	return s.render(w, r, answer{Status: statusFor(err), Page: views.CheckoutSummaryView(sum)})
}

// choiceOf reads the optional coupon_id and points of a preview or a cart
// change from the cart page; errors are noted in f.
func choiceOf(f *form, userID int64) order.PreviewInput {
	return order.PreviewInput{UserID: userID,
		CouponID: f.int64("coupon_id", 0, math.MaxInt64, false, 0),
		Points:   f.int64("points", 0, math.MaxInt64, false, 0)}
}

// statusFor is the status of an expected error (200 for nil).
func statusFor(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if e, ok := errs.As(err); ok {
		if st, ok := statusOf[e.Code]; ok {
			return st
		}
	}
	return http.StatusUnprocessableEntity
}

// summaryOf turns a quote and its refusal into the summary the page shows.
func summaryOf(q order.Quote, err error) views.CheckoutSummary {
	sum := views.CheckoutSummary{Subtotal: q.Subtotal, Discount: q.Discount, PointsUsed: q.PointsUsed, Charged: q.Charged,
		PointsEarned: q.PointsEarned, BalanceAfter: q.BalanceAfter, Priced: err == nil}
	if e, ok := errs.As(err); ok {
		sum.Message = e.Message
		if len(e.Fields) == 1 {
			for _, m := range e.Fields {
				sum.Message = m
			}
		}
		if e.Code == order.CodeInsufficientBalance {
			sum.Priced, sum.Short = true, true
		}
	}
	return sum
}

func quoteJSON(q order.Quote) map[string]any {
	return map[string]any{"subtotal": q.Subtotal, "discount": q.Discount, "points_used": q.PointsUsed,
		"charged": q.Charged, "points_earned": q.PointsEarned, "balance_after": q.BalanceAfter}
}

// setCartItem sets one line (product_id, quantity), or several at once when
// the pairs repeat (the cart page's "Update quantities" without JavaScript).
func (s *Server) setCartItem(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseForm(r); err != nil {
		return err
	}
	lines, err := linesOf(r.PostForm, true)
	if err != nil {
		// A bad quantity still names its line, so the message goes beside it.
		id, _ := parseWhole(r.PostForm.Get("product_id"))
		return s.cartRefused(w, r, err, max(id, 0))
	}
	c, err := s.Orders.SetItems(r.Context(), currentUser(r).ID, lines)
	if err != nil {
		return s.cartRefused(w, r, err, lines[0].ProductID)
	}
	if len(lines) > 1 {
		return s.cartChanged(w, r, c, nil, "Your cart is updated.")
	}
	productID, qty := lines[0].ProductID, lines[0].Quantity
	name := ""
	for _, l := range c.Lines {
		if l.ProductID == productID {
			name = l.Name
		}
	}
	return s.cartChanged(w, r, c, views.CartAdded(name, c.Units), "Your cart now has "+strconv.FormatInt(qty, 10)+" × "+name+".")
}

// linesOf reads repeated product_id and quantity pairs (in order); required:
// at least one pair. Anything unreadable, or a product named twice (which of
// its quantities would count?), is invalid input.
func linesOf(v url.Values, required bool) ([]order.Shown, error) {
	ids, qtys := v["product_id"], v["quantity"]
	f := errs.Fields{}
	if len(ids) != len(qtys) || (required && len(ids) == 0) {
		switch {
		case len(ids) == 0 && required:
			f.Add("product_id", "Choose a product.")
		case len(qtys) < len(ids):
			f.Add("quantity", "This field is required.")
		default:
			f.Add("product_id", "Choose a product.")
		}
		return nil, f.Err()
	}
	if len(ids) > order.MaxCartLines {
		f.Add("product_id", "A cart holds at most "+strconv.Itoa(order.MaxCartLines)+" products.")
		return nil, f.Err()
	}
	out := make([]order.Shown, len(ids))
	for i := range ids {
		one := newForm(map[string][]string{"product_id": {ids[i]}, "quantity": {qtys[i]}})
		out[i] = order.Shown{ProductID: one.int64("product_id", 1, math.MaxInt64, true, 0), Quantity: one.int64("quantity", 1, order.MaxQuantity, true, 0)}
		if err := one.err(); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out[:i], func(l order.Shown) bool { return l.ProductID == out[i].ProductID }) {
			f.Add("product_id", "Name each product once.")
			return nil, f.Err()
		}
	}
	return out, nil
}

// cartRefused answers a refused cart change beside the control that made it,
// never over the cart: from the cart page's lines, in the line's message
// area; from elsewhere (the product page), in that control's own target. A
// browser without JavaScript gets the cart page with the message.
func (s *Server) cartRefused(w http.ResponseWriter, r *http.Request, err error, productID int64) error {
	if wantsJSON(r) {
		return err
	}
	fromLines := isPartial(r) && r.Header.Get("HX-Target") == "cart-lines"
	if isPartial(r) {
		// Also for an unexpected error (s.fail's fragment): never over the cart.
		if fromLines {
			w.Header().Set("HX-Retarget", lineMessageArea(productID))
		}
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	e, ok := errs.As(err)
	if !ok {
		return err
	}
	msg := e.Message
	if len(e.Fields) == 1 {
		for _, m := range e.Fields {
			msg = m
		}
	}
	if isPartial(r) {
		if fromLines && productID > 0 {
			// The input still shows what was typed: say what the cart holds.
			if c, cerr := s.Orders.Cart(r.Context(), currentUser(r).ID); cerr == nil {
				for _, l := range c.Lines {
					if l.ProductID == productID {
						msg += " Your cart still has " + strconv.FormatInt(l.Quantity, 10) + "."
					}
				}
			}
		}
		return s.render(w, r, answer{Status: statusFor(err), Page: views.LineMessage(msg)})
	}
	v, verr := s.Orders.CheckoutView(r.Context(), currentUser(r).ID)
	if verr != nil {
		return err
	}
	vm := cartView(v, newKey(), views.Form{})
	vm.Message = msg
	return s.render(w, r, answer{Status: statusFor(err), Page: views.CartPage(vm)})
}

// lineMessageArea is where a refused change of a cart line is shown: beside
// the line, or above the checkout form when no line is known.
func lineMessageArea(productID int64) string {
	if productID > 0 {
		return "#line-msg-" + strconv.FormatInt(productID, 10)
	}
	return "#checkout-msg"
}

func (s *Server) removeCartItem(w http.ResponseWriter, r *http.Request) error {
	id, err := parseWhole(chi.URLParam(r, "productID"))
	if err != nil {
		return errNotFound
	}
	c, err := s.Orders.RemoveItem(r.Context(), currentUser(r).ID, id)
	if err != nil {
		if isPartial(r) && !wantsJSON(r) {
			// An error fragment goes beside the line, not over the cart.
			w.Header().Set("HX-Retarget", lineMessageArea(id))
			w.Header().Set("HX-Reswap", "innerHTML")
		}
		return err
	}
	return s.cartChanged(w, r, c, nil, "Removed from your cart.")
}

// cartChanged answers a cart change: JSON gets the cart; an HTMX request from
// the cart's lines gets the lines with the summary out of band, from the cart
// section the section, from elsewhere the "added" note; all carry the header
// badge out of band. A browser goes to the cart.
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
	switch target := r.Header.Get("HX-Target"); {
	case target == "cart-lines":
		// The coupon and points chosen on the page come along, so the
		// summary prices the new cart with them.
		f := newForm(r.PostForm)
		in := choiceOf(f, currentUser(r).ID)
		if f.err() != nil {
			in.CouponID, in.Points = 0, 0
		}
		v, note, err := s.pricedPage(r, in)
		if err != nil {
			return err
		}
		vm := cartView(v, "", views.Form{Values: map[string]string{"coupon_id": idOrEmpty(v.Choice.CouponID), "points": f.values["points"]}})
		if note != "" {
			vm.Summary.Message = note
		}
		if len(vm.Lines) == 0 {
			w.Header().Set("HX-Retarget", "#cart")
			frag = cartSectionWithBadge(cartView(v, newKey(), views.Form{}))
		} else {
			frag = views.CartLinesChanged(vm)
		}
	case target == "cart" || frag == nil:
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
		// The shopper's address to ship to; absent or 0 is the default one.
		AddressID: f.int64("address_id", 0, math.MaxInt64, false, 0),
	}
	if strings.TrimSpace(f.values["expected_total"]) != "" { // optional: absent is not 0
		total := f.int64("expected_total", 0, math.MaxInt64, true, 0)
		in.ExpectedTotal = &total
	}
	// The quantities the page showed (optional; the cart form sends them).
	if len(r.PostForm["product_id"]) > 0 || len(r.PostForm["quantity"]) > 0 {
		lines, lerr := linesOf(r.PostForm, false)
		if lerr != nil {
			return s.checkoutFailed(w, r, lerr, f, in)
		}
		in.Lines = lines
	}
	if err := f.err(); err != nil {
		return s.checkoutFailed(w, r, err, f, in)
	}
	o, created, err := s.Orders.Checkout(r.Context(), in)
	if err != nil {
		return s.checkoutFailed(w, r, err, f, in)
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

// checkoutFailed shows a refused checkout on the cart page, the message
// beside the form, with the cart and its price as they are now (so a
// price_changed shows, and sends, the new amount); over HTMX the cart section
// is swapped. JSON clients and unexpected errors get the usual error answer.
func (s *Server) checkoutFailed(w http.ResponseWriter, r *http.Request, err error, f *form, in order.CheckoutInput) error {
	e, ok := errs.As(err)
	if !ok || wantsJSON(r) {
		return err
	}
	choice := order.PreviewInput{UserID: in.UserID, CouponID: in.CouponID, Points: in.Points}
	v, _, verr := s.pricedPage(r, choice)
	if verr != nil {
		return err
	}
	f.values["coupon_id"] = idOrEmpty(v.Choice.CouponID)
	// A refused checkout placed nothing under its key, so the re-rendered form
	// keeps it (a repeat is still one order); only a key already spent on
	// another cart is replaced.
	key := in.Key
	if key == "" || e.Code == order.CodeIdempotencyMismatch {
		key = newKey()
	}
	vf := views.Form{Values: f.values, Errors: e.Fields, Message: e.Message}
	if isPartial(r) {
		w.Header().Set("HX-Retarget", "#cart")
		w.Header().Set("HX-Reswap", "outerHTML")
	}
	return s.renderCart(w, r, v, key, vf, statusFor(err))
}

// pricedPage is the cart page priced with the shopper's choice. A chosen
// coupon that no longer applies (the cart changed under it) is dropped and
// said in note: the form cannot show a disabled option as chosen, and the
// summary and expected_total must price what the form will send.
func (s *Server) pricedPage(r *http.Request, in order.PreviewInput) (v order.CheckoutView, note string, err error) {
	v, err = s.Orders.CheckoutPage(r.Context(), in)
	if err != nil || in.CouponID == 0 || !errs.Is(v.QuoteErr, order.CodeCouponInvalid) {
		return v, "", err
	}
	e, _ := errs.As(v.QuoteErr)
	in.CouponID = 0
	v, err = s.Orders.CheckoutPage(r.Context(), in)
	return v, "Your coupon no longer applies, so it is not used: " + strings.ToLower(e.Message[:1]) + e.Message[1:], err
}

func idOrEmpty(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func cartView(v order.CheckoutView, key string, f views.Form) views.CartView {
	out := views.CartView{Subtotal: v.Cart.Subtotal, Units: v.Cart.Units, Balance: v.Balance, Points: v.Points, Key: key, Form: f,
		Summary: summaryOf(v.Quote, v.QuoteErr)}
	for _, l := range v.Cart.Lines {
		out.Lines = append(out.Lines, views.CartLine{ProductID: l.ProductID, Name: l.Name, Price: l.Price, Quantity: l.Quantity, Stock: l.Stock})
	}
	for _, c := range v.Coupons {
		out.Coupons = append(out.Coupons, views.CouponOption{ID: c.ID, Name: c.Name, Discount: c.Discount, Expires: views.When(c.ExpiresAt), Reason: c.Reason})
	}
	for _, a := range v.Addresses {
		out.Addresses = append(out.Addresses, views.Address{ID: a.ID, Recipient: a.Recipient, Phone: a.Phone, PostalCode: a.PostalCode,
			Line1: a.Line1, Line2: a.Line2, IsDefault: a.IsDefault})
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
