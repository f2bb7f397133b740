package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestSignupRejectsBadInputAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.client().signup("taken@example.test", "Taken", "password123")

	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"empty form", url.Values{}, 422, "Enter a valid email address"},
		{"invalid email", url.Values{"email": {"not-an-email"}, "name": {"A"}, "password": {"password123"}}, 422, "Enter a valid email address"},
		{"email with display name", url.Values{"email": {"Bob <bob@example.test>"}, "name": {"A"}, "password": {"password123"}}, 422, "Enter a valid email address"},
		{"email too long", url.Values{"email": {strings.Repeat("a", 250) + "@example.test"}, "name": {"A"}, "password": {"password123"}}, 422, "at most 254 characters"},
		{"empty name", url.Values{"email": {"x@example.test"}, "name": {"   "}, "password": {"password123"}}, 422, "Enter your name."},
		{"name too long", url.Values{"email": {"x@example.test"}, "name": {strings.Repeat("n", 101)}, "password": {"password123"}}, 422, "at most 100 characters"},
		{"name with control characters", url.Values{"email": {"x@example.test"}, "name": {"a\x00b"}, "password": {"password123"}}, 422, "control character (U+0000)"},
		{"password too short", url.Values{"email": {"x@example.test"}, "name": {"A"}, "password": {"short"}}, 422, "at least 8 characters"},
		{"password too long", url.Values{"email": {"x@example.test"}, "name": {"A"}, "password": {strings.Repeat("p", 129)}}, 422, "at most 128 characters"},
		{"duplicate email", url.Values{"email": {"taken@example.test"}, "name": {"B"}, "password": {"password123"}}, 409, "already exists"},
		{"duplicate email in other case", url.Values{"email": {" TAKEN@example.test "}, "name": {"B"}, "password": {"password123"}}, 409, "already exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.count("SELECT count(*) FROM users")
			r := h.client().post("/signup", tt.form)
			if r.status != tt.wantStatus || !strings.Contains(r.body, tt.wantText) {
				t.Fatalf("status %d, want %d with %q; body:\n%s", r.status, tt.wantStatus, tt.wantText, r.body)
			}
			if strings.Contains(r.body, "Set-Cookie") || r.header.Get("Set-Cookie") != "" {
				t.Errorf("a refused signup must not log anyone in")
			}
			if after := h.count("SELECT count(*) FROM users"); after != before {
				t.Errorf("users went from %d to %d", before, after)
			}
			// The same input as JSON: the contract's error shape.
			j := h.client().json().post("/signup", tt.form)
			var body struct{ Error, Code string }
			if err := json.Unmarshal([]byte(j.body), &body); err != nil || j.status != tt.wantStatus || body.Error == "" || body.Code == "" {
				t.Errorf("JSON: status %d body %s", j.status, j.body)
			}
		})
	}
}

func TestSignupRendersScriptInNameEscaped(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signup("xss@example.test", `<script>alert("x")</script>`, "password123")
	r := c.get("/account")
	if r.status != 200 {
		t.Fatalf("account: %d", r.status)
	}
	if strings.Contains(r.body, `<script>alert`) || !strings.Contains(r.body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`) {
		t.Fatalf("name not escaped:\n%s", r.body)
	}
}

func TestSignupLogsInAndAnswersJSON(t *testing.T) {
	h := newHarness(t)
	c := h.client().json()
	r := c.post("/signup", url.Values{"email": {"New@Example.test"}, "name": {"New"}, "password": {"password123"}})
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var u struct {
		ID    int64
		Email string
		Role  string
	}
	if err := json.Unmarshal([]byte(r.body), &u); err != nil || u.Email != "new@example.test" || u.Role != "shopper" {
		t.Fatalf("answer %s (%v)", r.body, err)
	}
	acc := c.get("/account")
	var a struct{ Balance, Points int64 }
	if acc.status != 200 || json.Unmarshal([]byte(acc.body), &a) != nil || a.Balance != 0 || a.Points != 0 {
		t.Fatalf("account after signup: %d %s", acc.status, acc.body)
	}
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	h.client().signup("shopper@example.test", "Shopper", "password123")

	t.Run("right password logs in and renews the session", func(t *testing.T) {
		c := h.client()
		c.get("/login")
		r := c.post("/login", url.Values{"email": {"SHOPPER@example.test"}, "password": {"password123"}, "next": {"/account"}})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/account" {
			t.Fatalf("status %d location %q", r.status, r.header.Get("Location"))
		}
		if !strings.Contains(r.header.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(r.header.Get("Set-Cookie"), "SameSite=Lax") {
			t.Errorf("session cookie flags: %s", r.header.Get("Set-Cookie"))
		}
		if got := c.get("/account"); got.status != 200 || !strings.Contains(got.body, "shopper@example.test") {
			t.Errorf("account after login: %d", got.status)
		}
	})

	t.Run("next never leaves the site", func(t *testing.T) {
		for _, next := range []string{"https://evil.test/", "//evil.test/", `/\evil.test`, "javascript:alert(1)"} {
			r := h.client().post("/login", url.Values{"email": {"shopper@example.test"}, "password": {"password123"}, "next": {next}})
			if loc := r.header.Get("Location"); loc != "/" {
				t.Errorf("next=%q redirected to %q", next, loc)
			}
		}
	})

	bad := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"empty", url.Values{}, 422, "Please correct"},
		{"wrong password", url.Values{"email": {"shopper@example.test"}, "password": {"wrong-password"}}, 401, "email or password is not right"},
		{"unknown email", url.Values{"email": {"nobody@example.test"}, "password": {"password123"}}, 401, "email or password is not right"},
		{"huge password", url.Values{"email": {"shopper@example.test"}, "password": {strings.Repeat("x", 10000)}}, 422, "too long"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := h.client().post("/login", tt.form)
			if r.status != tt.wantStatus || !strings.Contains(r.body, tt.wantText) || r.header.Get("Set-Cookie") != "" {
				t.Fatalf("status %d (want %d), cookie %q, body:\n%s", r.status, tt.wantStatus, r.header.Get("Set-Cookie"), r.body)
			}
		})
	}
}

func TestLoginFailuresAreRateLimitedPerEmail(t *testing.T) {
	h := newHarness(t) // 5 failures per email allowed
	h.client().signup("victim@example.test", "Victim", "password123")
	for i := range 5 {
		if r := h.client().post("/login", url.Values{"email": {"victim@example.test"}, "password": {"guess-guess"}}); r.status != 401 {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	// Now even the right password waits: the window is closed for this email.
	r := h.client().json().post("/login", url.Values{"email": {"victim@example.test"}, "password": {"password123"}})
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"code":"too_many_requests"`) || !retryWithin(r, 900) {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// The browser's login form says so too, and when to come back: the rest of the 15-minute window.
	r = h.client().post("/login", url.Values{"email": {"victim@example.test"}, "password": {"password123"}})
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many failed logins") || !retryWithin(r, 900) {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another email from the same address is not affected.
	h.client().signup("other@example.test", "Other", "password123")
	h.client().login("other@example.test", "password123")
}

func TestLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	c.signup("bye@example.test", "Bye", "password123")
	if r := c.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.get("/account"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
		t.Fatalf("account after logout: %d %s", r.status, r.header.Get("Location"))
	}
}

