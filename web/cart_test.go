package web

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"market/internal/db"
	"market/internal/testenv"
)

// GET /checkout/preview answers the price with the fields of an order, and
// bad input with the codes checkout uses, never a 500.
func TestCheckoutPreviewOverHTTP(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 20_000, 10)
	c := h.shopper("preview@example.test", 100_000)
	js := c.json()
	if r := js.get("/checkout/preview"); r.status != 422 || decode(t, r)["code"] != "cart_empty" {
		t.Fatalf("empty cart: %d %s", r.status, r.body)
	}
	js.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	coupon := h.count(`WITH k AS (INSERT INTO campaigns (name, discount_type, discount_value, max_discount, min_order_amount, total_quantity, starts_at, ends_at, state)
		VALUES ('Ten off', 'percent', 10, 3000, 30000, 10, now() - interval '1 day', now() + interval '1 day', 'active') RETURNING id)
		INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at) SELECT k.id, u.id, now(), now() + interval '1 day'
		FROM k, users u WHERE u.email = 'preview@example.test' RETURNING id`)
	if _, err := h.pool.Exec(t.Context(), "UPDATE users SET points = 500 WHERE email = 'preview@example.test'"); err != nil {
		t.Fatal(err)
	}
	poor := h.shopper("poor@example.test", 1000).json()
	poor.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	before := h.state()

	r := js.get(fmt.Sprintf("/checkout/preview?coupon_id=%d&points=200", coupon))
	m := decode(t, r)
	want := map[string]any{"subtotal": 40000.0, "discount": 3000.0, "points_used": 200.0, "charged": 36800.0, "points_earned": 368.0, "balance_after": 63200.0}
	if r.status != 200 || fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("preview: %d %s, want %v", r.status, r.body, want)
	}

	tests := []struct {
		name, query string
		status      int
		code        string
	}{
		{"points not a number", "points=abc", 422, "invalid_input"},
		{"negative points", "points=-1", 422, "invalid_input"},
		{"more points than held", "points=501", 422, "invalid_input"},
		{"coupon id not a number", "coupon_id=x", 422, "invalid_input"},
		{"coupon id beyond int64", "coupon_id=99999999999999999999", 422, "invalid_input"},
		{"unknown coupon", "coupon_id=999999", 422, "coupon_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := js.get("/checkout/preview?" + tt.query)
			if m := decode(t, r); r.status != tt.status || m["code"] != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	t.Run("below the coupon's minimum", func(t *testing.T) {
		js.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
		defer js.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
		r := js.get(fmt.Sprintf("/checkout/preview?coupon_id=%d", coupon))
		if m := decode(t, r); r.status != 422 || m["code"] != "coupon_invalid" || !strings.Contains(r.body, "₩30,000") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("insufficient balance", func(t *testing.T) {
		if r := poor.get("/checkout/preview"); r.status != 409 || decode(t, r)["code"] != "insufficient_balance" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("HTMX gets the summary, a refusal in it", func(t *testing.T) {
		r := c.get(fmt.Sprintf("/checkout/preview?coupon_id=%d&points=200", coupon), "HX-Request", "true")
		if r.status != 200 || !strings.Contains(r.body, `data-testid="charged">₩36,800<`) || !strings.Contains(r.body, `name="expected_total" value="36800"`) || strings.Contains(r.body, "<html") {
			t.Fatalf("%d\n%s", r.status, r.body)
		}
		r = c.get("/checkout/preview?points=501", "HX-Request", "true")
		if r.status != 422 || r.header.Get("HX-Retarget") != "#checkout-summary" || !strings.Contains(r.body, "You have 500 points") || strings.Contains(r.body, "expected_total") {
			t.Fatalf("%d %v\n%s", r.status, r.header, r.body)
		}
	})
	t.Run("a browser without JavaScript gets the cart priced with its choice", func(t *testing.T) {
		r := c.get(fmt.Sprintf("/checkout/preview?coupon_id=%d&points=200", coupon))
		if r.status != 200 || !strings.Contains(r.body, "<h1>Your cart</h1>") || !strings.Contains(r.body, `data-testid="charged">₩36,800<`) ||
			!strings.Contains(r.body, fmt.Sprintf(`<option value="%d" selected>`, coupon)) {
			t.Fatalf("%d\n%s", r.status, r.body)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		anon := h.client()
		if r := anon.json().get("/checkout/preview"); r.status != 401 {
			t.Fatalf("JSON: %d", r.status)
		}
		if r := anon.get("/checkout/preview"); r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
			t.Fatalf("browser: %d %v", r.status, r.header)
		}
	})
	if after := h.state(); after != before {
		t.Errorf("a preview changed something: %s -> %s", before, after)
	}

	// And the preview is what checkout charges.
	o := decode(t, js.post("/checkout", url.Values{"idempotency_key": {"k"}, "coupon_id": {fmt.Sprint(coupon)}, "points": {"200"}, "expected_total": {"36800"}}))
	if o["charged"] != 36800.0 || o["discount"] != 3000.0 || o["points_used"] != 200.0 || o["points_earned"] != 368.0 {
		t.Fatalf("order %v, the preview said ₩36,800", o)
	}
}

// Coupons that do not apply are listed disabled with the reason; the page
// sends the previewed amount as expected_total.
func TestCartPageOffersCouponsWithReasons(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 10_000, 10)
	c := h.shopper("reasons@example.test", 100_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	h.count(`WITH k AS (INSERT INTO campaigns (name, discount_type, discount_value, min_order_amount, total_quantity, starts_at, ends_at, state)
		VALUES ('Big spender', 'fixed', 5000, 30000, 10, now() - interval '1 day', now() + interval '1 day', 'active') RETURNING id)
		INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at) SELECT k.id, u.id, now(), now() + interval '1 day'
		FROM k, users u WHERE u.email = 'reasons@example.test' RETURNING id`)
	page := c.get("/cart").body
	if !strings.Contains(page, "disabled>Big spender — needs an order of ₩30,000</option>") {
		t.Fatalf("the coupon below its minimum is not shown disabled with its reason:\n%s", page)
	}
	if got := hiddenValue(t, page, "expected_total"); got != "20000" {
		t.Fatalf("expected_total %q, want 20000", got)
	}
	for _, s := range []string{`data-testid="charged">₩20,000<`, `data-testid="points-earned">200<`, `data-testid="balance-after">₩80,000<`} {
		if !strings.Contains(page, s) {
			t.Errorf("summary lacks %s", s)
		}
	}
}

// A quantity above the stock left is refused with the number left, beside
// the line over HTMX; a quantity applied from the cart page swaps the lines
// with the summary out of band, never the checkout form.
func TestCartQuantityChangesOverHTMX(t *testing.T) {
	h := newHarness(t)
	p := h.product("Lamp", 3_000, 2)
	c := h.shopper("qty@example.test", 100_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	before := h.state()
	r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"5"}}, "HX-Request", "true", "HX-Target", "cart-lines")
	if r.status != 409 || r.header.Get("HX-Retarget") != fmt.Sprintf("#line-msg-%d", p) || !strings.Contains(r.body, "Only 2 left of Lamp. Choose 2 or fewer. Your cart still has 1.") || strings.Contains(r.body, "<table") {
		t.Fatalf("%d %v\n%s", r.status, r.header, r.body)
	}
	if after := h.state(); after != before {
		t.Errorf("changed: %s -> %s", before, after)
	}
	// From the product page: the message goes to the add button's own area.
	r = c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"5"}}, "HX-Request", "true", "HX-Target", "add-result")
	if r.status != 409 || r.header.Get("HX-Retarget") != "" || !strings.Contains(r.body, "Only 2 left") {
		t.Fatalf("%d %v\n%s", r.status, r.header, r.body)
	}
	r = c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}, "points": {""}, "coupon_id": {""}}, "HX-Request", "true", "HX-Target", "cart-lines")
	if r.status != 200 || !strings.Contains(r.body, `<div id="cart-lines">`) || !strings.Contains(r.body, `id="checkout-summary" hx-swap-oob="innerHTML"`) ||
		!strings.Contains(r.body, `name="expected_total" value="6000"`) || strings.Contains(r.body, `id="checkout-form"`) {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	// Without JavaScript: the cart page with the message, nothing changed.
	before = h.state()
	r = c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"3"}})
	if r.status != 409 || !strings.Contains(r.body, "<h1>Your cart</h1>") || !strings.Contains(r.body, "Only 2 left of Lamp") {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	if after := h.state(); after != before {
		t.Errorf("changed: %s -> %s", before, after)
	}
}

