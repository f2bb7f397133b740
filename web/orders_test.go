package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"market/internal/errs"
)

// product inserts a product with stock straight into the tables.
func (h *harness) product(name string, price, stock int64) int64 {
	h.t.Helper()
	_, err := h.pool.Exec(h.t.Context(), "INSERT INTO categories (slug, name) VALUES ('test', 'Test') ON CONFLICT DO NOTHING")
	if err != nil {
		h.t.Fatal(err)
	}
	id := h.count(`INSERT INTO products (sku, name, brand, category_id, price)
		VALUES ('SKU-' || gen_random_uuid(), $1, 'Brand', (SELECT id FROM categories WHERE slug = 'test'), $2) RETURNING id`, name, price)
	if _, err := h.pool.Exec(h.t.Context(), "INSERT INTO product_stock (product_id, stock, opening_stock) VALUES ($1, $2, $2)", id, stock); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// shopper signs up a new shopper with a delivery address and a topped-up
// balance.
func (h *harness) shopper(email string, balance int64) *client {
	h.t.Helper()
	c := h.client()
	c.signup(email, "Shopper", "password123")
	if r := c.post("/account/addresses", addressForm("Shopper", true)); r.status != http.StatusSeeOther {
		h.t.Fatalf("address: %d %s", r.status, r.body)
	}
	if balance > 0 {
		if r := c.post("/account/topup", url.Values{"amount": {fmt.Sprint(balance)}}); r.status != http.StatusSeeOther {
			h.t.Fatalf("top-up: %d %s", r.status, r.body)
		}
	}
	return c
}

func decode(t testing.TB, r reply) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("status %d, not JSON: %s", r.status, r.body)
	}
	return m
}

