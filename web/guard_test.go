package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// adminRoutes lists every route under /admin, so a new admin page is
// covered by the guard test without anyone remembering to add it.
func adminRoutes(t *testing.T, s *Server) [][2]string {
	var out [][2]string
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/admin") {
			path := strings.NewReplacer("{id}", "1", "{campaignID}", "1", "{productID}", "1").Replace(strings.TrimSuffix(route, "/*"))
			out = append(out, [2]string{method, path})
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		t.Fatalf("no admin routes found (%v)", err)
	}
	return out
}

func TestAdminGuard(t *testing.T) {
	h := newHarness(t)
	shopper := h.client()
	shopper.signup("shopper@example.test", "Shopper", "password123")
	admin := h.client()
	admin.login(adminEmail, adminPassword)

	for _, rt := range adminRoutes(t, h.s) {
		method, path := rt[0], rt[1]
		t.Run(method+" "+path, func(t *testing.T) {
			if r := shopper.do(method, path, strings.NewReader(""), "application/x-www-form-urlencoded"); r.status != http.StatusForbidden {
				t.Errorf("shopper: status %d, want 403", r.status)
			}
			if r := shopper.json().do(method, path, nil, ""); r.status != http.StatusForbidden || !strings.Contains(r.body, `"code":"forbidden"`) {
				t.Errorf("shopper JSON: %d %s", r.status, r.body)
			}
			anon := h.client()
			r := anon.do(method, path, nil, "")
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
				t.Errorf("anonymous browser: %d to %q, want 303 to /login", r.status, r.header.Get("Location"))
			}
			if r := anon.json().do(method, path, nil, ""); r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"code":"unauthorized"`) {
				t.Errorf("anonymous JSON: %d %s", r.status, r.body)
			}
		})
	}
	if r := admin.get("/admin"); r.status != 200 || !strings.Contains(r.body, "Dashboard") {
		t.Fatalf("admin: %d", r.status)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	h := newHarness(t)
	form := url.Values{"email": {"x@example.test"}, "name": {"X"}, "password": {"password123"}}
	r := h.client().post("/signup", form, "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-site: %d", r.status)
	}
	r = h.client().json().post("/signup", form, "Origin", "https://evil.test")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `"code":"forbidden"`) {
		t.Fatalf("foreign origin: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM users WHERE email = 'x@example.test'"); n != 0 {
		t.Fatalf("a refused request created %d users", n)
	}
	// The same form from the site itself goes through.
	if r := h.client().post("/signup", form, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("same-origin: %d", r.status)
	}
}

func TestBodyOverOneMiBIs413(t *testing.T) {
	h := newHarness(t)
	big := url.Values{"email": {"x@example.test"}, "name": {strings.Repeat("n", 2<<20)}, "password": {"password123"}}
	if r := h.client().json().post("/signup", big); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %.200s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM users WHERE email = 'x@example.test'"); n != 0 {
		t.Fatal("an oversized request changed something")
	}
}

func TestPagesAnswerInThreeShapes(t *testing.T) {
	h := newHarness(t)
	c := h.client()

	page := c.get("/login")
	if page.status != 200 || !strings.Contains(page.body, "<!doctype html>") || !strings.Contains(page.header.Get("Vary"), "HX-Request") {
		t.Fatalf("full page: %d vary=%q", page.status, page.header.Get("Vary"))
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP: %q", csp)
	}
	notFound := c.get("/no-such-page")
	if notFound.status != 404 || !strings.Contains(notFound.body, "<h1>Not found</h1>") {
		t.Fatalf("404 page: %d", notFound.status)
	}
	frag := c.get("/no-such-page", "HX-Request", "true")
	if frag.status != 404 || strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, "We could not find that page.") {
		t.Fatalf("404 fragment: %d %s", frag.status, frag.body)
	}
	j := c.json().get("/no-such-page")
	if j.status != 404 || strings.TrimSpace(j.body) != `{"code":"not_found","error":"We could not find that page."}` {
		t.Fatalf("404 JSON: %d %s", j.status, j.body)
	}
	// A boosted or history-restore request needs the whole page.
	if b := c.get("/login", "HX-Request", "true", "HX-History-Restore-Request", "true"); !strings.Contains(b.body, "<!doctype html>") {
		t.Fatal("history restore got a fragment")
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	if r := h.client().get("/healthz"); r.status != 200 {
		t.Fatalf("healthz %d", r.status)
	}
	if r := h.client().get("/readyz"); r.status != 200 || !strings.Contains(r.body, `"postgres":"ok"`) || !strings.Contains(r.body, `"redis":"ok"`) {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
}

func TestPanicBecomesA500Page(t *testing.T) {
	h := newHarness(t)
	r := chi.NewRouter()
	r.Use(h.s.recoverPanic)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	rec := newRecorder()
	r.ServeHTTP(rec, mustRequest(t, "/boom"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "Something went wrong") || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
}
