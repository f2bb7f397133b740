package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"market/internal/reqctx"
)

const sessionName = "market"

// sessionStore keeps the logged-in user in a signed and encrypted cookie, so
// that reading who is asking costs no database round trip.
type sessionStore struct {
	store *sessions.CookieStore
}

func newSessionStore(secret string, secure bool) *sessionStore {
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
		MaxAge:   30 * 24 * 3600,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	return &sessionStore{store: store}
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

func userFromSession(sess *sessions.Session) (reqctx.User, bool) {
	id, ok := sess.Values["uid"].(int64)
	if !ok || id <= 0 {
		return reqctx.User{}, false
	}
	name, _ := sess.Values["name"].(string)
	email, _ := sess.Values["email"].(string)
	admin, _ := sess.Values["admin"].(bool)
	return reqctx.User{ID: id, Name: name, Email: email, Admin: admin}, true
}

// logIn renews the session: every old value is dropped and a fresh cookie issued.
func (s *sessionStore) logIn(w http.ResponseWriter, r *http.Request, u reqctx.User) error {
	sess := s.get(r)
	sess.Values = map[any]any{"uid": u.ID, "name": u.Name, "email": u.Email, "admin": u.Admin}
	sess.Options.MaxAge = s.store.Options.MaxAge
	return sess.Save(r, w)
}

func (s *sessionStore) logOut(w http.ResponseWriter, r *http.Request) error {
	sess := s.get(r)
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
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
