package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// While PostgreSQL is unreachable every page that needs it says so with a 503
// and Retry-After, never a 500; when it is back, the same pages work again
// without a restart. Sessions live in cookies, so nobody is logged out.
func TestPagesAnswer503WithRetryAfterWhilePostgresIsDown(t *testing.T) {
	_, raw := testenv.DBWithURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	pool, err := db.Open(t.Context(), u.String(), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	h := newHarnessOn(t, pool)

	admin := h.client()
	admin.login(adminEmail, adminPassword)
	shopper := h.client()
	shopper.signup("outage@example.test", "Outage", "password123")

	topUp := url.Values{"amount": {"1000"}}
	pages := []struct {
		who  *client
		path string
		form url.Values // a POST when set
	}{
		{admin, "/admin", nil},
		{admin, "/admin/campaigns", nil},
		{admin, "/admin/orders", nil},
		{admin, "/admin/products", nil},
		{shopper, "/account", nil},
		{shopper, "/orders", nil},
		{shopper, "/cart", nil},
		{shopper, "/products?q=x", nil},
		{shopper, "/account/topup", topUp},
		// Nothing of a download has been sent when its first read fails.
		{admin, "/admin/exports/orders.csv", nil},
		{admin, "/admin/exports/ledger.csv?kind=stock", nil},
	}
	ask := func(c *client, path string, form url.Values) reply {
		if form != nil {
			return c.post(path, form)
		}
		return c.get(path)
	}
	each := func(check func(name string, r reply)) {
		for _, p := range pages {
			for _, c := range []*client{p.who, p.who.json()} {
				name := p.path
				if c.hdr.Get("Accept") != "" {
					name += " (JSON)"
				}
				check(name, ask(c, p.path, p.form))
			}
		}
	}
	works := func(name string, r reply) {
		t.Helper()
		if r.status >= 400 {
			t.Errorf("%s: status %d with PostgreSQL up: %.300s", name, r.status, r.body)
		}
	}
	each(works)

	proxy.Cut()
	each(func(name string, r reply) {
		t.Helper()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "5" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 and 5: %.300s", name, r.status, r.header.Get("Retry-After"), r.body)
			return
		}
		if !strings.HasSuffix(name, "(JSON)") {
			if !strings.Contains(r.body, "cannot reach its data right now") {
				t.Errorf("%s: the page does not say what is wrong:\n%s", name, r.body)
			}
			return
		}
		var got struct{ Error, Code string }
		if err := json.Unmarshal([]byte(r.body), &got); err != nil || got.Code != "unavailable" || !strings.Contains(got.Error, "cannot reach its data") {
			t.Errorf("%s: JSON %s (%v)", name, r.body, err)
		}
	})

	proxy.Restore()
	each(works)
}

// A request out of time gets a readable answer in every shape (a page, a
// fragment, JSON), not an empty 504: here a checkout waits on a shopper row
// another session holds, past REQUEST_TIMEOUT.
func TestARequestOutOfTimeIsAReadable504(t *testing.T) {
	h := newHarnessOn(t, testenv.DB(t), func(d *Deps) { d.Config.RequestTimeout = 300 * time.Millisecond })
	p := h.product("Kettle", 5_000, 5)
	c := h.shopper("late@example.test", 10_000)
	c.post("/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}})
	tx, err := h.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM users WHERE email = 'late@example.test' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		who   *client
		extra []string
		shows string
	}{
		{"browser", c, nil, "That took too long"},
		{"htmx", c, []string{"HX-Request", "true"}, "That took too long"},
		{"JSON", c.json(), nil, `"code":"timeout"`},
	} {
		r := tt.who.post("/checkout", url.Values{"idempotency_key": {"late-" + tt.name}}, tt.extra...)
		if r.status != http.StatusGatewayTimeout || !strings.Contains(r.body, tt.shows) || len(r.header.Values("Vary")) != 1 {
			t.Errorf("%s: %d, Vary %q: %.300s", tt.name, r.status, r.header.Values("Vary"), r.body)
		}
	}
}