// The checkout form sends the quantities on the page: typed but not applied
// (or changed in another tab) is refused, never ordered silently; the
// "Update quantities" fallback sets every line at once.
func TestCheckoutOrdersTheQuantitiesOnThePage(t *testing.T) {
	h := newHarness(t)
	p := h.product("Mug", 1_000, 10)
	q := h.product("Plate", 2_000, 10)
	c := h.shopper("typed@example.test", 100_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(q)}, "quantity": {"1"}})
	page := c.get("/cart").body
	form := url.Values{"idempotency_key": {hiddenValue(t, page, "idempotency_key")}, "expected_total": {"3000"},
		"product_id": {fmt.Sprint(p), fmt.Sprint(q)}, "quantity": {"3", "1"}}
	before := h.state()
	r := c.post("/checkout", form)
	if r.status != 409 || !strings.Contains(r.body, "Your cart has 1 × Mug, not the 3 on the page.") {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	if after := h.state(); after != before {
		t.Errorf("changed: %s -> %s", before, after)
	}
	if r := c.json().post("/checkout", url.Values{"idempotency_key": {"x"}, "product_id": {fmt.Sprint(p)}, "quantity": {"0"}}); r.status != 422 || decode(t, r)["code"] != "invalid_input" {
		t.Fatalf("a bad shown quantity: %d %s", r.status, r.body)
	}
	// "Update quantities" posts the checkout form to /cart/items.
	if r := c.post("/cart/items", form); r.status != 303 {
		t.Fatalf("update quantities: %d %s", r.status, r.body)
	}
	form.Set("expected_total", "5000")
	r = c.post("/checkout", form)
	if r.status != 303 {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
	o := decode(t, c.json().get(r.header.Get("Location")))
	if o["charged"] != 5000.0 || fmt.Sprint(o["items"]) != fmt.Sprintf("[map[name:Mug price:1000 product_id:%d quantity:3 refunded:0] map[name:Plate price:2000 product_id:%d quantity:1 refunded:0]]", p, q) {
		t.Fatalf("order %v", o)
	}
}

// A chosen coupon that a quantity change leaves below its minimum is dropped
// and said, so the summary and expected_total price what the form will send.
func TestACouponLeftBelowItsMinimumIsDroppedAndSaid(t *testing.T) {
	h := newHarness(t)
	p := h.product("Vase", 10_000, 10)
	c := h.shopper("dropped@example.test", 100_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"3"}})
	coupon := h.count(`WITH k AS (INSERT INTO campaigns (name, discount_type, discount_value, min_order_amount, total_quantity, starts_at, ends_at, state)
		VALUES ('Big spender', 'fixed', 5000, 30000, 10, now() - interval '1 day', now() + interval '1 day', 'active') RETURNING id)
		INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at) SELECT k.id, u.id, now(), now() + interval '1 day'
		FROM k, users u WHERE u.email = 'dropped@example.test' RETURNING id`)
	r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}, "coupon_id": {fmt.Sprint(coupon)}, "points": {""}},
		"HX-Request", "true", "HX-Target", "cart-lines")
	if r.status != 200 || !strings.Contains(r.body, "Your coupon no longer applies, so it is not used: this coupon needs an order of ₩30,000 or more.") ||
		!strings.Contains(r.body, `name="expected_total" value="20000"`) || strings.Contains(r.body, " selected>") {
		t.Fatalf("%d\n%s", r.status, r.body)
	}
}

