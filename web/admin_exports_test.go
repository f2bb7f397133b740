package web

import (
	"encoding/csv"
	"strings"
	"testing"
)

func TestExportsAreCSVDownloadsForAdminsOnly(t *testing.T) {
	h := newHarness(t)
	shopper := h.client()
	shopper.signup("csv@example.test", "=cmd|' /C calc'!A0", "password123")
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	if _, err := h.pool.Exec(t.Context(), `INSERT INTO orders (user_id, idempotency_key, subtotal, charged)
		SELECT id, 'k', 5000, 5000 FROM users WHERE email = 'csv@example.test'`); err != nil {
		t.Fatal(err)
	}
	r := admin.get("/admin/exports/orders.csv?status=placed")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(r.header.Get("Content-Disposition"), `attachment; filename="orders-placed.csv"`) {
		t.Fatalf("orders.csv: %d %v", r.status, r.header)
	}
	rows, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][3] != "csv@example.test" || rows[1][8] != "5000" {
		t.Fatalf("orders.csv rows %v (%v)", rows, err)
	}
	for _, path := range []string{"/admin/exports/ledger.csv?kind=balance", "/admin/exports/ledger.csv?kind=points", "/admin/exports/ledger.csv?kind=stock"} {
		if r := admin.get(path); r.status != 200 || !strings.HasPrefix(r.body, "id,") {
			t.Errorf("%s: %d %q", path, r.status, r.body)
		}
	}
	for path, want := range map[string]int{
		"/admin/exports/ledger.csv?kind=coupons":         422,
		"/admin/exports/ledger.csv":                      422,
		"/admin/exports/orders.csv?from=yesterday":       422,
		"/admin/exports/orders.csv?status=lost":          422,
		"/admin/exports/claims.csv":                      422,
		"/admin/exports/claims.csv?campaign_id=-1":       422,
		"/admin/exports/claims.csv?campaign_id=99999999": 404,
	} {
		if r := admin.json().get(path); r.status != want || strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
			t.Errorf("%s: %d (%s), want %d and no CSV", path, r.status, r.header.Get("Content-Type"), want)
		}
	}
	// The orders page offers the export of what its filter shows.
	if r := admin.get("/admin/orders?status=placed&from=2026-01-01"); !strings.Contains(r.body, `href="/admin/exports/orders.csv?from=2026-01-01&amp;status=placed"`) {
		t.Errorf("the orders page has no download of its filter")
	}
	if r := shopper.get("/admin/exports/orders.csv"); r.status != 403 || strings.Contains(r.body, "csv@example.test") {
		t.Fatalf("a shopper's export: %d", r.status)
	}
}
