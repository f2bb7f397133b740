package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/account"
	"market/internal/audit"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/export"
	"market/internal/order"
	"market/internal/replica"
	"market/internal/search"
	"market/internal/testenv"
)

// harness is the real handler over a fresh database and a private Redis.
type harness struct {
	t    testing.TB
	srv  *httptest.Server
	pool *pgxpool.Pool
	s    *Server
	// coupons is the harness's coupon service; tests run its flusher when they need one.
	coupons *coupon.Service
}

const (
	adminEmail    = "admin@example.test"
	adminPassword = "admin-password-for-tests"
)

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.DB(t))
}

// newHarnessOn is the harness over a pool the test opened itself, e.g.
// through a testenv.Proxy to see PostgreSQL go away.
func newHarnessOn(t testing.TB, pool *pgxpool.Pool, with ...func(*Deps)) *harness {
	t.Helper()
	return newHarnessReading(t, pool, replica.PrimaryOnly(pool), with...)
}

// newHarnessReading is the harness whose catalogue and search reads go
// through reads (a replica beside pool).
func newHarnessReading(t testing.TB, pool *pgxpool.Pool, reads *replica.Reads, with ...func(*Deps)) *harness {
	t.Helper()
	rdb := testenv.Redis(t)
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword, "LOGIN_FAILURES_PER_EMAIL": "5"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	accounts := account.NewService(pool, rdb, account.Limits{PerEmail: cfg.LoginFailuresPerEmail, PerAddr: cfg.LoginFailuresPerAddr, Window: cfg.LoginWindow,
		SignupPerAddr: cfg.SignupLimitPerAddr, Hashes: cfg.PasswordHashConcurrency})
	if _, err := accounts.EnsureAdmin(t.Context(), cfg.AdminEmail, cfg.AdminPassword); err != nil {
		t.Fatal(err)
	}
	coupons := coupon.NewService(pool, rdb, coupon.Options{})
	orders, err := order.NewService(pool, order.Options{Locking: cfg.OrderLocking, Coupons: coupons})
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Redis: rdb, Accounts: accounts, Reads: reads, Catalog: catalog.NewService(reads), Search: search.NewService(reads),
		Coupons: coupons, Orders: orders, Exports: export.NewService(pool), Audit: audit.NewService(pool), Consistency: consistency.NewService(pool, slog.New(slog.DiscardHandler), coupons)}
	for _, f := range with {
		f(&d)
	}
	s := &Server{Deps: d, sessions: newSessionStore(cfg.SessionSecret, false, accounts.Sessions), metrics: newHTTPMetrics(nil)}
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, pool: pool, s: s, coupons: coupons}
}

// client is one browser: its own cookie jar, redirects not followed.
type client struct {
	h   *harness
	hc  *http.Client
	hdr http.Header
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, hdr: http.Header{}, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// json returns a copy of the client that asks for JSON answers.
func (c *client) json() *client {
	cc := *c
	cc.hdr = c.hdr.Clone()
	cc.hdr.Set("Accept", "application/json")
	return &cc
}

type reply struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(method, path string, body io.Reader, contentType string, extra ...string) reply {
	c.h.t.Helper()
	req, err := http.NewRequest(method, c.h.srv.URL+path, body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	req.Header = c.hdr.Clone()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, body: string(b), header: res.Header}
}

func (c *client) get(path string, extra ...string) reply {
	return c.do(http.MethodGet, path, nil, "", extra...)
}

func (c *client) post(path string, form url.Values, extra ...string) reply {
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", extra...)
}

// signup creates a shopper and leaves this client logged in as them.
func (c *client) signup(email, name, password string) {
	c.h.t.Helper()
	r := c.post("/signup", url.Values{"email": {email}, "name": {name}, "password": {password}})
	if r.status != http.StatusSeeOther {
		c.h.t.Fatalf("signup %s: status %d: %s", email, r.status, r.body)
	}
}

func (c *client) login(email, password string) {
	c.h.t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.status != http.StatusSeeOther {
		c.h.t.Fatalf("login %s: status %d: %s", email, r.status, r.body)
	}
}

func (h *harness) count(sql string, args ...any) int64 {
	h.t.Helper()
	var n int64
	if err := h.pool.QueryRow(h.t.Context(), sql, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}
