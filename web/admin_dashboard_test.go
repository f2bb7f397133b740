package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// num reads a number at a path of nested JSON objects.
func num(t *testing.T, m map[string]any, path ...string) float64 {
	t.Helper()
	var v any = m
	for _, p := range path {
		o, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%v: no object at %q in %v", path, p, m)
		}
		v = o[p]
	}
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("%v: %v is not a number", path, v)
	}
	return f
}

func sumBuckets(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	var n float64
	for _, b := range m[key].(map[string]any)["buckets"].([]any) {
		n += b.(map[string]any)["count"].(float64)
	}
	return n
}

// checkout places one order of product p for a new shopper; cancel undoes it.
func (h *harness) order(email string, p int64, qty string, cancel bool) map[string]any {
	h.t.Helper()
	c := h.shopper(email, 100_000).json()
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {qty}})
	r := c.post("/checkout", url.Values{"idempotency_key": {"k-" + email}})
	if r.status != http.StatusCreated {
		h.t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	o := decode(h.t, r)
	if cancel {
		if r := c.post(fmt.Sprintf("/orders/%v/cancel", o["id"]), nil); r.status != 200 {
			h.t.Fatalf("cancel: %d %s", r.status, r.body)
		}
	}
	return o
}

func TestDashboardJSONCountsTheClaimsAndOrdersThatHappened(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)

	empty := decode(t, admin.json().get("/admin"))
	if len(empty["campaigns"].([]any)) != 0 || empty["orders_today"] != 0.0 || empty["consistency"] != nil || sumBuckets(t, empty, "claims") != 0 {
		t.Fatalf("empty shop: %v", empty)
	}

	id := h.activeCampaign("5")
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 3 {
		c := h.client()
		c.signup(fmt.Sprintf("claimer%d@example.test", i), "Claimer", "password123")
		wg.Go(func() {
			<-start
			if r := c.json().post("/coupons/"+id+"/claim", nil); r.status != 200 {
				t.Errorf("claim: %d %s", r.status, r.body)
			}
		})
	}
	close(start)
	wg.Wait()

	p := h.product("Kettle", 7_000, 10)
	h.order("buyer1@example.test", p, "2", false)
	h.order("buyer2@example.test", p, "1", true)

	// Before the flusher: everything is claimed in Redis and waiting in the stream.
	d := decode(t, admin.json().get("/admin"))
	cs := d["campaigns"].([]any)
	if len(cs) != 1 {
		t.Fatalf("campaigns: %v", cs)
	}
	c := cs[0].(map[string]any)
	want := map[string]float64{"claimed": 3, "remaining": 2, "persisted": 0, "pending": 3, "total_quantity": 5}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("campaign %s = %v, want %v", k, c[k], v)
		}
	}
	// What Redis holds, as on the campaign's own page.
	if c["redis_state"] != "active" || c["redis_total"] != 5.0 {
		t.Errorf("campaign in Redis: %v %v", c["redis_state"], c["redis_total"])
	}
	if n := sumBuckets(t, d, "claims"); n != 3 {
		t.Errorf("claims chart holds %v claims, want 3 (the pending ones)", n)
	}
	if num(t, d, "write_back", "pending") != 3 || num(t, d, "write_back", "flushed") != 0 || num(t, d, "write_back", "oldest_pending_seconds") <= 0 {
		t.Errorf("write-back before the flusher: %v", d["write_back"])
	}
	if d["orders_today"] != 2.0 || d["revenue_today"] != 14_000.0 || sumBuckets(t, d, "orders_per_minute") != 2 {
		t.Errorf("orders: today %v revenue %v per minute %v", d["orders_today"], d["revenue_today"], sumBuckets(t, d, "orders_per_minute"))
	}

	// After the flusher: persisted, nothing waiting, and the chart still shows the three claims (now from PostgreSQL).
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.coupons.RunFlusher(ctx); close(done) }()
	// The dashboard reads PostgreSQL, then Redis: a read that meets
	// PostgreSQL before the flusher's commit and Redis after its XDEL shows
	// the claims in neither, so wait for both figures.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d = decode(t, admin.json().get("/admin"))
		if (num(t, d, "write_back", "pending") == 0 && num(t, d, "write_back", "flushed") == 3) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	c = d["campaigns"].([]any)[0].(map[string]any)
	if c["persisted"] != 3.0 || c["pending"] != 0.0 || c["claimed"] != 3.0 || num(t, d, "write_back", "flushed") != 3 || num(t, d, "write_back", "oldest_pending_seconds") != 0 {
		t.Fatalf("after the flusher: campaign %v write-back %v", c, d["write_back"])
	}
	if n := sumBuckets(t, d, "claims"); n != 3 {
		t.Errorf("claims chart after the flush holds %v, want 3", n)
	}

	// The last consistency run shows up with its verdict and a link.
	run := decode(t, admin.json().post("/admin/consistency/run", nil))
	d = decode(t, admin.json().get("/admin"))
	cons, _ := d["consistency"].(map[string]any)
	if cons == nil || cons["ok"] != run["ok"] || int(cons["checks"].(float64)) != len(run["checks"].([]any)) || !strings.HasPrefix(cons["url"].(string), "/admin/consistency?run=") {
		t.Fatalf("consistency on the dashboard %v, run %v", cons, run)
	}
}

