package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"market/internal/account"
	"market/internal/reqctx"
)

const sessionName = "market"

// sessionStore keeps the logged-in user in a signed and encrypted cookie, so
// that reading who is asking costs no database round trip. The cookie names
// a server-side session (account.Sessions), which logging out ends for every
// copy of the cookie.
type sessionStore struct {
	store *sessions.CookieStore
	open  *account.Sessions
}

func newSessionStore(secret string, secure bool, open *account.Sessions) *sessionStore {
	hashKey := derive(secret, "session-hmac")
	blockKey := derive(secret, "session-aes")
	store := sessions.NewCookieStore(hashKey, blockKey)
	for _, c := range store.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(jsonSerializer{})
		}
	}
	store.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(account.SessionMaxAge / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	return &sessionStore{store: store, open: open}
}

// derive gives each purpose its own 32-byte key from the one secret.
func derive(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// get never fails: a cookie that does not decode (old keys, tampering) is
// treated as no session at all.
func (s *sessionStore) get(r *http.Request) *sessions.Session {
	sess, err := s.store.Get(r, sessionName)
	if err != nil {
		sess, _ = s.store.New(r, sessionName)
	}
	return sess
}

// userFromSession reads the user and the session id a cookie names.
func userFromSession(sess *sessions.Session) (reqctx.User, string, bool) {
	id, ok := sess.Values["uid"].(int64)
	if !ok || id <= 0 {
		return reqctx.User{}, "", false
	}
	name, _ := sess.Values["name"].(string)
	email, _ := sess.Values["email"].(string)
	admin, _ := sess.Values["admin"].(bool)
	sid, _ := sess.Values["sid"].(string)
	return reqctx.User{ID: id, Name: name, Email: email, Admin: admin}, sid, true
}

// logIn starts a new session and renews the cookie: every old value is
// dropped, and the session the cookie named before (if any) is ended.
// checkedAt is when the password was checked (account.User.CheckedAt).
func (s *sessionStore) logIn(w http.ResponseWriter, r *http.Request, u reqctx.User, checkedAt time.Time) error {
	sess := s.get(r)
	if old, sid, ok := userFromSession(sess); ok {
		_ = s.open.End(r.Context(), old.ID, sid)
	}
	sid, err := s.open.Start(r.Context(), u.ID, checkedAt)
	if err != nil {
		return err
	}
	sess.Values = loggedInValues(u, sid)
	sess.Options.MaxAge = s.store.Options.MaxAge
	w.Header().Set("Cache-Control", "no-store") // an answer that signs in is a signed-in answer
	return sess.Save(r, w)
}

// loggedInValues is everything a signed-in cookie holds (read back by
// userFromSession).
func loggedInValues(u reqctx.User, sid string) map[any]any {
	return map[any]any{"uid": u.ID, "sid": sid, "name": u.Name, "email": u.Email, "admin": u.Admin}
}

// logOut ends the session the cookie names (for every copy of it) and
// empties the cookie, which may still carry a flash message for the next page.
func (s *sessionStore) logOut(w http.ResponseWriter, r *http.Request) error {
	sess := s.get(r)
	if u, sid, ok := userFromSession(sess); ok {
		if err := s.open.End(r.Context(), u.ID, sid); err != nil {
			return err
		}
	}
	sess.Values = map[any]any{}
	return sess.Save(r, w)
}

// flash queues a message for the next page the browser shows.
func (s *sessionStore) flash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	sess := s.get(r)
	sess.AddFlash(kind + "|" + msg)
	_ = sess.Save(r, w)
}

// popFlashes takes the queued messages out of the session.
func (s *sessionStore) popFlashes(w http.ResponseWriter, r *http.Request, sess *sessions.Session) []reqctx.Flash {
	raw := sess.Flashes()
	if len(raw) == 0 {
		return nil
	}
	_ = sess.Save(r, w)
	out := make([]reqctx.Flash, 0, len(raw))
	for _, v := range raw {
		str, _ := v.(string)
		kind, msg, ok := strings.Cut(str, "|")
		if ok {
			out = append(out, reqctx.Flash{Kind: kind, Message: msg})
		}
	}
	return out
}