// Every 429 and 503 tells the client when to try again; other failures do
// not. A database outage is a warning in the log, not an error.
func TestEvery503And429SaysWhenToRetry(t *testing.T) {
	h := newHarness(t)
	proxy := testenv.NewProxy(t, "127.0.0.1:1") // cut: never dialled
	proxy.Cut()
	_, connErr := db.Open(t.Context(), "postgres://postgres@"+proxy.Addr()+"/market?sslmode=disable", 1)
	if !db.Unavailable(connErr) {
		t.Fatalf("connect through a cut proxy: %v", connErr)
	}

	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantRetry  string
		wantCode   string
	}{
		{"database down", fmt.Errorf("load the cart: %w", connErr), 503, "5", "unavailable"},
		{"database connection reset", fmt.Errorf("list orders: %w", io.ErrUnexpectedEOF), 503, "5", "unavailable"},
		{"redis out of connections", fmt.Errorf("start a session: %w", redis.ErrPoolTimeout), 503, "5", "unavailable"},
		{"busy", errs.New(errs.Busy, "We are very busy right now."), 503, "1", "busy"},
		{"a dependency unavailable", errs.New(errs.Unavailable, "Coupons are busy right now."), 503, "2", "unavailable"},
		{"rate limited", errs.New(errs.TooManyRequests, "Too many failed logins."), 429, "900", "too_many_requests"},
		{"conflict", errs.New(errs.Conflict, "Already done."), 409, "", "conflict"},
		{"bug", errors.New("nil map"), 500, "", "internal"},
		{"timeout", fmt.Errorf("search: %w", context.DeadlineExceeded), 504, "", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &levels{}
			h.s.Log = slog.New(logs)
			req := httptest.NewRequest(http.MethodGet, "/cart", nil)
			req.Header.Set("Accept", "application/json")
			w := httptest.NewRecorder()
			h.s.fail(w, req, tt.err)
			if w.Code != tt.wantStatus || w.Header().Get("Retry-After") != tt.wantRetry || !strings.Contains(w.Body.String(), `"code":"`+tt.wantCode+`"`) {
				t.Fatalf("status %d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body.String())
			}
			if tt.wantRetry == "5" && (len(logs.seen) != 1 || logs.seen[0] != "WARN request_id") {
				t.Fatalf("a database outage is logged as one warning with the request id: %v", logs.seen)
			}
		})
	}
}

// levels is a slog handler that notes each record's level and whether it
// carries a request id.
type levels struct {
	mu   sync.Mutex
	seen []string
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String()
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "request_id" {
			s += " request_id"
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, s)
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

// While Redis cannot check a session, a signed-in shopper still browses the
// catalogue, as a guest and told why; what needs the sign-in answers 503
// with Retry-After (never a trip to the login page that would lose the
// cart's intent); once Redis is back the shopper is signed in as before.
func TestTheCatalogueStaysOpenWhileSessionsCannotBeChecked(t *testing.T) {
	proxy := testenv.NewProxy(t, testenv.Redis(t).Options().Addr)
	rdb := redis.NewClient(&redis.Options{Addr: proxy.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	h := newHarnessOn(t, testenv.DB(t), func(d *Deps) {
		d.Accounts = account.NewService(d.Pool, rdb, account.Limits{PerEmail: 5, PerAddr: 100, Window: time.Minute, SignupPerAddr: 100, Hashes: 2})
	})
	p := strconv.FormatInt(h.product("Lamp", 9_000, 3), 10)
	shopper := h.client()
	shopper.signup("outage@example.test", "Outage", "password-123")

	proxy.Cut()
	time.Sleep(1200 * time.Millisecond) // past the second a session seen open is trusted
	page := shopper.get("/products?q=lamp")
	if page.status != http.StatusOK || !strings.Contains(page.body, "Lamp") || !strings.Contains(page.body, "cannot check your sign-in") {
		t.Fatalf("catalogue while Redis is down: %d %.400s", page.status, page.body)
	}
	if r := shopper.json().get("/products/" + p); r.status != http.StatusOK {
		t.Fatalf("product JSON: %d %s", r.status, r.body)
	}
	for _, r := range []reply{shopper.get("/cart"), shopper.json().get("/account"),
		shopper.post("/cart/items", url.Values{"product_id": {p}, "quantity": {"1"}}), shopper.get("/admin")} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("a signed-in page while Redis is down: %d %q %.300s", r.status, r.header.Get("Location"), r.body)
		}
	}
	if n := h.count("SELECT count(*) FROM cart_items"); n != 0 {
		t.Fatalf("%d cart rows", n)
	}

	proxy.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for !signedIn(t, shopper) {
		if time.Now().After(deadline) {
			t.Fatal("the shopper is not signed in again after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
