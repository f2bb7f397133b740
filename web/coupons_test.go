package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// adminCampaign creates and activates a campaign through the admin routes.
func (h *harness) activeCampaign(total string) string {
	h.t.Helper()
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	r := admin.post("/admin/campaigns", campaignForm(map[string]string{"total_quantity": total}))
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c struct{ ID int64 }
	_ = json.Unmarshal([]byte(r.body), &c)
	id := strconv.FormatInt(c.ID, 10)
	if r := admin.post("/admin/campaigns/"+id+"/activate", nil); r.status != 200 || !strings.Contains(r.body, `"state":"active"`) {
		h.t.Fatalf("activate: %d %s", r.status, r.body)
	}
	return id
}

func campaignForm(over map[string]string) url.Values {
	v := url.Values{
		"name": {"Spring sale"}, "discount_type": {"fixed"}, "discount_value": {"3000"}, "min_order_amount": {"0"},
		"total_quantity": {"2"}, "starts_at": {time.Now().Add(-time.Hour).Format(time.RFC3339)},
		"ends_at": {time.Now().Add(time.Hour).Format(time.RFC3339)}, "valid_days": {"7"},
	}
	for k, x := range over {
		v.Set(k, x)
	}
	return v
}

func TestClaimAnswersWithTheContractStatuses(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("1")
	a, b := h.client(), h.client()
	a.signup("a@example.test", "A", "password123")
	b.signup("b@example.test", "B", "password123")
	a, b = a.json(), b.json()

	tests := []struct {
		name   string
		c      *client
		status int
		body   string
	}{
		{"first claim wins", a, 200, `{"remaining":0,"result":"claimed"}`},
		{"second claim by the same shopper", a, 409, `{"remaining":0,"result":"already_claimed"}`},
		{"another shopper finds it sold out", b, 410, `{"remaining":0,"result":"sold_out"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.post("/coupons/"+id+"/claim", nil)
			if r.status != tt.status || strings.TrimSpace(r.body) != tt.body {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.body)
			}
		})
	}
	// The winner sees the coupon in their account at once (before any flusher).
	r := a.get("/account")
	if !strings.Contains(r.body, `"coupons":[{"id":`) || !strings.Contains(r.body, `"status":"issued"`) {
		t.Fatalf("account: %s", r.body)
	}
	if n := h.count("SELECT persisted_count FROM campaigns WHERE id = $1", id); n != 1 {
		t.Fatalf("persisted %d", n)
	}
}

func TestBadClaimsAreRefusedAndChangeNothing(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("5")
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	draft := admin.post("/admin/campaigns", campaignForm(nil))
	var d struct{ ID int64 }
	_ = json.Unmarshal([]byte(draft.body), &d)
	paused := h.activeCampaign("5")
	admin.post("/admin/campaigns/"+paused+"/pause", nil)
	ended := h.activeCampaign("5")
	admin.post("/admin/campaigns/"+ended+"/end", nil)
	future := admin.post("/admin/campaigns", campaignForm(map[string]string{
		"starts_at": time.Now().Add(time.Hour).Format(time.RFC3339), "ends_at": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}))
	var f struct{ ID int64 }
	_ = json.Unmarshal([]byte(future.body), &f)
	admin.post("/admin/campaigns/"+strconv.FormatInt(f.ID, 10)+"/activate", nil)

	shopper := h.client()
	shopper.signup("s@example.test", "S", "password123")
	shopper = shopper.json()
	// Every claim answer has a result, an unknown campaign's too (beside its
	// error); a request refused before it is a claim carries only the error.
	tests := []struct {
		name   string
		c      *client
		path   string
		status int
		result string
		code   string
		extra  []string
	}{
		{"unknown campaign", shopper, "/coupons/999999/claim", 404, "not_active", "not_found", nil},
		{"non-numeric id", shopper, "/coupons/abc/claim", 404, "not_active", "not_found", nil},
		{"negative id", shopper, "/coupons/-1/claim", 404, "not_active", "not_found", nil},
		{"draft", shopper, "/coupons/" + strconv.FormatInt(d.ID, 10) + "/claim", 403, "not_active", "", nil},
		{"paused", shopper, "/coupons/" + paused + "/claim", 403, "not_active", "", nil},
		{"ended", shopper, "/coupons/" + ended + "/claim", 403, "not_active", "", nil},
		{"before the window", shopper, "/coupons/" + strconv.FormatInt(f.ID, 10) + "/claim", 403, "not_active", "", nil},
		{"anonymous JSON", h.client().json(), "/coupons/" + id + "/claim", 401, "", "unauthorized", nil},
		{"cross-origin", shopper, "/coupons/" + id + "/claim", 403, "", "forbidden", []string{"Origin", "https://evil.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.post(tt.path, nil, tt.extra...)
			var body struct {
				Result, Code, Error string
				Remaining           *int64
			}
			_ = json.Unmarshal([]byte(r.body), &body)
			if r.status != tt.status || body.Result != tt.result || body.Code != tt.code ||
				(tt.result != "") != (body.Remaining != nil) || (tt.code != "") != (body.Error != "") {
				t.Fatalf("%d %s, want %d result %q code %q", r.status, r.body, tt.status, tt.result, tt.code)
			}
		})
	}
	anon := h.client().post("/coupons/"+id+"/claim", nil)
	if anon.status != http.StatusSeeOther || !strings.HasPrefix(anon.header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous browser: %d %q", anon.status, anon.header.Get("Location"))
	}
	if n := h.count("SELECT count(*) FROM coupons"); n != 0 {
		t.Fatalf("%d coupons", n)
	}
	if r := shopper.get("/coupons"); !strings.Contains(r.body, `"remaining":5`) {
		t.Fatalf("stock changed: %s", r.body)
	}
}

func TestClaimByHTMXSwapsTheResultAndPlainFormRedirects(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("3")
	c := h.client()
	c.signup("h@example.test", "H", "password123")

	page := c.get("/coupons")
	if !strings.Contains(page.body, `hx-post="/coupons/`+id+`/claim"`) || !strings.Contains(page.body, "Claim coupon") || !strings.Contains(page.body, `aria-live="polite"`) {
		t.Fatalf("coupons page: %s", page.body)
	}
	r := c.post("/coupons/"+id+"/claim", nil, "HX-Request", "true")
	if r.status != 200 || strings.Contains(r.body, "<html") || !strings.Contains(r.body, "You got it!") ||
		!strings.Contains(r.body, `id="remaining-`+id+`"`) || !strings.Contains(r.body, `hx-swap-oob="innerHTML"`) || !strings.Contains(r.body, "2 left") {
		t.Fatalf("fragment: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "aria-live") || strings.Contains(r.body, "role=") {
		t.Fatalf("the answer nests a live region in the card's message area: %s", r.body)
	}
	r = c.post("/coupons/"+id+"/claim", nil, "HX-Request", "true")
	if r.status != 409 || !strings.Contains(r.body, "You already have this coupon.") {
		t.Fatalf("again: %d %s", r.status, r.body)
	}
	// Without JavaScript: the form posts, and the answer comes back as a flash.
	r = c.post("/coupons/"+id+"/claim", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/coupons" {
		t.Fatalf("plain form: %d %q", r.status, r.header.Get("Location"))
	}
	if p := c.get("/coupons"); !strings.Contains(p.body, "You already have this coupon.") {
		t.Fatal("no flash after the plain form")
	}
}

func TestAdminCampaignFormRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	now := time.Now()
	tests := []struct {
		name string
		over map[string]string
		text string
	}{
		{"window ends before it starts", map[string]string{"ends_at": now.Add(-2 * time.Hour).Format(time.RFC3339)}, "must end after it starts"},
		{"zero quantity", map[string]string{"total_quantity": "0"}, "Enter a number from 1"},
		{"negative quantity", map[string]string{"total_quantity": "-3"}, "Enter a number from 1"},
		{"percent over 100", map[string]string{"discount_type": "percent", "discount_value": "150", "max_discount": "5000"}, "1 to 100 percent"},
		{"percent without cap", map[string]string{"discount_type": "percent", "discount_value": "10", "max_discount": ""}, "A percent discount needs a cap in won."},
		{"zero percent", map[string]string{"discount_type": "percent", "discount_value": "0", "max_discount": "5000"}, "A percent discount is 1 to 100 percent."},
		{"zero won off", map[string]string{"discount_type": "fixed", "discount_value": "0"}, "A fixed discount is 1 to 100,000,000 won."},
		{"a cap of nothing", map[string]string{"discount_type": "percent", "discount_value": "10", "max_discount": "0"}, "The cap is 1 to 100,000,000 won."},
		{"unreadable start", map[string]string{"starts_at": "next tuesday"}, "Enter a date and time"},
		{"non-numeric discount", map[string]string{"discount_value": "lots"}, "Enter a whole number."},
		{"zero stripes", map[string]string{"stripes": "0"}, "Enter a number from 1 to 16."},
		{"too many stripes", map[string]string{"stripes": "17"}, "Enter a number from 1 to 16."},
		{"non-numeric stripes", map[string]string{"stripes": "three"}, "Enter a whole number."},
		{"a fixed discount with a cap that is no number", map[string]string{"discount_type": "fixed", "max_discount": "abc"}, "Enter a whole number."},
		{"a fixed discount with a NUL cap", map[string]string{"discount_type": "fixed", "max_discount": "\x00"}, "Enter a whole number."},
		{"a start in year 1", map[string]string{"starts_at": "0001-02-03T00:00"}, "in the years 2000 to 9000"},
		// Its coupons' expiry would be past the year 9999, where JSON times end.
		{"an end in the year 9999 west of Greenwich", map[string]string{"ends_at": "9999-12-31T23:59:59-12:00"}, "in the years 2000 to 9000"},
		{"an offset of 24 hours", map[string]string{"starts_at": now.Format("2006-01-02T15:04:05") + "+24:00"}, "Enter a date and time"},
		{"an offset of 60 minutes", map[string]string{"starts_at": now.Format("2006-01-02T15:04:05") + "+05:60"}, "Enter a date and time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post("/admin/campaigns", campaignForm(tt.over))
			if r.status != 422 || !strings.Contains(r.body, tt.text) {
				t.Fatalf("%d, want 422 with %q:\n%s", r.status, tt.text, r.body)
			}
			if j := admin.json().post("/admin/campaigns", campaignForm(tt.over)); j.status != 422 || !strings.Contains(j.body, `"code":"invalid_input"`) {
				t.Fatalf("JSON: %d %s", j.status, j.body)
			}
		})
	}
	// An empty submit names every field it needs, under the field.
	r := admin.post("/admin/campaigns", url.Values{})
	for _, want := range []string{"Give the campaign a name.", `id="e-discount_value"`, `id="e-total_quantity"`, `id="e-starts_at"`, `id="e-ends_at"`} {
		if r.status != 422 || !strings.Contains(r.body, want) {
			t.Fatalf("empty submit: %d, want %q:\n%s", r.status, want, r.body)
		}
	}
	if n := h.count("SELECT count(*) FROM campaigns"); n != 0 {
		t.Fatalf("%d campaigns stored", n)
	}
	// A datetime-local value in the server's zone is accepted.
	r = admin.post("/admin/campaigns", campaignForm(map[string]string{
		"starts_at": now.Format("2006-01-02T15:04"), "ends_at": now.Add(time.Hour).Format("2006-01-02T15:04")}))
	if r.status != http.StatusSeeOther {
		t.Fatalf("datetime-local: %d %s", r.status, r.body)
	}
	// The admin campaign page answers JSON with the live counters.
	loc := r.header.Get("Location")
	j := admin.json().get(loc)
	for _, k := range []string{`"claimed":`, `"remaining":`, `"persisted":`, `"pending":`, `"state":"draft"`} {
		if !strings.Contains(j.body, k) {
			t.Fatalf("campaign JSON lacks %s: %s", k, j.body)
		}
	}
	// Ending a draft is a conflict.
	if e := admin.json().post(loc+"/end", nil); e.status != 409 {
		t.Fatalf("end draft: %d %s", e.status, e.body)
	}
	// Both stores side by side: Redis holds nothing of a draft, then what
	// PostgreSQL holds after each change.
	if !strings.Contains(j.body, `"redis_state":null`) || !strings.Contains(j.body, `"redis_total":null`) {
		t.Fatalf("a draft's Redis side: %s", j.body)
	}
	steps := []struct {
		path   string
		form   url.Values
		wanted []string
	}{
		{loc + "/activate", nil, []string{`"state":"active"`, `"redis_state":"active"`, `"redis_total":2`, `"total_quantity":2`}},
		{loc, url.Values{"total_quantity": {"7"}}, []string{`"redis_state":"active"`, `"redis_total":7`, `"total_quantity":7`}},
		{loc, url.Values{"total_quantity": {"1"}}, []string{`"redis_total":1`, `"total_quantity":1`, `"remaining":1`}},
		{loc + "/pause", nil, []string{`"state":"paused"`, `"redis_state":"paused"`, `"redis_pending_since":null`}},
	}
	for _, st := range steps {
		if r := admin.json().post(st.path, st.form); r.status != 200 {
			t.Fatalf("%s: %d %s", st.path, r.status, r.body)
		}
		j := admin.json().get(loc)
		for _, k := range st.wanted {
			if !strings.Contains(j.body, k) {
				t.Fatalf("after %s the campaign JSON lacks %s: %s", st.path, k, j.body)
			}
		}
	}
	// Past draft only the quantity changes: a name sent with it is refused,
	// not dropped, and neither is saved.
	if r := admin.json().post(loc, url.Values{"total_quantity": {"5"}, "name": {"Renamed"}}); r.status != 422 ||
		!strings.Contains(r.body, "Only the quantity can change once a campaign is live.") {
		t.Fatalf("a live campaign renamed: %d %s", r.status, r.body)
	}
	if j := admin.json().get(loc); !strings.Contains(j.body, `"total_quantity":1`) || strings.Contains(j.body, "Renamed") {
		t.Fatalf("a refused change was saved: %s", j.body)
	}
}

// A campaign of three stripes: the admin sets them on the form, the page and
// JSON show them, shoppers on every stripe claim the whole stock and no
// more, and the counters are the stripes' sums.
func TestAStripedCampaignFromTheAdminFormIssuesItsStock(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	r := admin.json().post("/admin/campaigns", campaignForm(map[string]string{"total_quantity": "4", "stripes": "3"}))
	if r.status != http.StatusCreated || !strings.Contains(r.body, `"stripes":3`) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c struct{ ID int64 }
	_ = json.Unmarshal([]byte(r.body), &c)
	id := strconv.FormatInt(c.ID, 10)
	if r := admin.json().post("/admin/campaigns/"+id+"/activate", nil); r.status != 200 {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}
	if p := admin.get("/admin/campaigns/" + id); !strings.Contains(p.body, `data-testid="stripes"`) || !strings.Contains(p.body, "3 Redis hash slots") {
		t.Fatalf("the campaign page does not show the stripes:\n%s", p.body)
	}
	results := map[int]int{}
	for i := range 6 {
		s := h.client()
		s.signup("s"+strconv.Itoa(i)+"@example.test", "S", "password123")
		results[s.json().post("/coupons/"+id+"/claim", nil).status]++
	}
	if results[200] != 4 || results[410] != 2 {
		t.Fatalf("statuses %v, want 4 claimed and 2 sold out", results)
	}
	j := admin.json().get("/admin/campaigns/" + id)
	for _, k := range []string{`"claimed":4`, `"remaining":0`, `"redis_total":4`, `"stripes":3`} {
		if !strings.Contains(j.body, k) {
			t.Fatalf("campaign JSON lacks %s: %s", k, j.body)
		}
	}
}
