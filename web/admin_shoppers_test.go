package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type shoppersJSON struct {
	Shoppers []struct {
		ID       int64
		Email    string
		Name     string
		Disabled bool
	}
	NextCursor string `json:"next_cursor"`
}

func findShoppers(t *testing.T, c *client, query url.Values) shoppersJSON {
	t.Helper()
	r := c.get("/admin/shoppers?" + query.Encode())
	var out shoppersJSON
	if r.status != 200 || json.Unmarshal([]byte(r.body), &out) != nil {
		t.Fatalf("GET /admin/shoppers?%s: %d %s", query.Encode(), r.status, r.body)
	}
	return out
}

// The list finds shoppers by the start of their email or name in any case,
// pages newest first without losing or repeating anyone, and never lists
// an admin.
func TestAdminFindsShoppersByEmailOrNameInPages(t *testing.T) {
	h := newHarness(t)
	// Made in SQL: the sign-up limiter would stop a crowd from one address.
	if _, err := h.pool.Exec(t.Context(), `INSERT INTO users (email, password_hash, name)
		SELECT 'kim' || i || '@example.test', 'x', 'Kim Number ' || i FROM generate_series(0, 54) i
		UNION ALL SELECT 'lee@example.test', 'x', 'Park Lee'`); err != nil {
		t.Fatal(err)
	}
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()

	seen := map[int64]bool{}
	page := findShoppers(t, admin, url.Values{"q": {"KIM"}})
	for {
		for _, s := range page.Shoppers {
			if seen[s.ID] || !strings.HasPrefix(s.Email, "kim") {
				t.Fatalf("shopper %+v repeated or not a match", s)
			}
			seen[s.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		page = findShoppers(t, admin, url.Values{"q": {"kim"}, "after": {page.NextCursor}})
	}
	if len(seen) != 55 {
		t.Fatalf("found %d shoppers starting with kim, want 55", len(seen))
	}
	if got := findShoppers(t, admin, url.Values{"q": {"park"}}); len(got.Shoppers) != 1 || got.Shoppers[0].Email != "lee@example.test" {
		t.Fatalf("by name: %+v", got)
	}
	if got := findShoppers(t, admin, url.Values{"q": {"admin"}}); len(got.Shoppers) != 0 {
		t.Fatalf("an admin was listed: %+v", got)
	}
	if got := findShoppers(t, admin, url.Values{"q": {"%"}}); len(got.Shoppers) != 0 {
		t.Fatalf("%% is a character, not a wildcard: %+v", got)
	}
	if all := findShoppers(t, admin, nil); len(all.Shoppers) != 50 || all.NextCursor == "" {
		t.Fatalf("the first page of everyone: %d, next %q", len(all.Shoppers), all.NextCursor)
	}
	for _, bad := range []string{"after=abc", "after=-5", "q=a%00b"} {
		if r := admin.get("/admin/shoppers?" + bad); r.status != 422 {
			t.Errorf("?%s: %d, want 422", bad, r.status)
		}
	}
}

// An adjustment moves the balance or points by exactly its amount with a
// ledger row that keeps the reason; it never goes below zero, even when
// admins take away at once; bad input changes nothing.
func TestAdminAdjustsAWalletWithALedgerRowAndNeverBelowZero(t *testing.T) {
	h := newHarness(t)
	shopper := h.client()
	shopper.signup("wallet@example.test", "Wallet", "password123")
	id := h.count("SELECT id FROM users WHERE email = 'wallet@example.test'")
	path := "/admin/shoppers/" + strconv.FormatInt(id, 10)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()

	if r := admin.post(path+"/adjust", url.Values{"kind": {"balance"}, "delta": {"₩5,000"}, "reason": {"Goodwill for a late parcel"}}); r.status != 200 {
		t.Fatalf("adjust: %d %s", r.status, r.body)
	}
	if b := h.count("SELECT balance FROM users WHERE id = $1", id); b != 5000 {
		t.Fatalf("balance %d, want 5000", b)
	}
	if n := h.count("SELECT count(*) FROM balance_ledger WHERE user_id = $1 AND reason = 'adjustment' AND note = 'Goodwill for a late parcel' AND delta = 5000", id); n != 1 {
		t.Fatalf("%d ledger rows", n)
	}
	bad := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"below zero", url.Values{"kind": {"balance"}, "delta": {"-5001"}, "reason": {"x"}}, 409},
		{"points below zero", url.Values{"kind": {"points"}, "delta": {"-1"}, "reason": {"x"}}, 409},
		{"zero", url.Values{"kind": {"balance"}, "delta": {"0"}, "reason": {"x"}}, 422},
		{"huge", url.Values{"kind": {"balance"}, "delta": {"999999999999"}, "reason": {"x"}}, 422},
		{"no reason", url.Values{"kind": {"balance"}, "delta": {"10"}}, 422},
		{"unknown kind", url.Values{"kind": {"coupons"}, "delta": {"10"}, "reason": {"x"}}, 422},
		{"NUL in the reason", url.Values{"kind": {"balance"}, "delta": {"10"}, "reason": {"a\x00"}}, 422},
	}
	for _, tt := range bad {
		r := admin.post(path+"/adjust", tt.form)
		if r.status != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
	if b := h.count("SELECT balance FROM users WHERE id = $1", id); b != 5000 {
		t.Fatalf("refused adjustments changed the balance to %d", b)
	}
	// Ten admins take ₩1,000 at once: five succeed, five are refused.
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make(chan int, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes <- admin.post(path+"/adjust", url.Values{"kind": {"balance"}, "delta": {"-1000"}, "reason": {"Correction"}}).status
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[200] != 5 || got[409] != 5 || h.count("SELECT balance FROM users WHERE id = $1", id) != 0 {
		t.Fatalf("statuses %v, balance %d", got, h.count("SELECT balance FROM users WHERE id = $1", id))
	}
	if sum := h.count("SELECT coalesce(sum(delta), 0) FROM balance_ledger WHERE user_id = $1", id); sum != 0 {
		t.Fatalf("the ledger sums to %d, the balance is 0", sum)
	}
	// Not a shopper: an admin's wallet, an unknown id, a shopper asking.
	adminID := h.count("SELECT id FROM users WHERE role = 'admin'")
	if r := admin.post("/admin/shoppers/"+strconv.FormatInt(adminID, 10)+"/adjust", url.Values{"kind": {"balance"}, "delta": {"1"}, "reason": {"x"}}); r.status != 404 {
		t.Errorf("adjusting an admin: %d", r.status)
	}
	if r := admin.post("/admin/shoppers/999999/adjust", url.Values{"kind": {"balance"}, "delta": {"1"}, "reason": {"x"}}); r.status != 404 {
		t.Errorf("unknown shopper: %d", r.status)
	}
	if r := shopper.json().post(path+"/adjust", url.Values{"kind": {"balance"}, "delta": {"1000"}, "reason": {"me"}}); r.status != 403 {
		t.Errorf("a shopper adjusting: %d", r.status)
	}
}

// Disabling ends the shopper's sessions and refuses their logins (the right
// password included) until an admin enables the account again.
func TestADisabledShopperIsSignedOutAndCannotLogIn(t *testing.T) {
	h := newHarness(t)
	shopper := h.client()
	shopper.signup("gone@example.test", "Gone", "password123")
	if r := shopper.json().get("/account"); r.status != 200 {
		t.Fatalf("signed in: %d", r.status)
	}
	id := strconv.FormatInt(h.count("SELECT id FROM users WHERE email = 'gone@example.test'"), 10)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	if r := admin.post("/admin/shoppers/"+id+"/disable", nil); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if r := shopper.json().get("/account"); r.status != 401 {
		t.Fatalf("the disabled shopper's session still works: %d", r.status)
	}
	r := h.client().json().post("/login", url.Values{"email": {"gone@example.test"}, "password": {"password123"}})
	if r.status != 403 || !strings.Contains(r.body, "disabled") {
		t.Fatalf("login while disabled: %d %s", r.status, r.body)
	}
	if r := admin.post("/admin/shoppers/"+id+"/enable", nil); r.status != 200 {
		t.Fatalf("enable: %d", r.status)
	}
	if r := h.client().json().post("/login", url.Values{"email": {"gone@example.test"}, "password": {"password123"}}); r.status != 200 {
		t.Fatalf("login after enabling: %d %s", r.status, r.body)
	}
	// An admin cannot be disabled here.
	adminID := strconv.FormatInt(h.count("SELECT id FROM users WHERE role = 'admin'"), 10)
	if r := admin.post("/admin/shoppers/"+adminID+"/disable", nil); r.status != 404 {
		t.Fatalf("disabling an admin: %d", r.status)
	}
	page := h.client()
	page.login(adminEmail, adminPassword)
	if r := page.get("/admin/shoppers/" + id); r.status != 200 || !strings.Contains(r.body, "Disable account") {
		t.Fatalf("the shopper's page: %d", r.status)
	}
}

// Two admins (twenty clicks) disabling one shopper at once: every answer is
// 200, the shopper is disabled, and the audit trail holds one change; then
// the same for enabling.
func TestAdminsDisablingAtOnceRecordOneChange(t *testing.T) {
	h := newHarness(t)
	h.client().signup("twice@example.test", "Twice", "password123")
	id := h.count("SELECT id FROM users WHERE email = 'twice@example.test'")
	var admins []*client
	for range 2 {
		a := h.client()
		a.login(adminEmail, adminPassword)
		admins = append(admins, a.json())
	}
	for _, action := range []string{"disable", "enable"} {
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Go(func() { statuses[i] = admins[i%2].post(fmt.Sprintf("/admin/shoppers/%d/%s", id, action), nil).status })
		}
		wg.Wait()
		for i, st := range statuses {
			if st != 200 {
				t.Fatalf("%s %d: status %d", action, i, st)
			}
		}
		if n := h.count("SELECT count(*) FROM audit_log WHERE action = $1", action); n != 1 {
			t.Fatalf("%d audit rows for %s, want 1", n, action)
		}
	}
	if n := h.count("SELECT count(*) FROM users WHERE id = $1 AND disabled_at IS NULL", id); n != 1 {
		t.Fatal("the shopper is not enabled at the end")
	}
}