// retryWithin reports whether a reply's Retry-After is a wait of 1 to max
// seconds, and most of max: what is left of a window that just started.
func retryWithin(r reply, max int) bool {
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	return err == nil && secs >= max*9/10 && secs <= max
}

// atOnce sends n requests behind a start barrier and returns their replies.
func atOnce(n int, send func(i int) reply) []reply {
	out := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = send(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

func TestLoginCrowdIsJudgedNoMoreThanTheEmailLimit(t *testing.T) {
	h := newHarness(t) // 5 failures per email allowed
	h.client().signup("victim@example.test", "Victim", "password123")

	replies := atOnce(25, func(int) reply {
		return h.client().json().post("/login", url.Values{"email": {"victim@example.test"}, "password": {"guess-guess"}})
	})
	statuses := map[int]int{}
	for _, r := range replies {
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests && (!retryWithin(r, 900) || !strings.Contains(r.body, `"code":"too_many_requests"`)) {
			t.Errorf("429 with Retry-After %q: %s", r.header.Get("Retry-After"), r.body)
		}
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 20 {
		t.Fatalf("25 guesses at once with 5 allowed: statuses %v, want 5 × 401 and 20 × 429", statuses)
	}
	r := h.client().json().post("/login", url.Values{"email": {"victim@example.test"}, "password": {"password123"}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("the right password while blocked: %d %s", r.status, r.body)
	}
}

func TestSignupsFromOneAddressAreLimited(t *testing.T) {
	h := newHarness(t) // SIGNUP_LIMIT_PER_ADDR's default: 20 an hour
	before := h.count("SELECT count(*) FROM users")
	signup := func(i int) reply {
		return h.client().json().post("/signup", url.Values{"email": {fmt.Sprintf("crowd%d@example.test", i)}, "name": {"Crowd"}, "password": {"password123"}})
	}
	replies := atOnce(30, signup)
	statuses := map[int]int{}
	for i, r := range replies {
		// A full hashing pool answers 503 and gives the sign-up's unit back:
		// coming back later works (and on a busy machine it may take a few tries).
		for try := 0; r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "" && try < 20; try++ {
			r = signup(i)
		}
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests && (!retryWithin(r, 3600) || !strings.Contains(r.body, "Too many sign-ups")) {
			t.Errorf("429 with Retry-After %q: %s", r.header.Get("Retry-After"), r.body)
		}
	}
	if statuses[http.StatusCreated] != 20 || statuses[http.StatusTooManyRequests] != 10 {
		t.Fatalf("30 sign-ups at once with 20 allowed: statuses %v, want 20 × 201 and 10 × 429", statuses)
	}
	if got := h.count("SELECT count(*) FROM users") - before; got != 20 {
		t.Fatalf("%d accounts created, want 20", got)
	}
	// The browser's form says so too.
	r := h.client().post("/signup", url.Values{"email": {"late@example.test"}, "name": {"Late"}, "password": {"password123"}})
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many sign-ups") || !retryWithin(r, 3600) {
		t.Fatalf("signup form when the address is full: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
}

func TestLimitersCountAnIPv6NetworkAsOneAddress(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"203.0.113.7:5123", "203.0.113.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "2001:db8:1:2::/64"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		if got := clientAddr(r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.remote, got, tc.want)
		}
	}
}
