package web

import (
	"errors"
	"net/http"
	"net/http/httptest"

	"market/internal/reqctx"
)

// SessionCookie mints the session cookie of a logged-in user, as /login
// would, for load generators (`market bench`) that drive many shoppers
// without paying for thousands of password hashes.
func SessionCookie(secret string, u reqctx.User) (*http.Cookie, error) {
	store := newSessionStore(secret, false)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := store.logIn(rec, req, u); err != nil {
		return nil, err
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionName {
			return c, nil
		}
	}
	return nil, errors.New("no session cookie was set")
}