// state is everything a refused request must leave alone.
func (h *harness) state() string {
	var s string
	err := h.pool.QueryRow(h.t.Context(), `SELECT concat_ws('/', (SELECT count(*) FROM orders),
		(SELECT coalesce(sum(balance), 0) FROM users), (SELECT coalesce(sum(points), 0) FROM users),
		(SELECT coalesce(sum(stock), 0) FROM product_stock), (SELECT count(*) FROM cart_items),
		(SELECT coalesce(sum(quantity), 0) FROM cart_items), (SELECT count(*) FROM coupons WHERE status = 'used'))`).Scan(&s)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func TestCartAndCheckoutRefuseBadInputAndChangeNothing(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 10_000, 5)
	c := h.shopper("bad@example.test", 50_000).json()
	other := h.shopper("other@example.test", 50_000).json()
	if r := other.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}}); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	placed := decode(t, other.post("/checkout", url.Values{"idempotency_key": {"o1"}}))
	othersOrder := fmt.Sprint(placed["id"])
	if r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}}); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	othersCoupon := h.count(`WITH k AS (INSERT INTO campaigns (name, discount_type, discount_value, total_quantity, starts_at, ends_at, state)
		VALUES ('Sale', 'fixed', 1000, 10, now() - interval '1 day', now() + interval '1 day', 'active') RETURNING id)
		INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at) SELECT k.id, u.id, now(), now() + interval '1 day'
		FROM k, users u WHERE u.email = 'other@example.test' RETURNING id`)

	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
		code   string
	}{
		{"quantity 0", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"0"}}, 422, "invalid_input"},
		{"quantity -1", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"-1"}}, 422, "invalid_input"},
		{"quantity 100", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"100"}}, 422, "invalid_input"},
		{"quantity 9e18", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"9e18"}}, 422, "invalid_input"},
		{"quantity beyond int64", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"99999999999999999999"}}, 422, "invalid_input"},
		{"quantity not a number", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"two"}}, 422, "invalid_input"},
		{"quantity missing", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}}, 422, "invalid_input"},
		{"unknown product", "/cart/items", url.Values{"product_id": {"999999"}, "quantity": {"1"}}, 404, "not_found"},
		{"product id not a number", "/cart/items", url.Values{"product_id": {"abc"}, "quantity": {"1"}}, 422, "invalid_input"},
		{"one product set twice", "/cart/items", url.Values{"product_id": {fmt.Sprint(p), fmt.Sprint(p)}, "quantity": {"1", "3"}}, 422, "invalid_input"},
		{"remove a forged product id", "/cart/items/abc/delete", nil, 404, "not_found"},
		// Which of the two quantities did the page show? (The cart holds 2.)
		{"one line shown twice", "/checkout", url.Values{"idempotency_key": {"k"}, "product_id": {fmt.Sprint(p), fmt.Sprint(p)}, "quantity": {"5", "2"}}, 422, "invalid_input"},
		{"negative points", "/checkout", url.Values{"idempotency_key": {"k"}, "points": {"-1"}}, 422, "invalid_input"},
		{"more points than owned", "/checkout", url.Values{"idempotency_key": {"k"}, "points": {"5"}}, 422, "invalid_input"},
		{"points not a number", "/checkout", url.Values{"idempotency_key": {"k"}, "points": {"lots"}}, 422, "invalid_input"},
		{"another shopper's coupon", "/checkout", url.Values{"idempotency_key": {"k"}, "coupon_id": {fmt.Sprint(othersCoupon)}}, 422, "coupon_invalid"},
		{"coupon id not a number", "/checkout", url.Values{"idempotency_key": {"k"}, "coupon_id": {"x"}}, 422, "invalid_input"},
		{"missing idempotency key", "/checkout", url.Values{}, 422, "invalid_input"},
		{"idempotency key too long", "/checkout", url.Values{"idempotency_key": {strings.Repeat("k", 256)}}, 422, "invalid_input"},
		{"idempotency key of 256 characters", "/checkout", url.Values{"idempotency_key": {strings.Repeat("가", 256)}}, 422, "invalid_input"},
		{"top-up with commas out of place", "/account/topup", url.Values{"amount": {"1,2"}}, 422, "invalid_input"},
		{"cancel another shopper's order", "/orders/" + othersOrder + "/cancel", nil, 404, "not_found"},
		{"cancel a forged order id", "/orders/99999999/cancel", nil, 404, "not_found"},
		{"cancel a non-numeric order id", "/orders/1%20OR%201=1/cancel", nil, 404, "not_found"},
		{"top-up of 0", "/account/topup", url.Values{"amount": {"0"}}, 422, "invalid_input"},
		{"top-up over a million", "/account/topup", url.Values{"amount": {"1000001"}}, 422, "invalid_input"},
		{"negative top-up", "/account/topup", url.Values{"amount": {"-5"}}, 422, "invalid_input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.state()
			r := c.post(tt.path, tt.form)
			m := decode(t, r)
			if r.status != tt.status || m["code"] != tt.code || m["error"] == "" {
				t.Fatalf("status %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if after := h.state(); after != before {
				t.Errorf("changed: %s -> %s", before, after)
			}
			// A browser gets a readable page with the same status, never a 500.
			if br := h.client(); true {
				br.login("bad@example.test", "password123")
				if got := br.post(tt.path, tt.form); got.status != tt.status {
					t.Errorf("browser: status %d, want %d", got.status, tt.status)
				}
			}
		})
	}

	t.Run("another shopper's order is not found", func(t *testing.T) {
		for _, path := range []string{"/orders/" + othersOrder, "/orders/0", "/orders/-1", "/orders/abc"} {
			if r := c.get(path); r.status != 404 {
				t.Errorf("%s: %d", path, r.status)
			}
		}
	})
	t.Run("empty cart", func(t *testing.T) {
		r := other.post("/checkout", url.Values{"idempotency_key": {"o2"}})
		if m := decode(t, r); r.status != 422 || m["code"] != "cart_empty" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("out of stock is 409", func(t *testing.T) {
		before := h.state()
		r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"9"}})
		if m := decode(t, r); r.status != 409 || m["code"] != "out_of_stock" || !strings.Contains(r.body, "Only 4 left of Kettle") {
			t.Fatalf("adding more than the stock left: %d %s", r.status, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("changed: %s -> %s", before, after)
		}
		// Sold since it was added: checkout refuses.
		if _, err := h.pool.Exec(t.Context(), "UPDATE product_stock SET stock = 1 WHERE product_id = $1", p); err != nil {
			t.Fatal(err)
		}
		before = h.state()
		r = c.post("/checkout", url.Values{"idempotency_key": {"k9"}})
		if m := decode(t, r); r.status != 409 || m["code"] != "out_of_stock" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("changed: %s -> %s", before, after)
		}
	})
	t.Run("insufficient balance is 409", func(t *testing.T) {
		q := h.product("Piano", 1_000_000, 5)
		c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
		c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(q)}, "quantity": {"1"}})
		before := h.state()
		r := c.post("/checkout", url.Values{"idempotency_key": {"k10"}})
		if m := decode(t, r); r.status != 409 || m["code"] != "insufficient_balance" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("changed: %s -> %s", before, after)
		}
	})
}

func TestCheckoutAnswersByIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	p, q := h.product("Mug", 3_000, 50), h.product("Tea", 2_000, 50)
	c := h.shopper("idem@example.test", 100_000).json()
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})

	var mu sync.Mutex
	statuses := map[int]int{}
	ids := map[any]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := c.post("/checkout", url.Values{"idempotency_key": {"five-tabs"}})
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			mu.Lock()
			statuses[r.status]++
			ids[m["id"]]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if statuses[201] != 1 || statuses[200] != 4 || len(ids) != 1 {
		t.Fatalf("statuses %v ids %v: want one 201 and four 200 with one order", statuses, ids)
	}
	var id any
	for k := range ids {
		id = k
	}
	r := c.post("/checkout", url.Values{"idempotency_key": {"five-tabs"}})
	if m := decode(t, r); r.status != 200 || m["id"] != id || m["charged"] != 6000.0 || m["status"] != "placed" {
		t.Fatalf("repeat: %d %s", r.status, r.body)
	}
	if bal := h.count("SELECT balance FROM users WHERE email = 'idem@example.test'"); bal != 94_000 {
		t.Fatalf("balance %d: charged more than once", bal)
	}
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(q)}, "quantity": {"1"}})
	if r := c.post("/checkout", url.Values{"idempotency_key": {"five-tabs"}}); r.status != 422 {
		t.Fatalf("same key, different cart: %d %s", r.status, r.body)
	}
	// A browser's repeat goes to the same order page.
	br := h.client()
	br.login("idem@example.test", "password123")
	br.post("/cart/items", url.Values{"product_id": {fmt.Sprint(q)}, "quantity": {"1"}})
	first := br.post("/checkout", url.Values{"idempotency_key": {"click"}})
	second := br.post("/checkout", url.Values{"idempotency_key": {"click"}})
	if first.status != 303 || second.status != 303 || first.header.Get("Location") != second.header.Get("Location") {
		t.Fatalf("double click: %d %s, %d %s", first.status, first.header.Get("Location"), second.status, second.header.Get("Location"))
	}
	if n := h.count("SELECT count(*) FROM orders"); n != 2 {
		t.Fatalf("%d orders", n)
	}
}

func TestOrderPagesAndCancelOverHTTP(t *testing.T) {
	h := newHarness(t)
	p := h.product("Lamp", 12_000, 3)
	c := h.shopper("pages@example.test", 20_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})

	cart := c.get("/cart")
	if cart.status != 200 || !strings.Contains(cart.body, "Lamp") || !strings.Contains(cart.body, `name="idempotency_key"`) || !strings.Contains(cart.body, ">1<span class=\"sr-only\"> item</span>") {
		t.Fatalf("cart page: %d\n%s", cart.status, cart.body)
	}
	j := decode(t, c.json().get("/cart"))
	if j["subtotal"] != 12000.0 || len(j["items"].([]any)) != 1 {
		t.Fatalf("cart JSON %v", j)
	}
	r := c.post("/checkout", url.Values{"idempotency_key": {"page"}})
	if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/orders/") {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	page := c.get(r.header.Get("Location"))
	if page.status != 200 || !strings.Contains(page.body, "Cancel order") || !strings.Contains(page.body, "₩12,000") {
		t.Fatalf("order page: %d", page.status)
	}
	list := decode(t, c.json().get("/orders"))
	if len(list["orders"].([]any)) != 1 {
		t.Fatalf("orders JSON %v", list)
	}
	cancel := c.post(r.header.Get("Location")+"/cancel", nil)
	if cancel.status != 303 {
		t.Fatalf("cancel: %d %s", cancel.status, cancel.body)
	}
	again := c.json().post(r.header.Get("Location")+"/cancel", nil)
	if m := decode(t, again); again.status != 409 || m["code"] != "conflict" {
		t.Fatalf("double cancel: %d %s", again.status, again.body)
	}
	acc := decode(t, c.json().get("/account"))
	if acc["balance"] != 20000.0 || acc["points"] != 0.0 || len(acc["balance_history"].([]any)) != 3 {
		t.Fatalf("account after cancel: %v", acc)
	}
}

