package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"market/internal/account"
	"market/internal/order"
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

// intent is what a guest asked for when the shop sent them to log in: put a
// product in the cart, or claim a coupon. It waits in the guest's cookie and
// is carried out by the login or sign-up that follows, when that form
// returns to the same page (docs/HTTP.md, "Logging in on the way").
//
// Only a POST stores one (the guest's own "Add to cart" or "Claim coupon",
// behind the cross-origin check like every POST), and only a POST (the login
// or sign-up form, behind the same check) carries it out: no link can make a
// shopper add or claim anything.
type intent struct {
	Kind     string // intentCart or intentClaim
	ID       int64  // the product or the campaign
	Quantity int64  // for the cart
	Next     string // where the guest was sent back to
	At       time.Time
}

const (
	intentCart  = "cart"
	intentClaim = "claim"
	// intentMaxAge: an intent older than this is forgotten; a guest who comes
	// back much later should not find a surprise in the cart.
	intentMaxAge = 30 * time.Minute
)

// intentOf reads what a guest's POST asked for; ok is false for anything
// else, or for input the handler itself would refuse.
func intentOf(r *http.Request) (intent, bool) {
	path := r.URL.Path
	switch {
	case path == "/cart/items":
		id, err1 := strconv.ParseInt(r.PostFormValue("product_id"), 10, 64)
		qty, err2 := strconv.ParseInt(r.PostFormValue("quantity"), 10, 64)
		if err1 != nil || err2 != nil || id <= 0 || qty < 1 || qty > order.MaxQuantity {
			return intent{}, false
		}
		return intent{Kind: intentCart, ID: id, Quantity: qty, Next: "/products/" + strconv.FormatInt(id, 10)}, true
	case strings.HasPrefix(path, "/coupons/") && strings.HasSuffix(path, "/claim"):
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(path, "/coupons/"), "/claim"), 10, 64)
		if err != nil || id <= 0 {
			return intent{}, false
		}
		return intent{Kind: intentClaim, ID: id, Next: "/coupons"}, true
	}
	return intent{}, false
}

// rememberIntent keeps a guest's POST for after they log in and answers
// the page to come back to.
func (s *sessionStore) rememberIntent(w http.ResponseWriter, r *http.Request) (string, bool) {
	in, ok := intentOf(r)
	if !ok {
		return "", false
	}
	sess := s.get(r)
	if _, _, signedIn := userFromSession(sess); signedIn {
		return "", false
	}
	sess.Values["intent"] = in.Kind + "|" + strconv.FormatInt(in.ID, 10) + "|" + strconv.FormatInt(in.Quantity, 10) + "|" +
		strconv.FormatInt(time.Now().Unix(), 10)
	if err := sess.Save(r, w); err != nil {
		return "", false
	}
	return in.Next, true
}

// pendingIntent is the guest's intent, when it is recent and its page is
// the one the login form returns to.
func (s *sessionStore) pendingIntent(r *http.Request, next string) (intent, bool) {
	raw, _ := s.get(r).Values["intent"].(string)
	parts := strings.Split(raw, "|")
	if len(parts) != 4 {
		return intent{}, false
	}
	var n [3]int64
	for i, p := range parts[1:] {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return intent{}, false
		}
		n[i] = v
	}
	in := intent{Kind: parts[0], ID: n[0], Quantity: n[1], At: time.Unix(n[2], 0)}
	switch in.Kind {
	case intentCart:
		in.Next = "/products/" + strconv.FormatInt(in.ID, 10)
	case intentClaim:
		in.Next = "/coupons"
	default:
		return intent{}, false
	}
	if in.Next != next || time.Since(in.At) > intentMaxAge || in.At.After(time.Now().Add(time.Minute)) {
		return intent{}, false
	}
	return in, true
}
