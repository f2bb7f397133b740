package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"market/internal/account"
	"market/internal/reqctx"
)

// SessionCookie starts a session and mints its cookie (and says the session's
// id, for ending it), as /login would, for
// load generators (`market bench`) that drive many shoppers without paying
// for thousands of password hashes. It encodes the values logIn stores with
// the store's own codecs and cookie options, as the store's Save does.
func SessionCookie(secret string, open *account.Sessions, u reqctx.User) (cookie *http.Cookie, sessionID string, err error) {
	store := newSessionStore(secret, false, open)
	sid, err := open.Start(context.Background(), u.ID, time.Now())
	if err != nil {
		return nil, "", err
	}
	value, err := securecookie.EncodeMulti(sessionName, loggedInValues(u, sid), store.store.Codecs...)
	if err != nil {
		return nil, "", err
	}
	return sessions.NewCookie(sessionName, value, store.store.Options), sid, nil
}
