package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

	"market/internal/errs"
	"market/internal/replica"
	"market/internal/reqctx"
)

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(reqctx.WithRequestID(r.Context(), id)))
	})
}

func requestIDOf(r *http.Request) string { return reqctx.RequestID(r.Context()) }

// recoverPanic turns a panic into a logged stack and a 500 page.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic", "request_id", requestIDOf(r), "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.fail(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		s.Log.Info("http", "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path,
			"status", ww.Status(), "bytes", ww.BytesWritten(), "took", time.Since(start))
	})
}

// measure records request counts and latency per route pattern (not per URL,
// which would explode the label space).
func (s *Server) measure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		s.metrics.observe(r.Method, route, ww.Status(), time.Since(start))
	})
}

// The CSP allows only the site's own scripts and styles: no inline code.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// limitBody caps a request's body at limit(r) bytes: 413 beyond.
func limitBody(limit func(*http.Request) int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := limit(r)
			if r.ContentLength > n {
				writeTooLarge(w, r)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// errSessionCheck: Redis cannot say whether a session is still open, and an
// ended session must not be trusted.
var errSessionCheck = errs.New(errs.Unavailable, "We cannot check your sign-in right now. Please try again in a moment.")

// unchecked marks a request whose session Redis could not check: it is served
// as a guest's where a guest may go (the catalogue stays open while Redis is
// down), and where a shopper must be signed in the answer is a 503, not a
// trip to the login page.
type uncheckedKey struct{}

const signInUnchecked = "We cannot check your sign-in right now, so you see the shop as a guest. Your account and cart are safe; try again in a moment."

func sessionUnchecked(r *http.Request) bool { return r.Context().Value(uncheckedKey{}) != nil }

// failUnchecked answers a route that needs the sign-in while it cannot be
// checked: the error page says so, without the guest notice saying it again.
func (s *Server) failUnchecked(w http.ResponseWriter, r *http.Request) {
	f := slices.DeleteFunc(slices.Clone(reqctx.Flashes(r.Context())), func(f reqctx.Flash) bool { return f.Message == signInUnchecked })
	s.fail(w, r.WithContext(reqctx.WithFlashes(r.Context(), f)), errSessionCheck)
}

// loadSession puts the logged-in user and pending flash messages in the
// context; a cookie whose session has ended counts as no cookie.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionless(r) {
			next.ServeHTTP(w, r)
			return
		}
		sess := s.sessions.get(r)
		ctx := r.Context()
		if u, sid, ok := userFromSession(sess); ok {
			open, err := s.Accounts.Sessions.Valid(ctx, u.ID, sid)
			if err != nil {
				s.Log.Warn("cannot check a session", "request_id", requestIDOf(r), "err", err)
				ctx = context.WithValue(ctx, uncheckedKey{}, true)
			}
			if open {
				ctx = reqctx.WithSessionID(reqctx.WithUser(ctx, u), sid)
				if lsn, ok := s.lastWrite(sess); ok {
					ctx = replica.AfterWrite(ctx, lsn)
				}
			}
		}
		// Flashes are shown once, on the next full page a browser renders.
		if r.Method == http.MethodGet && !wantsJSON(r) && !isPartial(r) {
			f := s.sessions.popFlashes(w, r, sess)
			if ctx.Value(uncheckedKey{}) != nil {
				f = append(f, reqctx.Flash{Kind: "info", Message: signInUnchecked})
			}
			if len(f) > 0 {
				ctx = reqctx.WithFlashes(ctx, f)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requireUser sends an anonymous browser to log in and come back; a JSON
// client gets 401.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := reqctx.CurrentUser(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if sessionUnchecked(r) {
			s.failUnchecked(w, r)
			return
		}
		if wantsJSON(r) {
			s.fail(w, r, errLoginFirst)
			return
		}
		back := r.URL.RequestURI()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			back = r.Header.Get("HX-Current-URL")
			if back == "" {
				back = r.Referer() // a plain form: back to the page it was on
			}
			if u, err := url.Parse(back); err == nil {
				back = u.RequestURI()
			}
			// A guest's "Add to cart" or "Claim coupon" waits for the login.
			if next, ok := s.sessions.rememberIntent(w, r); ok {
				back = next
			}
		}
		redirect(w, r, "/login?next="+url.QueryEscape(safeNext(back)))
	})
}

// requireAdmin also sends the admin pages' reads to the primary: their
// forms edit what they show, so they must show the latest.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := reqctx.CurrentUser(r.Context()); ok && u.Admin {
			next.ServeHTTP(w, r.WithContext(replica.OnPrimary(r.Context())))
			return
		}
		if sessionUnchecked(r) {
			s.failUnchecked(w, r)
			return
		}
		s.fail(w, r, errForbidden)
	})
}

// currentUser is for handlers behind requireUser.
func currentUser(r *http.Request) reqctx.User {
	u, _ := reqctx.CurrentUser(r.Context())
	return u
}

// safeNext keeps a post-login redirect on this site: a local path only.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2000 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	return next
}

var errTooLarge = errs.New(errs.TooLarge, "That request is too large (1 MiB at most).")

func writeTooLarge(w http.ResponseWriter, r *http.Request) {
	e := errTooLarge
	if bodyLimit(r) != maxBody {
		e = errPictureTooLarge
	}
	w.Header().Set("Connection", "close")
	if wantsJSON(r) {
		_ = writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": e.Message, "code": string(e.Code)})
		return
	}
	http.Error(w, e.Message, http.StatusRequestEntityTooLarge)
}
