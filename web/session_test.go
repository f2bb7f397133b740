package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/securecookie"

	"market/internal/reqctx"
)

func TestSessionRoundTripsUserAndFlashes(t *testing.T) {
	store := newSessionStore("a-session-secret-of-at-least-32-characters", false)
	want := reqctx.User{ID: 9_007_199_254_740_993, Name: "Min-ji", Email: "m@example.test", Admin: true}
	rec := httptest.NewRecorder()
	if err := store.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), want); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec2 := httptest.NewRecorder()
	store.flash(rec2, req, "success", "Welcome | back")
	req2 := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range rec2.Result().Cookies() {
		req2.AddCookie(c)
	}
	sess := store.get(req2)
	got, ok := userFromSession(sess)
	if !ok || got != want {
		t.Fatalf("user %+v (ok %v), want %+v", got, ok, want)
	}
	f := store.popFlashes(httptest.NewRecorder(), req2, sess)
	if len(f) != 1 || f[0].Kind != "success" || f[0].Message != "Welcome | back" {
		t.Fatalf("flashes %+v", f)
	}
}

func TestForgedOrOldCookiesAreNoSession(t *testing.T) {
	store := newSessionStore("a-session-secret-of-at-least-32-characters", false)
	other := newSessionStore("another-secret-of-at-least-32-characters!", false)
	rec := httptest.NewRecorder()
	_ = other.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), reqctx.User{ID: 1, Admin: true})
	for _, value := range []string{rec.Result().Cookies()[0].Value, "garbage", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: sessionName, Value: value})
		if u, ok := userFromSession(store.get(req)); ok {
			t.Fatalf("cookie %.20q gave user %+v", value, u)
		}
	}
}

// BenchmarkSessionDecode compares reading a logged-in shopper's cookie with
// the JSON serializer (used) and gorilla's default gob serializer.
func BenchmarkSessionDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		ser  securecookie.Serializer
	}{{"json", jsonSerializer{}}, {"gob", securecookie.GobEncoder{}}} {
		b.Run(tc.name, func(b *testing.B) {
			store := newSessionStore("a-session-secret-of-at-least-32-characters", false)
			for _, c := range store.store.Codecs {
				c.(*securecookie.SecureCookie).SetSerializer(tc.ser)
			}
			rec := httptest.NewRecorder()
			_ = store.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), reqctx.User{ID: 42, Name: "Shopper 42", Email: "shopper42@example.test"})
			cookie := rec.Result().Cookies()[0]
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.AddCookie(cookie)
				if _, ok := userFromSession(store.get(req)); !ok {
					b.Fatal("no user")
				}
			}
		})
	}
}