func TestDashboardAnswersPageFragmentAndJSON(t *testing.T) {
	h := newHarness(t)
	h.activeCampaign("500")
	admin := h.client()
	admin.login(adminEmail, adminPassword)

	page := admin.get("/admin")
	for _, want := range []string{"<!doctype html>", `hx-trigger="every 2s"`, `aria-live="polite"`, `id="dashboard-live"`,
		`<progress max="500" value="0"`, "0 / 500 claimed", `id="claims-chart"`, `id="orders-chart"`, "No consistency run yet"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	frag := admin.get("/admin", "HX-Request", "true")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || strings.Contains(frag.body, "hx-trigger") ||
		!strings.HasPrefix(strings.TrimSpace(frag.body), `<div id="dashboard-live"`) || !strings.Contains(frag.body, "0 / 500 claimed") {
		t.Fatalf("fragment: %d %.300s", frag.status, frag.body)
	}
	if !strings.Contains(frag.header.Get("Vary"), "HX-Request") {
		t.Fatal("no Vary: HX-Request")
	}
	// A history restore needs the whole page.
	if r := admin.get("/admin", "HX-Request", "true", "HX-History-Restore-Request", "true"); !strings.Contains(r.body, "<!doctype html>") {
		t.Fatal("history restore got the fragment")
	}
}

func TestAdminOrdersFilterAndPage(t *testing.T) {
	h := newHarness(t)
	p := h.product("Kettle", 7_000, 100)
	first := h.order("alice@example.test", p, "1", false)
	h.order("bob@example.test", p, "2", true)
	last := h.order("alice2@example.test", p, "3", false)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	today := time.Now().Format("2006-01-02")
	yesterday := time.Now().AddDate(0, 0, -1).Format("2006-01-02")

	tests := []struct {
		name  string
		query string
		want  []string // emails, newest first
	}{
		{"no filter: all, newest first", "", []string{"alice2@example.test", "bob@example.test", "alice@example.test"}},
		{"placed", "status=placed", []string{"alice2@example.test", "alice@example.test"}},
		{"cancelled", "status=cancelled", []string{"bob@example.test"}},
		{"one shopper, any case", "email=BOB@example.test", []string{"bob@example.test"}},
		{"unknown shopper: none", "email=nobody@example.test", nil},
		{"today, both ends included", "from=" + today + "&to=" + today, []string{"alice2@example.test", "bob@example.test", "alice@example.test"}},
		{"up to yesterday: none", "to=" + yesterday, nil},
		{"from tomorrow: none", "from=" + time.Now().AddDate(0, 0, 1).Format("2006-01-02"), nil},
		{"keyset: older than the newest", fmt.Sprintf("before=%v", last["id"]), []string{"bob@example.test", "alice@example.test"}},
		{"keyset and status", fmt.Sprintf("before=%v&status=placed", last["id"]), []string{"alice@example.test"}},
		{"keyset past the oldest: none", fmt.Sprintf("before=%v", first["id"]), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.json().get("/admin/orders?" + tc.query)
			m := decode(t, r)
			var got []string
			for _, o := range m["orders"].([]any) {
				got = append(got, o.(map[string]any)["email"].(string))
			}
			if r.status != 200 || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("%d: got %v, want %v", r.status, got, tc.want)
			}
		})
	}

	page := admin.get("/admin/orders?status=cancelled")
	if page.status != 200 || !strings.Contains(page.body, "bob@example.test") || strings.Contains(page.body, "alice@example.test") || !strings.Contains(page.body, `<option value="cancelled" selected>`) {
		t.Fatalf("page: %d", page.status)
	}
	if frag := admin.get("/admin/orders?status=placed", "HX-Request", "true"); !strings.HasPrefix(strings.TrimSpace(frag.body), `<div id="admin-orders">`) {
		t.Fatalf("fragment: %.200s", frag.body)
	}
}

