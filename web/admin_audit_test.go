package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

type auditJSON struct {
	Entries []struct {
		ID      int64           `json:"id"`
		AdminID *int64          `json:"admin_id"`
		Kind    string          `json:"kind"`
		Action  string          `json:"action"`
		Subject string          `json:"subject"`
		Before  json.RawMessage `json:"before"`
		After   json.RawMessage `json:"after"`
	}
	NextCursor string `json:"next_cursor"`
}

// Every admin action writes exactly one audit row naming the admin, the
// thing and its facts before and after; a refused action writes none.
func TestEveryAdminActionLeavesOneAuditRow(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	adminID := h.count("SELECT id FROM users WHERE role = 'admin'")
	rows := func() int64 { return h.count("SELECT count(*) FROM audit_log") }

	campaign := h.activeCampaign("5") // create + activate
	p := h.product("Teapot", 10_000, 10)
	o := h.order("audited@example.test", p, "2", false)
	shopper := h.count("SELECT id FROM users WHERE email = 'audited@example.test'")
	start := rows()
	steps := []struct {
		path       string
		form       url.Values
		kind, verb string
	}{
		{"/admin/campaigns/" + campaign + "/pause", nil, "campaign", "pause"},
		{fmt.Sprintf("/admin/products/%d/stock", p), url.Values{"delta": {"5"}, "reason": {"Found a box"}}, "product", "stock"},
		{fmt.Sprintf("/admin/orders/%v/ship", o["id"]), url.Values{"carrier": {"CJ"}, "tracking_number": {"1"}}, "order", "shipped"},
		{fmt.Sprintf("/admin/orders/%v/refund", o["id"]), url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}, "reason": {"dented"}}, "order", "refund"},
		{fmt.Sprintf("/admin/shoppers/%d/adjust", shopper), url.Values{"kind": {"points"}, "delta": {"100"}, "reason": {"sorry"}}, "shopper", "adjust points"},
		{fmt.Sprintf("/admin/shoppers/%d/disable", shopper), nil, "shopper", "disable"},
	}
	for i, st := range steps {
		if r := admin.post(st.path, st.form); r.status != 200 {
			t.Fatalf("%s: %d %s", st.path, r.status, r.body)
		}
		if n := rows(); n != start+int64(i)+1 {
			t.Fatalf("after %s: %d audit rows, want %d", st.path, n, start+int64(i)+1)
		}
	}
	// Refused: nothing recorded.
	before := rows()
	admin.post(fmt.Sprintf("/admin/products/%d/stock", p), url.Values{"delta": {"-999"}, "reason": {"x"}})
	admin.post(fmt.Sprintf("/admin/orders/%v/deliver", o["id"]), nil) // shipped → delivered is allowed; do it twice
	admin.post(fmt.Sprintf("/admin/orders/%v/deliver", o["id"]), nil) // refused the second time
	// Disabling a shopper already disabled answers as done and changes nothing.
	if r := admin.post(fmt.Sprintf("/admin/shoppers/%d/disable", shopper), nil); r.status != 200 {
		t.Fatalf("disable again: %d %s", r.status, r.body)
	}
	if n := rows(); n != before+1 {
		t.Fatalf("refused or idle actions left %d audit rows", n-before-1)
	}

	var page auditJSON
	if err := json.Unmarshal([]byte(admin.get("/admin/audit").body), &page); err != nil || len(page.Entries) == 0 {
		t.Fatalf("audit JSON: %v", err)
	}
	last := page.Entries[0] // newest first: the delivery
	if last.Kind != "order" || last.Action != "delivered" || last.AdminID == nil || *last.AdminID != adminID ||
		last.Subject != fmt.Sprintf("order %v", o["id"]) || !strings.Contains(string(last.Before), `"shipped"`) {
		t.Fatalf("newest entry %+v", last)
	}
	// Facts are named as in forms and JSON, whatever the kind (a campaign's
	// once came out as Go's field names, internal ones included).
	if r := admin.post("/admin/products", url.Values{"sku": {"AU-1"}, "name": {"Kettle"}, "brand": {"Kestrel"}, "category": {"kitchen"}, "price": {"9000"}, "stock": {"3"}}); r.status != 201 {
		t.Fatalf("product: %d %s", r.status, r.body)
	}
	var all auditJSON
	if err := json.Unmarshal([]byte(admin.get("/admin/audit").body), &all); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	kinds := map[string]bool{}
	for _, e := range all.Entries {
		for _, facts := range []json.RawMessage{e.Before, e.After} {
			var m map[string]any
			if err := json.Unmarshal(facts, &m); err != nil {
				t.Fatalf("%s %s: %v", e.Kind, e.Action, err)
			}
			for k := range m {
				if !snake.MatchString(k) {
					t.Errorf("%s %s names a fact %q", e.Kind, e.Action, k)
				}
			}
		}
		if e.Kind+" "+e.Action == "campaign create" && !strings.Contains(string(e.After), `"total_quantity":5`) {
			t.Errorf("campaign create: %s", e.After)
		}
		kinds[e.Kind+" "+e.Action] = true
	}
	if !kinds["campaign create"] || !kinds["product create"] {
		t.Fatalf("the trail lacks a campaign's or a product's creation: %v", kinds)
	}
	for _, e := range page.Entries {
		for _, st := range steps {
			if e.Kind == st.kind && e.Action == st.verb && (e.After == nil || string(e.After) == "null") {
				t.Errorf("%s %s without its after", e.Kind, e.Action)
			}
		}
	}
	var shoppers auditJSON
	_ = json.Unmarshal([]byte(admin.get("/admin/audit?kind=shopper").body), &shoppers)
	if len(shoppers.Entries) != 2 || shoppers.Entries[0].Action != "disable" {
		t.Fatalf("kind=shopper: %+v", shoppers.Entries)
	}
	for _, bad := range []string{"kind=lunch", "admin=abc", "from=yesterday", "after=-1", "from=2026-12-09&to=2026-12-01"} {
		if r := admin.get("/admin/audit?" + bad); r.status != 422 {
			t.Errorf("?%s: %d", bad, r.status)
		}
	}
	if r := h.shopper("nosy@example.test", 0).json().get("/admin/audit"); r.status != 403 {
		t.Fatalf("a shopper reading the audit trail: %d", r.status)
	}
	if r := admin.get("/admin/audit?kind=order"); r.status != 200 {
		t.Fatalf("kind=order: %d", r.status)
	}
	html := h.client()
	html.login(adminEmail, adminPassword)
	if r := html.get("/admin/audit"); r.status != 200 || !strings.Contains(r.body, "Audit trail") || !strings.Contains(r.body, "adjust points") {
		t.Fatalf("audit page: %d", r.status)
	}
}
