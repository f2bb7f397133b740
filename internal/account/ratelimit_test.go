package account

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"market/internal/errs"
	"market/internal/testenv"
)

// newTestService is the service over a fresh database and a private Redis.
// Its hashing pool waits long for a slot, so that the limiters, not the
// pool, decide these tests; the pool has tests of its own.
func newTestService(t *testing.T, l Limits) *Service {
	t.Helper()
	s := NewService(testenv.DB(t), testenv.Redis(t), l)
	s.hashes.wait = time.Minute
	return s
}

// crowd runs fn n times at once behind a start barrier and returns each call's error.
func crowd(n int, fn func(i int) error) []error {
	out := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// outcomes counts errors by their code: "ok" for nil, "internal" for an error without one.
func outcomes(results []error) map[string]int {
	n := map[string]int{}
	for _, err := range results {
		switch e, ok := errs.As(err); {
		case err == nil:
			n["ok"]++
		case ok:
			n[string(e.Code)]++
		default:
			n["internal"]++
		}
	}
	return n
}

// refusal is err as a 429, or a test failure.
func refusal(t *testing.T, err error, text string) *errs.Error {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Code != errs.TooManyRequests || !strings.Contains(e.Message, text) || e.RetryAfter <= 0 {
		t.Fatalf("want a 429 saying %q with a wait, got %v", text, err)
	}
	return e
}

func signUp(t *testing.T, s *Service, email, password string) {
	t.Helper()
	if _, err := s.Signup(t.Context(), SignupInput{Email: email, Name: "Shopper", Password: password}, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginCrowdIsJudgedNoMoreThanTheEmailLimit(t *testing.T) {
	const window = time.Minute
	s := newTestService(t, Limits{PerEmail: 10, PerAddr: 1000, Window: window, SignupPerAddr: 100})
	signUp(t, s, "victim@example.test", "right-password")
	const attacker = "203.0.113.7"

	got := outcomes(crowd(25, func(int) error {
		_, err := s.Login(t.Context(), "victim@example.test", "wrong-password", attacker)
		return err
	}))
	if want := map[string]int{"unauthorized": 10, "too_many_requests": 15}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("25 guesses at once with 10 allowed: %v, want %v", got, want)
	}

	// While the window lasts even the right password waits, from anywhere.
	_, err := s.Login(t.Context(), "victim@example.test", "right-password", "198.51.100.1")
	e := refusal(t, err, "Too many failed logins")
	if e.RetryAfter > window {
		t.Fatalf("wait %v is longer than the window %v", e.RetryAfter, window)
	}
}

func TestLoginCrowdIsJudgedNoMoreThanTheAddressLimit(t *testing.T) {
	s := newTestService(t, Limits{PerEmail: 10, PerAddr: 10, Window: time.Minute, SignupPerAddr: 100})
	signUp(t, s, "shopper@example.test", "right-password")
	const attacker = "203.0.113.8"

	// Different emails, one address: the address's budget is what holds.
	got := outcomes(crowd(25, func(i int) error {
		_, err := s.Login(t.Context(), fmt.Sprintf("guess%d@example.test", i), "wrong-password", attacker)
		return err
	}))
	if want := map[string]int{"unauthorized": 10, "too_many_requests": 15}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("25 guesses at once with 10 allowed: %v, want %v", got, want)
	}

	_, err := s.Login(t.Context(), "shopper@example.test", "right-password", attacker)
	refusal(t, err, "Too many failed logins from your network")
	// Another address is not blocked by this one.
	if _, err := s.Login(t.Context(), "shopper@example.test", "right-password", "198.51.100.2"); err != nil {
		t.Fatalf("from another address: %v", err)
	}
}

func TestLoginsWorkAgainAfterTheWindow(t *testing.T) {
	// A short window, and only two hashes inside it, so that a slow machine
	// still reaches the refusal before the window ends.
	const window = 2 * time.Second
	s := newTestService(t, Limits{PerEmail: 2, PerAddr: 2, Window: window, SignupPerAddr: 100})
	signUp(t, s, "patient@example.test", "right-password")
	const addr = "203.0.113.11"
	for range 2 {
		if _, err := s.Login(t.Context(), "patient@example.test", "wrong-password", addr); !errs.Is(err, errs.Unauthorized) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, err := s.Login(t.Context(), "patient@example.test", "right-password", addr)
	e := refusal(t, err, "Too many failed logins")
	if e.RetryAfter > window {
		t.Fatalf("wait %v is longer than the window %v", e.RetryAfter, window)
	}

	time.Sleep(e.RetryAfter + 50*time.Millisecond)
	if _, err := s.Login(t.Context(), "patient@example.test", "right-password", addr); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestRightPasswordsGiveTheirUnitsBack(t *testing.T) {
	s := newTestService(t, Limits{PerEmail: 2, PerAddr: 2, Window: time.Minute, SignupPerAddr: 100})
	signUp(t, s, "regular@example.test", "right-password")
	const addr = "198.51.100.3"
	if _, err := s.Login(t.Context(), "regular@example.test", "wrong-password", addr); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	// One failure holds one unit of each budget; logins that succeed keep
	// giving theirs back, so they never run out.
	for i := range 4 {
		if _, err := s.Login(t.Context(), "regular@example.test", "right-password", addr); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	// The failure still counts: one more fills both budgets.
	if _, err := s.Login(t.Context(), "regular@example.test", "wrong-password", addr); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("second wrong password: %v", err)
	}
	_, err := s.Login(t.Context(), "regular@example.test", "right-password", addr)
	refusal(t, err, "Too many failed logins")
}

func TestSignupCrowdFromOneAddressCreatesExactlyTheLimit(t *testing.T) {
	s := newTestService(t, Limits{PerEmail: 10, PerAddr: 100, Window: time.Minute, SignupPerAddr: 20})
	before, err := s.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const addr = "203.0.113.9"

	results := crowd(30, func(i int) error {
		_, err := s.Signup(t.Context(), SignupInput{Email: fmt.Sprintf("crowd%d@example.test", i), Name: "Crowd", Password: "password123"}, addr)
		return err
	})
	if got, want := outcomes(results), map[string]int{"ok": 20, "too_many_requests": 10}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("30 sign-ups at once with 20 allowed: %v, want %v", got, want)
	}
	for _, err := range results {
		if err != nil {
			if e := refusal(t, err, "Too many sign-ups"); e.RetryAfter < 59*time.Minute || e.RetryAfter > time.Hour {
				t.Fatalf("wait %v, want the rest of the hour", e.RetryAfter)
			}
		}
	}
	after, err := s.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 20 {
		t.Fatalf("%d accounts created, want 20", after-before)
	}
	// Input refused before any hashing costs nothing, and other addresses are not limited.
	if _, err := s.Signup(t.Context(), SignupInput{Email: "not-an-email", Name: "X", Password: "password123"}, addr); !errs.Is(err, errs.Invalid) {
		t.Fatalf("invalid sign-up from the full address: %v", err)
	}
	signUp(t, s, "elsewhere@example.test", "password123")
}

func TestAttemptsRefusedByABusyPoolGiveTheirUnitsBack(t *testing.T) {
	s := newTestService(t, Limits{PerEmail: 1, PerAddr: 1, Window: time.Minute, SignupPerAddr: 1})
	s.hashes = newHashSlots(1)
	s.hashes.wait = 20 * time.Millisecond
	const addr = "198.51.100.4"

	s.hashes.slots <- struct{}{} // another request holds the only slot
	_, err := s.Signup(t.Context(), SignupInput{Email: "busy@example.test", Name: "Busy", Password: "password123"}, addr)
	if e, ok := errs.As(err); !ok || e.Code != errs.Busy || e.RetryAfter <= 0 {
		t.Fatalf("sign-up with the pool full: %v", err)
	}
	if _, err := s.Login(t.Context(), "busy@example.test", "password123", addr); !errs.Is(err, errs.Busy) {
		t.Fatalf("login with the pool full: %v", err)
	}
	<-s.hashes.slots

	// Each budget holds one unit, and neither was spent on the refusals.
	if _, err := s.Signup(t.Context(), SignupInput{Email: "busy@example.test", Name: "Busy", Password: "password123"}, addr); err != nil {
		t.Fatalf("sign-up again: %v", err)
	}
	if _, err := s.Login(t.Context(), "busy@example.test", "wrong-password", addr); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("a wrong password is judged: %v", err)
	}
}

func TestBudgetsHoldOnARedisCluster(t *testing.T) {
	// An email's and an address's keys hash to different slots: one script
	// call per key, never one across them.
	cluster := testenv.StartCluster(t)
	l := newLimiters(cluster.Client(t), Limits{PerEmail: 2, PerAddr: 3, Window: time.Minute})
	ctx := t.Context()
	for i := range 2 {
		if err := l.takeLogin(ctx, "a@example.test", "192.0.2.7"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	refusal(t, l.takeLogin(ctx, "a@example.test", "192.0.2.7"), "for this account")
	l.giveBackLogin(ctx, "a@example.test", "192.0.2.7")
	// Both units came back, and the refused attempt took none.
	for _, email := range []string{"a@example.test", "b@example.test"} {
		if err := l.takeLogin(ctx, email, "192.0.2.7"); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	refusal(t, l.takeLogin(ctx, "c@example.test", "192.0.2.7"), "from your network")
}
