package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestConsistencyRunAnswersTheContractShape(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)

	before := admin.json().get("/admin/consistency")
	if before.status != 200 || !strings.Contains(before.body, `"ran_at":null`) {
		t.Fatalf("before any run: %d %s", before.status, before.body)
	}
	r := admin.json().post("/admin/consistency/run", nil)
	var rep struct {
		OK     bool   `json:"ok"`
		RanAt  string `json:"ran_at"`
		Checks []struct {
			Name, Subject, Detail string
			OK                    bool
		} `json:"checks"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &rep) != nil || !rep.OK || rep.RanAt == "" || len(rep.Checks) == 0 {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	page := admin.get("/admin/consistency")
	if page.status != 200 || !strings.Contains(page.body, "checks agree") {
		t.Fatalf("page: %d", page.status)
	}
	frag := admin.post("/admin/consistency/run", nil, "HX-Request", "true")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `id="report"`) ||
		!strings.Contains(frag.body, `<section id="history" aria-labelledby="history-title" hx-swap-oob="true">`) {
		t.Fatalf("HTMX run: %d %s", frag.status, frag.body)
	}
	if r := admin.get("/admin/consistency?run=abc"); r.status != 404 {
		t.Fatalf("garbage run id: %d", r.status)
	}
	if r := admin.get("/admin/consistency?run=999999"); r.status != 404 {
		t.Fatalf("unknown run id: %d", r.status)
	}
}

func TestConsistencyRepairRebuildsARedCampaignAndRefusesBadInput(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("10")
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	if err := h.s.Redis.IncrBy(t.Context(), "coupon:{"+id+"}:stock", 4).Err(); err != nil {
		t.Fatal(err)
	}
	r := admin.json().post("/admin/consistency/run", nil)
	if r.status != 200 || !strings.Contains(r.body, `"ok":false`) || !strings.Contains(r.body, `"repair":"rebuild_campaign","campaign_id":`+id) {
		t.Fatalf("bumped counter should be red with a repair: %d %s", r.status, r.body)
	}
	page := admin.get("/admin/consistency")
	if !strings.Contains(page.body, `name="action" value="rebuild_campaign"`) || !strings.Contains(page.body, `name="campaign_id" value="`+id+`"`) {
		t.Fatalf("the red campaign row has no repair form")
	}

	shopper := h.shopper("shopper@example.test", 0)
	bad := []struct {
		name   string
		who    *client
		form   url.Values
		status int
	}{
		{"unknown action", admin.json(), url.Values{"action": {"overwrite_balances"}, "campaign_id": {id}}, 422},
		{"no action", admin.json(), url.Values{"campaign_id": {id}}, 422},
		{"rebuild without a campaign", admin.json(), url.Values{"action": {"rebuild_campaign"}}, 422},
		{"non-numeric campaign", admin.json(), url.Values{"action": {"rebuild_campaign"}, "campaign_id": {"abc"}}, 422},
		{"negative campaign", admin.json(), url.Values{"action": {"redrive_dead_letters"}, "campaign_id": {"-3"}}, 422},
		{"unknown campaign", admin.json(), url.Values{"action": {"rebuild_campaign"}, "campaign_id": {"987654"}}, 404},
		{"a shopper", shopper.json(), url.Values{"action": {"rebuild_campaign"}, "campaign_id": {id}}, 403},
		{"anonymous browser", h.client(), url.Values{"action": {"rebuild_campaign"}, "campaign_id": {id}}, 303},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if r := tc.who.post("/admin/consistency/repair", tc.form); r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM consistency_runs WHERE kind = 'repair'`); n != 0 {
		t.Fatalf("refused repairs were recorded: %d", n)
	}
	if stock, _ := h.s.Redis.Get(t.Context(), "coupon:{"+id+"}:stock").Int64(); stock != 14 {
		t.Fatalf("refused repairs changed Redis: stock %d", stock)
	}

	frag := admin.post("/admin/consistency/repair", url.Values{"action": {"rebuild_campaign"}, "campaign_id": {id}}, "HX-Request", "true")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `id="report"`) ||
		!strings.Contains(frag.body, "Repair #") || !strings.Contains(frag.body, "checks agree") {
		t.Fatalf("HTMX repair: %d %s", frag.status, frag.body)
	}
	again := admin.json().post("/admin/consistency/repair", url.Values{"action": {"rebuild_campaign"}, "campaign_id": {id}})
	rep := decode(t, again)
	if again.status != 200 || rep["ok"] != true || rep["ran_at"] == nil {
		t.Fatalf("second repair: %d %s", again.status, again.body)
	}
	if rr, _ := rep["repair"].(map[string]any); rr["ok"] != true || rr["action"] != "rebuild_campaign" || rr["actor_id"] == nil {
		t.Fatalf("repair record: %v", rep["repair"])
	}
	plain := admin.post("/admin/consistency/repair", url.Values{"action": {"redrive_dead_letters"}})
	if plain.status != http.StatusSeeOther {
		t.Fatalf("form repair should redirect: %d", plain.status)
	}
	if n := h.count(`SELECT count(*) FROM consistency_runs WHERE kind = 'repair' AND actor_id IS NOT NULL`); n != 3 {
		t.Fatalf("history holds %d repairs with who ran them, want 3", n)
	}
	if hist := admin.get("/admin/consistency"); !strings.Contains(hist.body, "Repair #") || !strings.Contains(hist.body, "by admin #") {
		t.Fatalf("history does not show the repairs")
	}
}
