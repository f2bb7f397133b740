package web

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// copyOf is another browser holding a copy of c's cookies (a stolen cookie,
// or the same shopper on a second device after a cookie sync).
func (c *client) copyOf() *client {
	u, _ := url.Parse(c.h.srv.URL)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, c.hc.Jar.Cookies(u))
	cc := *c
	cc.hdr = c.hdr.Clone()
	cc.hc = &http.Client{Jar: jar, CheckRedirect: c.hc.CheckRedirect}
	return &cc
}

// signedIn reports whether the browser's cookie still opens the account.
func signedIn(t *testing.T, c *client) bool {
	t.Helper()
	r := c.json().get("/account")
	switch r.status {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("/account: %d %s", r.status, r.body)
	return false
}

// waitSignedOut allows for the one-second cache of a session seen valid.
func waitSignedOut(t *testing.T, c *client, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for signedIn(t, c) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the cookie still opens the account", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLogoutEndsEveryCopyOfTheCookie(t *testing.T) {
	h := newHarness(t)
	a := h.client()
	a.signup("copy@example.test", "Copy", "password-123")
	stolen := a.copyOf()
	if !signedIn(t, stolen) {
		t.Fatal("the copy should open the account before logout")
	}
	if r := a.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	// On the instance that logged out, at once (other instances: within a second).
	if signedIn(t, stolen) {
		t.Fatal("the copy still opens the account right after logout")
	}
	// An anonymous browser is sent to log in; nothing leaks.
	if r := stolen.get("/account"); r.status != http.StatusSeeOther {
		t.Fatalf("the copy's page: %d", r.status)
	}
}

func TestLogoutEverywhereEndsOtherSessionsToo(t *testing.T) {
	h := newHarness(t)
	phone, laptop := h.client(), h.client()
	phone.signup("everywhere@example.test", "Everywhere", "password-123")
	laptop.login("everywhere@example.test", "password-123")
	other := h.client()
	other.signup("bystander@example.test", "Bystander", "password-123")
	if r := phone.post("/account/logout-everywhere", nil); r.status != http.StatusSeeOther {
		t.Fatalf("log out everywhere: %d %s", r.status, r.body)
	}
	waitSignedOut(t, phone, "the device that asked")
	waitSignedOut(t, laptop, "the other device")
	if !signedIn(t, other) {
		t.Fatal("another shopper was signed out")
	}
	laptop.login("everywhere@example.test", "password-123")
	if !signedIn(t, laptop) {
		t.Fatal("logging in again should work")
	}
}

func TestAPasswordChangeEndsTheOtherSessions(t *testing.T) {
	h := newHarness(t)
	phone, laptop := h.client(), h.client()
	phone.signup("change@example.test", "Change", "password-123")
	laptop.login("change@example.test", "password-123")

	wrong := phone.json().post("/account/password", url.Values{"current_password": {"not-it-at-all"}, "new_password": {"password-456"}})
	if wrong.status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong current password: %d %s", wrong.status, wrong.body)
	}
	if empty := phone.json().post("/account/password", url.Values{"new_password": {"password-456"}}); empty.status != 422 || !strings.Contains(empty.body, "Enter your current password.") {
		t.Fatalf("no current password: %d %s", empty.status, empty.body)
	}
	short := phone.json().post("/account/password", url.Values{"current_password": {"password-123"}, "new_password": {"short"}})
	if short.status != http.StatusUnprocessableEntity {
		t.Fatalf("short new password: %d %s", short.status, short.body)
	}
	if !signedIn(t, laptop) {
		t.Fatal("a refused change signed the laptop out")
	}
	if r := phone.post("/account/password", url.Values{"current_password": {"password-123"}, "new_password": {"password-456"}}); r.status != http.StatusSeeOther {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if !signedIn(t, phone) {
		t.Fatal("the device that changed the password should stay signed in")
	}
	waitSignedOut(t, laptop, "after a password change")
	if r := laptop.post("/login", url.Values{"email": {"change@example.test"}, "password": {"password-123"}}); r.status == http.StatusSeeOther {
		t.Fatal("the old password still works")
	}
	laptop.login("change@example.test", "password-456")
}

// A role change (the admin bootstrap giving an account another password or
// the admin role) ends the account's sessions: a cookie never carries an old role.
func TestARoleOrPasswordResetByTheBootstrapEndsSessions(t *testing.T) {
	h := newHarness(t)
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	shopper := h.client()
	shopper.signup("promoted@example.test", "Promoted", "password-123")

	// The same password again changes nothing.
	if _, err := h.s.Accounts.EnsureAdmin(t.Context(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	if !signedIn(t, admin) {
		t.Fatal("restarting with the same admin password signed the admin out")
	}
	if _, err := h.s.Accounts.EnsureAdmin(t.Context(), adminEmail, "a-new-admin-password"); err != nil {
		t.Fatal(err)
	}
	waitSignedOut(t, admin, "after the admin password was reset")
	if _, err := h.s.Accounts.EnsureAdmin(t.Context(), "promoted@example.test", "a-new-admin-password"); err != nil {
		t.Fatal(err)
	}
	waitSignedOut(t, shopper, "after the shopper became an admin")
}

// Changes that all know the current password, sent at once from the shopper's
// devices: the first to write wins, and every other is told its current
// password is no longer the password.
func TestPasswordChangesAtOnceHaveOneWinner(t *testing.T) {
	h := newHarness(t)
	first := h.client()
	first.signup("race@example.test", "Race", "password-123")
	devices := []*client{first}
	for range 9 {
		devices = append(devices, first.copyOf())
	}
	status := make([]int, len(devices))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, d := range devices {
		wg.Go(func() {
			<-start
			status[i] = d.json().post("/account/password", url.Values{"current_password": {"password-123"},
				"new_password": {fmt.Sprintf("new-password-%d", i)}}).status
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, s := range status {
		switch {
		case s == http.StatusOK && winner < 0:
			winner = i
		case s == http.StatusOK:
			t.Fatalf("two changes were told they won: %v", status)
		case s != http.StatusUnprocessableEntity && s != http.StatusUnauthorized && s != http.StatusTooManyRequests: // 429: the login limiter counts checks in flight
			t.Fatalf("a change answered %d: %v", s, status)
		}
	}
	if winner < 0 {
		t.Fatalf("no change won: %v", status)
	}
	// The winner's password works; the old one and a loser's do not (few
	// tries: the login limiter counts each wrong one).
	h.client().login("race@example.test", fmt.Sprintf("new-password-%d", winner))
	for _, pw := range []string{"password-123", fmt.Sprintf("new-password-%d", (winner+1)%len(devices))} {
		if r := h.client().post("/login", url.Values{"email": {"race@example.test"}, "password": {pw}}); r.status == http.StatusSeeOther {
			t.Fatalf("%s works too; the winner was %d (%v)", pw, winner, status)
		}
	}
}