func TestAdminOrdersPagesAreBounded(t *testing.T) {
	h := newHarness(t)
	p := h.product("Pen", 1_000, 1000)
	c := h.shopper("many@example.test", 1_000_000).json()
	for i := range 52 {
		c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
		if r := c.post("/checkout", url.Values{"idempotency_key": {fmt.Sprint("k", i)}}); r.status != 201 {
			t.Fatalf("checkout %d: %d %s", i, r.status, r.body)
		}
	}
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	one := decode(t, admin.json().get("/admin/orders"))
	if len(one["orders"].([]any)) != 50 || one["next"] == "" {
		t.Fatalf("first page: %d orders, next %q", len(one["orders"].([]any)), one["next"])
	}
	two := decode(t, admin.json().get(one["next"].(string)))
	if len(two["orders"].([]any)) != 2 || two["next"] != "" {
		t.Fatalf("second page: %d orders, next %q", len(two["orders"].([]any)), two["next"])
	}
}

func TestAdminOrdersRefuseBadFiltersWithAMessage(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	// shows is what the page says next to the field at fault.
	tests := []struct{ name, query, shows string }{
		{"unknown status", "status=lost", "Choose placed, preparing, shipped, delivered or cancelled."},
		{"not a date", "from=yesterday", `aria-describedby="e-from"`},
		{"impossible date", "to=2025-02-30", `aria-describedby="e-to"`},
		{"end before start", "from=2025-05-02&to=2025-04-30", "The end date must not be before the start date."},
		{"cursor not a number", "before=abc", "Enter a whole number."},
		{"cursor below one", "before=0", "Enter a number from 1"},
		{"cursor too big", "before=99999999999999999999", "Enter a whole number."},
		{"email too long", "email=" + strings.Repeat("a", 250) + "@example.test", `aria-describedby="e-email"`},
		{"not UTF-8", "email=%ff%fe", "not valid text (UTF-8)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.json().get("/admin/orders?" + tc.query)
			if m := decode(t, r); r.status != 422 || m["code"] != "invalid_input" || m["error"] == "" {
				t.Fatalf("JSON: %d %s", r.status, r.body)
			}
			page := admin.get("/admin/orders?" + tc.query)
			if page.status != 422 || !strings.Contains(page.body, tc.shows) {
				t.Fatalf("page: %d, want %q", page.status, tc.shows)
			}
		})
	}
}

