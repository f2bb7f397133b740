package web

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Every answer to a signed-in request, page or JSON, shopper or admin, tells
// caches (the browser's history on a shared computer) not to keep it;
// anonymous pages and static files stay cacheable.
func TestSignedInAnswersAreNeverStored(t *testing.T) {
	h := newHarness(t)
	p := h.product("Mug", 3_000, 5)
	shopper := h.shopper("no-store@example.test", 10_000)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	anon := h.client()

	tests := []struct {
		name      string
		c         *client
		method    string
		path      string
		form      url.Values
		wantCache string
	}{
		{"account", shopper, "GET", "/account", nil, "no-store"},
		{"account JSON", shopper.json(), "GET", "/account", nil, "no-store"},
		{"cart", shopper, "GET", "/cart", nil, "no-store"},
		{"cart change JSON", shopper.json(), "POST", "/cart/items", url.Values{"product_id": {fmt.Sprint(p)}, "quantity": {"1"}}, "no-store"},
		{"orders", shopper, "GET", "/orders", nil, "no-store"},
		{"orders JSON", shopper.json(), "GET", "/orders", nil, "no-store"},
		{"a shopper's home page", shopper, "GET", "/", nil, "no-store"},
		{"a shopper on an admin page (403)", shopper, "GET", "/admin", nil, "no-store"},
		{"admin", admin, "GET", "/admin", nil, "no-store"},
		{"admin campaigns JSON", admin.json(), "GET", "/admin/campaigns", nil, "no-store"},
		{"admin orders", admin, "GET", "/admin/orders", nil, "no-store"},
		{"admin products", admin, "GET", "/admin/products", nil, "no-store"},
		{"admin consistency", admin, "GET", "/admin/consistency", nil, "no-store"},
		{"a signed-in request's static file", shopper, "GET", "/static/style.css", nil, "public, max-age=31536000"},
		{"anonymous home page", anon, "GET", "/", nil, ""},
		{"anonymous search JSON", anon.json(), "GET", "/products", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if tc.method == "POST" {
				r = tc.c.post(tc.path, tc.form)
			} else {
				r = tc.c.get(tc.path)
			}
			if r.status >= 500 || r.header.Get("Cache-Control") != tc.wantCache {
				t.Fatalf("%s %s: %d, Cache-Control %q; want %q", tc.method, tc.path, r.status, r.header.Get("Cache-Control"), tc.wantCache)
			}
		})
	}
}

// A request body fed a byte at a time is cut off once the body read timeout
// has passed: the client is told 408 and the connection is closed, instead of
// staying open for as long as the client likes.
func TestABodyFedSlowlyIsCutOffAtTheReadTimeout(t *testing.T) {
	h := newHarness(t)
	d := h.s.Deps
	d.Config.BodyReadTimeout = 300 * time.Millisecond
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	head := "POST /login HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	go func() { // a byte every 100 ms until the server hangs up: 100 s for the whole body
		for {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer %v after the body started trickling: %v", time.Since(began).Round(time.Millisecond), err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "took too long to arrive") || !res.Close {
		t.Errorf("a body cut off answered %d %q (closing the connection: %v); want 408 and a close", res.StatusCode, b, res.Close)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("answered after %v", took)
	}
	// And the server hangs up, rather than waiting for the rest of the body.
	// (EOF, or a reset when the server closes with the client's bytes unread.)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
		t.Errorf("after the 408 the connection stayed open (read %d bytes, %v)", n, err)
	}
}

// HEAD is answered like GET, without a body, on every page, signed in or not.
func TestHEADIsAnsweredLikeGETOnEveryPage(t *testing.T) {
	h := newHarness(t)
	p := h.product("Mug", 3_000, 5)
	shopper := h.shopper("head@example.test", 0)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	anon := h.client()
	pages := []struct {
		c    *client
		path string
	}{
		{anon, "/"}, {anon, "/login"}, {anon, "/signup"}, {anon, "/products?q=mug"}, {anon, fmt.Sprintf("/products/%d", p)},
		{anon, "/coupons"}, {anon, "/healthz"}, {anon, "/readyz"}, {anon, "/static/style.css"}, {anon, "/account"},
		{shopper, "/account"}, {shopper, "/cart"}, {shopper, "/orders"}, {shopper.json(), "/cart"},
		{admin, "/admin"}, {admin, "/admin/campaigns"}, {admin, "/admin/orders"}, {admin, "/admin/products"},
		{admin, fmt.Sprintf("/admin/products/%d", p)}, {admin, "/admin/consistency"}, {admin.json(), "/admin/orders"},
	}
	for _, pg := range pages {
		get := pg.c.get(pg.path)
		head := pg.c.do(http.MethodHead, pg.path, nil, "")
		if head.status != get.status || head.body != "" || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q (%q); GET: %d (%q)", pg.path, head.status, head.body, head.header.Get("Content-Type"), get.status, get.header.Get("Content-Type"))
		}
	}
}