// An outage while a line changes is said beside the line (503), never over
// the cart.
func TestCartLineOutageIsShownBesideTheLine(t *testing.T) {
	_, raw := testenv.DBWithURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	pool, err := db.Open(t.Context(), u.String(), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarnessOn(t, pool)
	p := h.product("Kettle", 1000, 10)
	c := h.shopper("outage-cart@example.test", 10_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})

	proxy.Cut()
	defer proxy.Restore()
	r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}}, "HX-Request", "true", "HX-Target", "cart-lines")
	if r.status != 503 || r.header.Get("HX-Retarget") != fmt.Sprintf("#line-msg-%d", p) || r.header.Get("HX-Reswap") != "innerHTML" || !strings.Contains(r.body, "cannot reach its data") {
		t.Fatalf("change: %d %v\n%s", r.status, r.header, r.body)
	}
	r = c.post(fmt.Sprintf("/cart/items/%d/delete", p), nil, "HX-Request", "true", "HX-Target", "cart")
	if r.status != 503 || r.header.Get("HX-Retarget") != fmt.Sprintf("#line-msg-%d", p) || r.header.Get("HX-Reswap") != "innerHTML" {
		t.Fatalf("remove: %d %v\n%s", r.status, r.header, r.body)
	}
}

// Removing a line twice (a second click) leaves the cart as the first did;
// removing a product that does not exist is 404, as adding one is.
func TestRemovingACartLineTwiceIsDoneAndAnUnknownProductIsNotFound(t *testing.T) {
	h := newHarness(t)
	p := h.product("Mug", 8_000, 5)
	c := h.shopper("remove@example.test", 0).json()
	if r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}}); r.status != 200 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	for i := range 2 {
		r := c.post(fmt.Sprintf("/cart/items/%d/delete", p), nil)
		if cart := decode(t, r); r.status != 200 || len(cart["items"].([]any)) != 0 {
			t.Fatalf("remove %d: %d %s", i+1, r.status, r.body)
		}
	}
	for _, id := range []string{"999999", "0", "-1", "x"} {
		if r := c.post("/cart/items/"+id+"/delete", nil); r.status != 404 || decode(t, r)["code"] != "not_found" {
			t.Fatalf("remove %s: %d %s", id, r.status, r.body)
		}
	}
}
