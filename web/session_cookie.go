package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"time"

	"market/internal/account"
	"market/internal/reqctx"
)

// SessionCookie starts a session and mints its cookie, as /login would, for
// load generators (`market bench`) that drive many shoppers without paying
// for thousands of password hashes.
func SessionCookie(secret string, open *account.Sessions, u reqctx.User) (*http.Cookie, error) {
	store := newSessionStore(secret, false, open)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := store.logIn(rec, req, u, time.Now()); err != nil {
		return nil, err
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionName {
			return c, nil
		}
	}
	return nil, errors.New("no session cookie was set")
}
