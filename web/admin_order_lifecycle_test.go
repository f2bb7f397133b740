package web

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// An admin prepares, ships and delivers an order, refunds a unit of it, and
// the shopper sees each step on the order and the refund in the balance;
// wrong steps and bad input are refused and change nothing.
func TestAdminMovesAnOrderAlongAndRefundsALine(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 12_000, 10)
	o := h.order("buyer@example.test", p, "2", false)
	path := fmt.Sprintf("/admin/orders/%v", o["id"])
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	buyer := h.client()
	buyer.login("buyer@example.test", "password123")
	buyer = buyer.json()

	refused := []struct {
		path   string
		form   url.Values
		status int
	}{
		{path + "/deliver", nil, 409},
		{path + "/ship", url.Values{"carrier": {"CJ"}}, 422},
		{path + "/ship", url.Values{"carrier": {"CJ"}, "tracking_number": {"1\x00"}}, 422},
		{path + "/cancel", nil, 422},
		{path + "/refund", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"3"}, "reason": {"x"}}, 409},
		{path + "/refund", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"0"}, "reason": {"x"}}, 422},
		{path + "/refund", url.Values{"product_id": {"999999"}, "quantity": {"1"}, "reason": {"x"}}, 404},
		{path + "/refund", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}}, 422},
		{path + "/archive", nil, 404},
		{"/admin/orders/999999/prepare", nil, 404},
	}
	for _, tt := range refused {
		before := h.state()
		if r := admin.post(tt.path, tt.form); r.status != tt.status {
			t.Errorf("POST %s %v: %d, want %d: %s", tt.path, tt.form, r.status, tt.status, r.body)
		}
		if h.state() != before {
			t.Errorf("POST %s changed the shop", tt.path)
		}
	}
	if r := buyer.post(path+"/prepare", nil); r.status != 403 {
		t.Fatalf("a shopper moving an order: %d", r.status)
	}
	for _, step := range []struct {
		name string
		form url.Values
	}{{"prepare", nil}, {"ship", url.Values{"carrier": {"CJ Logistics"}, "tracking_number": {"6123-4567"}}}, {"deliver", nil}} {
		if r := admin.post(path+"/"+step.name, step.form); r.status != 200 {
			t.Fatalf("%s: %d %s", step.name, r.status, r.body)
		}
	}
	balance := h.count("SELECT balance FROM users WHERE email = 'buyer@example.test'")
	r := admin.post(path+"/refund", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}, "restock": {"1"}, "reason": {"Arrived dented"}})
	got := decode(t, r)
	if r.status != 200 || got["refunded"] != 12_000.0 {
		t.Fatalf("refund: %d %s", r.status, r.body)
	}
	if moved := h.count("SELECT balance FROM users WHERE email = 'buyer@example.test'") - balance; moved != 12_000 {
		t.Fatalf("the refund moved the balance by %d", moved)
	}
	mine := decode(t, buyer.get(fmt.Sprintf("/orders/%v", o["id"])))
	events, _ := mine["events"].([]any)
	var statuses []string
	for _, e := range events {
		statuses = append(statuses, e.(map[string]any)["status"].(string))
	}
	if strings.Join(statuses, ",") != "placed,preparing,shipped,delivered,refunded" || mine["tracking_number"] != "6123-4567" || mine["status"] != "delivered" {
		t.Fatalf("the shopper's order: %v", mine)
	}
	if r := buyer.post(fmt.Sprintf("/orders/%v/cancel", o["id"]), nil); r.status != 409 {
		t.Fatalf("the shopper cancelled a delivered order: %d", r.status)
	}
}

// A change an admin's browser sends that is refused (a missing field, a
// step the order's status does not allow, more units than are left) shows
// the order's page again, the refused values kept and the message beside
// the control that caused it (or at the top of its form), and changes
// nothing.
func TestARefusedOrderActionShowsTheOrderPageWithItsMessage(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 12_000, 10)
	o := h.order("buyer@example.test", p, "2", false)
	path := fmt.Sprintf("/admin/orders/%v", o["id"])
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	line := fmt.Sprint(p)
	cases := []struct {
		action string
		form   url.Values
		status int
		want   []string
	}{
		{"ship", url.Values{"carrier": {"CJ Logistics"}}, 422, []string{`id="ship-tracking-error"`, `value="CJ Logistics"`}},
		{"cancel", nil, 422, []string{`id="cancel-reason-error"`, `<dialog id="cancel-order" class="ask" aria-labelledby="cancel-order-q" aria-describedby="cancel-order-d" open`}},
		{"refund", url.Values{"product_id": {line}, "quantity": {"0"}, "reason": {"Dented"}}, 422, []string{`id="refund-quantity-error"`, `value="Dented"`}},
		{"refund", url.Values{"product_id": {line}, "quantity": {"3"}, "reason": {"Dented"}, "restock": {"1"}}, 409,
			[]string{`role="alert" tabindex="-1" autofocus>Only 2 of Kettle can still be refunded.`, `value="3"`, `checked`}},
		{"deliver", nil, 409, []string{`role="alert" tabindex="-1" autofocus>This order is placed; it cannot be marked delivered.`}},
	}
	for _, tt := range cases {
		before := h.state()
		r := admin.post(path+"/"+tt.action, tt.form)
		if r.status != tt.status || !strings.Contains(r.body, fmt.Sprintf("<h1>Order #%v", o["id"])) {
			t.Errorf("%s %v: %d, want %d with the order's page: %.300s", tt.action, tt.form, r.status, tt.status, r.body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s %v: the page lacks %s", tt.action, tt.form, w)
			}
		}
		if h.state() != before {
			t.Errorf("%s %v changed the shop", tt.action, tt.form)
		}
	}
	// JSON clients still get the error itself.
	if r := admin.json().post(path+"/deliver", nil); r.status != 409 || !strings.Contains(r.body, `"code"`) {
		t.Fatalf("a JSON client's refused step: %d %s", r.status, r.body)
	}
}