func TestAddToCartOverHTMXUpdatesTheBadge(t *testing.T) {
	h := newHarness(t)
	p := h.product("Socks", 5_000, 10)
	c := h.shopper("badge@example.test", 0)
	r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"3"}}, "HX-Request", "true")
	if r.status != 200 || !strings.Contains(r.body, `id="cart-count"`) || !strings.Contains(r.body, `hx-swap-oob="true"`) || !strings.Contains(r.body, "Added Socks") {
		t.Fatalf("HTMX add: %d\n%s", r.status, r.body)
	}
	home := c.get("/")
	if !strings.Contains(home.body, `aria-live="polite" data-testid="cart-count">3<`) {
		t.Fatalf("header badge missing the count:\n%s", home.body)
	}
	// From the cart page the cart section is swapped, with the badge.
	r = c.post("/cart/items/"+fmt.Sprint(p)+"/delete", nil, "HX-Request", "true", "HX-Target", "cart")
	if r.status != 200 || !strings.Contains(r.body, "Your cart is empty") || !strings.Contains(r.body, ">0<span") {
		t.Fatalf("HTMX remove: %d\n%s", r.status, r.body)
	}
}

func TestBusyIsA503WithoutInternals(t *testing.T) {
	h := newHarness(t)
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	h.s.fail(w, req, fmt.Errorf("%w (lock timeout)", errs.New(errs.Busy, "We are very busy right now, so nothing was changed. Please try again.")))
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"code":"busy"`) || strings.Contains(w.Body.String(), "lock") || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d %s", w.Code, w.Body.String())
	}
}

// hiddenValue reads a hidden input's value from a page.
func hiddenValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden %s in:\n%s", name, page)
	}
	return m[1]
}

func TestCheckoutRefusesATotalTheShopperWasNotShown(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 1_000, 10)
	c := h.shopper("shown@example.test", 100_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	cart := c.get("/cart")
	form := url.Values{"idempotency_key": {hiddenValue(t, cart.body, "idempotency_key")}, "expected_total": {hiddenValue(t, cart.body, "expected_total")}}
	if form.Get("expected_total") != "2000" {
		t.Fatalf("the cart page sends expected_total %q, want the ₩2,000 it shows", form.Get("expected_total"))
	}
	if _, err := h.pool.Exec(t.Context(), "UPDATE products SET price = 40000 WHERE id = $1", p); err != nil {
		t.Fatal(err)
	}
	before := h.state()

	t.Run("JSON names the new total", func(t *testing.T) {
		r := c.json().post("/checkout", url.Values{"idempotency_key": {"api"}, "expected_total": {"2000"}})
		m := decode(t, r)
		if r.status != 409 || m["code"] != "price_changed" || m["total"] != 80000.0 || m["error"] == "" {
			t.Fatalf("%d %s, want 409 price_changed with total 80000", r.status, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("changed: %s -> %s", before, after)
		}
	})

	t.Run("the page shows the difference and asks again", func(t *testing.T) {
		r := c.post("/checkout", form)
		if r.status != 409 || !strings.Contains(r.body, "The total changed since you opened the cart: you saw ₩2,000, it is now ₩80,000.") {
			t.Fatalf("%d, want 409 with the difference:\n%s", r.status, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("changed: %s -> %s", before, after)
		}
		again := url.Values{"idempotency_key": {hiddenValue(t, r.body, "idempotency_key")}, "expected_total": {hiddenValue(t, r.body, "expected_total")}}
		if again.Get("expected_total") != "80000" {
			t.Fatalf("the re-rendered form sends expected_total %q, want 80000", again.Get("expected_total"))
		}
		placed := c.post("/checkout", again)
		if placed.status != 303 || !strings.HasPrefix(placed.header.Get("Location"), "/orders/") {
			t.Fatalf("second submit: %d %s", placed.status, placed.body)
		}
		o := decode(t, c.json().get(placed.header.Get("Location")))
		if o["charged"] != 80000.0 {
			t.Fatalf("charged %v, want 80000", o["charged"])
		}
		// The same key again, without a total, is the same order.
		repeat := c.json().post("/checkout", url.Values{"idempotency_key": again["idempotency_key"]})
		if m := decode(t, repeat); repeat.status != 200 || m["id"] != o["id"] {
			t.Fatalf("repeat: %d %s, want 200 with order %v", repeat.status, repeat.body, o["id"])
		}
		if bal := h.count("SELECT balance FROM users WHERE email = 'shown@example.test'"); bal != 20_000 {
			t.Fatalf("balance %d, want 20,000: charged once, at the price shown", bal)
		}
	})
}

// The order history pages back through every order, newest first, 20 at a
// time, each once.
func TestOrderHistoryPagesThroughEveryOrder(t *testing.T) {
	h := newHarness(t)
	c := h.shopper("history@example.test", 0).json()
	if _, err := h.pool.Exec(t.Context(), `INSERT INTO orders (user_id, idempotency_key, subtotal, charged)
		SELECT (SELECT id FROM users WHERE email = 'history@example.test'), 'k' || i, 1000, 1000 FROM generate_series(1, 45) i`); err != nil {
		t.Fatal(err)
	}
	var seen []float64
	path := "/orders"
	for pages := 0; ; pages++ {
		page := decode(t, c.get(path))
		list, _ := page["orders"].([]any)
		for _, o := range list {
			seen = append(seen, o.(map[string]any)["id"].(float64))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			if pages != 2 || len(list) != 5 {
				t.Fatalf("last page %d held %d orders", pages, len(list))
			}
			break
		}
		path = "/orders?before=" + next
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first, or repeated: %v", seen)
		}
	}
	if len(seen) != 45 {
		t.Fatalf("saw %d orders, want 45", len(seen))
	}
	for _, bad := range []string{"before=abc", "before=0", "before=-3"} {
		if r := c.get("/orders?" + bad); r.status != 422 {
			t.Errorf("?%s: %d", bad, r.status)
		}
	}
	if r := h.client().get("/orders?before=5"); r.status != 303 {
		t.Errorf("a guest: %d", r.status)
	}
}

// The key is up to 255 characters, not bytes: a key of 255 Korean letters
// (765 bytes) places the order, and its repeat finds it.
func TestCheckoutKeyIsCountedInCharacters(t *testing.T) {
	h := newHarness(t)
	p := h.product("Mug", 3_000, 5)
	c := h.shopper("key@example.test", 10_000).json()
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	key := strings.Repeat("가", 255)
	first := c.post("/checkout", url.Values{"idempotency_key": {key}})
	again := c.post("/checkout", url.Values{"idempotency_key": {key}})
	if first.status != 201 || again.status != 200 || decode(t, first)["id"] != decode(t, again)["id"] {
		t.Fatalf("first %d %s, again %d %s", first.status, first.body, again.status, again.body)
	}
}

// A second tab's Place order, after the first tab placed the order, says
// that nothing was ordered and where the order is, instead of a bare empty
// cart.
func TestASecondTabsCheckoutSaysTheCartWasEmptied(t *testing.T) {
	h := newHarness(t)
	p := h.product("Notebook", 3_000, 10)
	c := h.shopper("tabs@example.test", 10_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	shown := func(key string) url.Values {
		return url.Values{"idempotency_key": {key}, "product_id": {fmt.Sprint(p)}, "quantity": {"1"}}
	}
	if r := c.post("/checkout", shown("tab-1")); r.status != http.StatusSeeOther {
		t.Fatalf("first tab: %d %s", r.status, r.body)
	}
	r := c.post("/checkout", shown("tab-2"))
	if r.status != 422 || !strings.Contains(r.body, "Nothing was ordered") || !strings.Contains(r.body, "Your orders") {
		t.Fatalf("second tab: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM orders"); n != 1 {
		t.Fatalf("%d orders", n)
	}
}
