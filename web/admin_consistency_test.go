package web

import (
	"encoding/json"
	"net/http"
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
	if page.status != 200 || !strings.Contains(page.body, "All 1 checks agree") {
		t.Fatalf("page: %d", page.status)
	}
	frag := admin.post("/admin/consistency/run", nil, "HX-Request", "true")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `id="report"`) {
		t.Fatalf("HTMX run: %d %s", frag.status, frag.body)
	}
	if r := admin.get("/admin/consistency?run=abc"); r.status != 404 {
		t.Fatalf("garbage run id: %d", r.status)
	}
	if r := admin.get("/admin/consistency?run=999999"); r.status != 404 {
		t.Fatalf("unknown run id: %d", r.status)
	}
}
