package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A cart holds at most 50 different products, also when 60 adds of different
// products arrive at once: exactly 50 get in, the other 10 are refused with
// the reason, and a line already in the full cart can still be changed.
func TestACartHoldsAtMost50LinesUnderConcurrentAdds(t *testing.T) {
	h := newHarness(t)
	products := make([]int64, 60)
	for i := range products {
		products[i] = h.product(fmt.Sprintf("Item %d", i), 1_000, 10)
	}
	c := h.shopper("full-cart@example.test", 0).json()
	replies := atOnce(len(products), func(i int) reply {
		return c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(products[i])}, "quantity": {"1"}})
	})
	statuses := map[int]int{}
	for _, r := range replies {
		statuses[r.status]++
		if r.status != http.StatusOK && (r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "cart is full") || !strings.Contains(r.body, `"code":"invalid_input"`)) {
			t.Errorf("an add answered %d %s", r.status, r.body)
		}
	}
	if statuses[http.StatusOK] != 50 || statuses[http.StatusUnprocessableEntity] != 10 {
		t.Errorf("statuses %v; want 50 × 200 and 10 × 422", statuses)
	}
	if n := h.count("SELECT count(*) FROM cart_items WHERE user_id = (SELECT id FROM users WHERE email = 'full-cart@example.test')"); n != 50 {
		t.Fatalf("the cart has %d lines; want 50", n)
	}
	for i, r := range replies {
		if r.status == http.StatusOK {
			if r := c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(products[i])}, "quantity": {"3"}}); r.status != http.StatusOK {
				t.Fatalf("changing a line of a full cart: %d %s", r.status, r.body)
			}
			break
		}
	}
}

// A shopper tops up at most ₩5,000,000 in 24 hours, also when 20 top-ups of
// ₩1,000,000 arrive at once: exactly 5 go through, the other 15 are a 409
// that says what the limit is.
func TestTopUpsStopAtTheDailyLimitUnderConcurrency(t *testing.T) {
	h := newHarness(t)
	c := h.shopper("big-spender@example.test", 0).json()
	replies := atOnce(20, func(int) reply {
		return c.post("/account/topup", url.Values{"amount": {"1000000"}})
	})
	statuses := map[int]int{}
	for _, r := range replies {
		statuses[r.status]++
		if r.status == http.StatusConflict && (!strings.Contains(r.body, `"code":"topup_limit_reached"`) || !strings.Contains(r.body, "at most ₩5,000,000 in 24 hours")) {
			t.Errorf("a refused top-up does not say why: %s", r.body)
		}
	}
	if statuses[http.StatusOK] != 5 || statuses[http.StatusConflict] != 15 {
		t.Errorf("statuses %v; want 5 × 200 and 15 × 409", statuses)
	}
	if bal := h.count("SELECT balance FROM users WHERE email = 'big-spender@example.test'"); bal != 5_000_000 {
		t.Fatalf("balance %d; want 5,000,000", bal)
	}

	// The account page shows the limit next to the amount field.
	br := h.client()
	br.login("big-spender@example.test", "password123")
	if r := br.post("/account/topup", url.Values{"amount": {"1"}}); r.status != http.StatusConflict || !strings.Contains(r.body, "you have reached that") {
		t.Fatalf("a browser's top-up past the limit: %d %.500s", r.status, r.body)
	}
}
