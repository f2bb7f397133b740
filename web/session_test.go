package web

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/securecookie"

	"market/internal/account"
	"market/internal/reqctx"
	"market/internal/testenv"
)

func testSessions(t testing.TB) *account.Sessions {
	return account.NewSessions(testenv.Redis(t), account.SessionMaxAge)
}

func TestSessionRoundTripsUserAndFlashes(t *testing.T) {
	store := newSessionStore("a-session-secret-of-at-least-32-characters", false, testSessions(t))
	want := reqctx.User{ID: 9_007_199_254_740_993, Name: "Min-ji", Email: "m@example.test", Admin: true}
	rec := httptest.NewRecorder()
	if err := store.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), want, time.Now()); err != nil {
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
	got, sid, ok := userFromSession(sess)
	if !ok || got != want || sid == "" {
		t.Fatalf("user %+v (ok %v), want %+v", got, ok, want)
	}
	f := store.popFlashes(httptest.NewRecorder(), req2, sess)
	if len(f) != 1 || f[0].Kind != "success" || f[0].Message != "Welcome | back" {
		t.Fatalf("flashes %+v", f)
	}
}

// The cookie a load generator mints is the one /login sets: the store reads
// it as the same shopper, in a session that is open.
func TestSessionCookieIsASignedInCookie(t *testing.T) {
	const secret = "a-session-secret-of-at-least-32-characters"
	open := testSessions(t)
	want := reqctx.User{ID: 77, Name: "Bench buyer"}
	c, _, err := SessionCookie(secret, open, want)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != sessionName || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
		t.Fatalf("cookie attributes %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(c)
	got, sid, ok := userFromSession(newSessionStore(secret, false, open).get(req))
	if !ok || got != want || sid == "" {
		t.Fatalf("user %+v (ok %v, sid %q), want %+v", got, ok, sid, want)
	}
	if valid, err := open.Valid(t.Context(), got.ID, sid); err != nil || !valid {
		t.Fatalf("the minted session is open: %v (%v)", valid, err)
	}
}

func TestForgedOrOldCookiesAreNoSession(t *testing.T) {
	store := newSessionStore("a-session-secret-of-at-least-32-characters", false, testSessions(t))
	other := newSessionStore("another-secret-of-at-least-32-characters!", false, testSessions(t))
	rec := httptest.NewRecorder()
	_ = other.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), reqctx.User{ID: 1, Admin: true}, time.Now())
	for _, value := range []string{rec.Result().Cookies()[0].Value, "garbage", ""} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: sessionName, Value: value})
		if u, _, ok := userFromSession(store.get(req)); ok {
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
			store := newSessionStore("a-session-secret-of-at-least-32-characters", false, testSessions(b))
			for _, c := range store.store.Codecs {
				c.(*securecookie.SecureCookie).SetSerializer(tc.ser)
			}
			rec := httptest.NewRecorder()
			_ = store.logIn(rec, httptest.NewRequest(http.MethodGet, "/", nil), reqctx.User{ID: 42, Name: "Shopper 42", Email: "shopper42@example.test"}, time.Now())
			cookie := rec.Result().Cookies()[0]
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.AddCookie(cookie)
				if _, _, ok := userFromSession(store.get(req)); !ok {
					b.Fatal("no user")
				}
			}
		})
	}
}

// BenchmarkSessionDeserialize is the serializer alone on a logged-in
// shopper's values and on values with a flash.
func BenchmarkSessionDeserialize(b *testing.B) {
	for _, tc := range []struct {
		name   string
		values map[any]any
	}{
		{"logged-in", map[any]any{"uid": int64(42), "sid": "c2Vzc2lvbi1pZC0xMjM0NQ", "name": "Shopper 42", "email": "shopper42@example.test", "admin": false}},
		{"with-flash", map[any]any{"uid": int64(42), "sid": "c2Vzc2lvbi1pZC0xMjM0NQ", "name": "Shopper 42", "email": "shopper42@example.test", "admin": false, "_flash": []any{"success|Hi"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src, err := jsonSerializer{}.Serialize(tc.values)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				var m map[any]any
				if err := (jsonSerializer{}).Deserialize(src, &m); err != nil || m["uid"] != int64(42) {
					b.Fatal(err, m)
				}
			}
		})
	}
}

// Whatever logIn can store comes back the same through Deserialize.
func FuzzSessionValuesRoundTrip(f *testing.F) {
	f.Add(int64(42), "Shopper 42", "s@example.test", false)
	f.Add(int64(-1), "\"quoted\" <tag> & \u2028", "\xff", true)
	f.Fuzz(func(t *testing.T, uid int64, name, email string, admin bool) {
		src, err := jsonSerializer{}.Serialize(map[any]any{"uid": uid, "name": name, "email": email, "admin": admin})
		if err != nil {
			t.Fatal(err)
		}
		var got map[any]any
		if err := (jsonSerializer{}).Deserialize(src, &got); err != nil {
			t.Fatal(err)
		}
		want := map[any]any{"uid": uid, "name": name, "email": email, "admin": admin}
		if !utf8.ValidString(name) || !utf8.ValidString(email) {
			// encoding/json writes each invalid byte as U+FFFD: the rest must survive.
			want["name"], want["email"] = got["name"], got["email"]
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", src, got, want)
		}
	})
}