func TestAdminOrderDetailShowsLinesCouponAndLedger(t *testing.T) {
	h := newHarness(t)
	cid := h.activeCampaign("5")
	p := h.product("Lamp", 12_000, 3)
	c := h.shopper("detail@example.test", 50_000).json()
	if r := c.post("/coupons/"+cid+"/claim", nil); r.status != 200 {
		t.Fatalf("claim: %d %s", r.status, r.body)
	}
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	acc := decode(t, c.get("/account"))
	couponID := acc["coupons"].([]any)[0].(map[string]any)["id"]
	r := c.post("/checkout", url.Values{"idempotency_key": {"detail"}, "coupon_id": {fmt.Sprint(couponID)}})
	if r.status != 201 {
		t.Fatalf("checkout: %d %s", r.status, r.body)
	}
	o := decode(t, r)
	admin := h.client()
	admin.login(adminEmail, adminPassword)

	d := decode(t, admin.json().get(fmt.Sprintf("/admin/orders/%v", o["id"])))
	if d["email"] != "detail@example.test" || d["charged"] != 21_000.0 || d["discount"] != 3_000.0 || len(d["items"].([]any)) != 1 ||
		d["coupon_campaign"].(map[string]any)["name"] != "Spring sale" {
		t.Fatalf("detail: %v", d)
	}
	ledgers := map[string]float64{}
	for _, l := range d["ledger"].([]any) {
		e := l.(map[string]any)
		ledgers[e["ledger"].(string)] += e["delta"].(float64)
	}
	if want := map[string]float64{"balance": -21_000, "stock": -2, "coupon": -1, "points": 210}; fmt.Sprint(ledgers) != fmt.Sprint(want) {
		t.Fatalf("ledger sums %v, want %v", ledgers, want)
	}
	page := admin.get(fmt.Sprintf("/admin/orders/%v", o["id"]))
	for _, want := range []string{"detail@example.test", "Lamp", "Spring sale", "-₩21,000", "Ledger rows"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, path := range []string{"/admin/orders/999999", "/admin/orders/0", "/admin/orders/abc", "/admin/campaigns/999999"} {
		if r := admin.json().get(path); r.status != 404 || !strings.Contains(r.body, `"code":"not_found"`) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
}

func TestClaimsChartBucketsPersistedClaimsByTheirClaimTime(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("10")
	now := time.Now()
	// Claims persisted at known times: two 95 s ago, one 5 s ago, one 11 minutes ago (outside the window).
	for i, ago := range []time.Duration{95 * time.Second, 95 * time.Second, 5 * time.Second, 11 * time.Minute} {
		uid := h.count(`INSERT INTO users (email, password_hash, name) VALUES ($1, 'x', 'X') RETURNING id`, fmt.Sprintf("b%d@example.test", i))
		if _, err := h.pool.Exec(t.Context(), `INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at) VALUES ($1, $2, $3::timestamptz, $3::timestamptz + interval '7 days')`,
			id, uid, now.Add(-ago)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := h.coupons.Dashboard(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Claims) != 60 || !d.Claims[59].At.Add(10*time.Second).After(now) || d.Claims[59].At.After(now) {
		t.Fatalf("%d buckets, last at %v for now %v", len(d.Claims), d.Claims[len(d.Claims)-1].At, now)
	}
	got := map[int]int64{}
	for i, p := range d.Claims {
		if p.Value != 0 {
			got[i] = p.Value
		}
	}
	bucketOf := func(ago time.Duration) int {
		return 59 - int(now.Truncate(10*time.Second).Sub(now.Add(-ago).Truncate(10*time.Second))/(10*time.Second))
	}
	want := map[int]int64{bucketOf(95 * time.Second): 2}
	want[bucketOf(5*time.Second)]++
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("buckets %v, want %v", got, want)
	}
}

// Every list of orders shows an order as its own page does, less the lines
// and timeline a list does not load: the shopper's list, the admin's list
// (with the email) and the admin's page of the shopper.
func TestOrderListsShowWhatTheOrderPageShows(t *testing.T) {
	h := newHarness(t)
	p := h.product("Lamp", 30_000, 10)
	c := h.shopper("lists@example.test", 100_000).json()
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"2"}})
	placed := decode(t, c.post("/checkout", url.Values{"idempotency_key": {"lists"}}))
	id := fmt.Sprint(placed["id"])
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	for _, step := range []struct {
		path string
		form url.Values
	}{
		{"/admin/orders/" + id + "/prepare", nil},
		{"/admin/orders/" + id + "/ship", url.Values{"carrier": {"CJ"}, "tracking_number": {"123"}}},
		{"/admin/orders/" + id + "/refund", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}, "reason": {"dented"}}},
	} {
		if r := admin.post(step.path, step.form); r.status != 200 {
			t.Fatalf("%s: %d %s", step.path, r.status, r.body)
		}
	}
	want := decode(t, c.get("/orders/"+id))
	delete(want, "items")
	delete(want, "events")
	if want["address"] == nil || want["refunded"] == float64(0) || want["carrier"] != "CJ" {
		t.Fatalf("the order's page: %v", want)
	}
	first := func(r reply) map[string]any {
		t.Helper()
		orders, _ := decode(t, r)["orders"].([]any)
		if len(orders) != 1 {
			t.Fatalf("%d orders listed: %s", len(orders), r.body)
		}
		return orders[0].(map[string]any)
	}
	shopperID := h.count("SELECT id FROM users WHERE email = 'lists@example.test'")
	listed := map[string]map[string]any{
		"/orders":              first(c.get("/orders")),
		"/admin/orders":        first(admin.get("/admin/orders?email=lists@example.test")),
		"/admin/shoppers/{id}": first(admin.get(fmt.Sprint("/admin/shoppers/", shopperID))),
	}
	if e := listed["/admin/orders"]["email"]; e != "lists@example.test" {
		t.Fatalf("admin list email %v", e)
	}
	delete(listed["/admin/orders"], "email")
	for list, got := range listed {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s lists\n%v\nthe order's page shows\n%v", list, got, want)
		}
	}
}