// A method a path does not take is 405 with the usual error body and an
// Allow header naming the methods it does take.
func TestAWrongMethodIs405WithAllow(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	anon := h.client()
	tests := []struct {
		c         *client
		method    string
		path      string
		wantAllow string
	}{
		{anon, "POST", "/products", "GET, HEAD"},
		{anon, "GET", "/logout", "POST"},
		{anon, "HEAD", "/logout", "POST"},
		{anon, "DELETE", "/login", "GET, HEAD, POST"},
		{anon, "PUT", "/static/style.css", "GET, HEAD"},
		{anon, "POST", "/healthz", "GET, HEAD"},
		{admin, "PATCH", "/admin/campaigns", "GET, HEAD, POST"},
		{admin, "DELETE", "/admin/campaigns/1", "GET, HEAD, POST"},
		{admin.json(), "PUT", "/admin/consistency/run", "POST"},
	}
	for _, tc := range tests {
		r := tc.c.do(tc.method, tc.path, nil, "")
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tc.wantAllow {
			t.Errorf("%s %s: %d, Allow %q; want 405 and %q", tc.method, tc.path, r.status, r.header.Get("Allow"), tc.wantAllow)
			continue
		}
		switch {
		case tc.method == "HEAD":
		case tc.c.hdr.Get("Accept") != "":
			if !strings.Contains(r.body, `"code":"method_not_allowed"`) {
				t.Errorf("%s %s JSON: %s", tc.method, tc.path, r.body)
			}
		case !strings.Contains(r.body, "not allowed here") || !strings.Contains(r.body, "<html"):
			t.Errorf("%s %s page: %.300s", tc.method, tc.path, r.body)
		}
	}
}

// /static/ serves files and never lists a directory.
func TestStaticServesFilesButNoDirectoryListing(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	if r := c.get("/static/style.css"); r.status != http.StatusOK {
		t.Fatalf("a static file: %d", r.status)
	}
	for _, path := range []string{"/static/", "/static/.", "/static/./", "/static/style.css/", "/static/nothing.css"} {
		if r := c.get(path); r.status != http.StatusNotFound || strings.Contains(r.body, `href="style.css"`) {
			t.Errorf("GET %s: %d %.200s; want 404 without a listing", path, r.status, r.body)
		}
	}
}

// A statement PostgreSQL cancelled at its statement_timeout is a 504 that
// says it took too long, not a 500.
func TestAStatementTimeoutIsA504(t *testing.T) {
	s := &Server{Deps: Deps{Log: slog.New(slog.DiscardHandler)}}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/products", nil)
	req.Header.Set("Accept", "application/json")
	s.fail(rec, req, fmt.Errorf("search: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}))
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), `"code":"timeout"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

// An HTMX request to a page without a fragment of its own gets the page's
// main content, without the layout; a boosted one (a navigation) and a
// browser get the whole page.
func TestHTMXGetsThePagesMainContent(t *testing.T) {
	h := newHarness(t)
	c := h.shopper("partial@example.test", 0)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	for _, tt := range []struct {
		who   *client
		path  string
		shows string
	}{
		{c, "/coupons", "<h1"},
		{c, "/account", "<h1"},
		{c, "/orders", "<h1"},
		{admin, "/admin/campaigns", "<h1"},
		{admin, "/admin", `id="dashboard-live"`}, // the dashboard polls itself with hx-select
	} {
		part := tt.who.get(tt.path, "HX-Request", "true")
		if part.status != 200 || strings.Contains(part.body, "<!doctype") || strings.Contains(part.body, "site-header") || !strings.Contains(part.body, tt.shows) {
			t.Errorf("%s over HTMX: %d %.300s", tt.path, part.status, part.body)
		}
		for _, extra := range [][]string{nil, {"HX-Request", "true", "HX-Boosted", "true"}} {
			if whole := tt.who.get(tt.path, extra...); !strings.Contains(whole.body, "<!doctype") || !strings.Contains(whole.body, tt.shows) {
				t.Errorf("%s %v: not the whole page: %.200s", tt.path, extra, whole.body)
			}
		}
	}
}

// Accept is read as HTTP reads media types: case-insensitively, over every
// Accept line a client sends.
func TestJSONIsChosenByAnyAcceptThatNamesIt(t *testing.T) {
	for _, tt := range []struct {
		accept []string
		json   bool
	}{
		{[]string{"application/json"}, true},
		{[]string{"Application/JSON"}, true},
		{[]string{"text/html", "application/json"}, true},
		{[]string{"text/html, application/json;q=0.9"}, true},
		{[]string{"text/html,application/xhtml+xml"}, false},
		{nil, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/products", nil)
		for _, a := range tt.accept {
			r.Header.Add("Accept", a)
		}
		if got := wantsJSON(r); got != tt.json {
			t.Errorf("Accept %q: JSON %v, want %v", tt.accept, got, tt.json)
		}
	}
}
