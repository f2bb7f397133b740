package web

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"market/internal/errs"
	"market/internal/reqctx"
	"market/static"
)

// noStoreWhenSignedIn keeps every answer to a signed-in request (balances,
// orders, admin pages, and their JSON) out of caches, the browser's history
// on a shared computer included. Static files set their own caching later.
func noStoreWhenSignedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := reqctx.CurrentUser(r.Context()); ok {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// readBodyWithin gives a request d to deliver its body (ReadHeaderTimeout
// bounds only the headers), so that a body fed a byte at a time cannot hold a
// connection for minutes: past d the answer is 408 and the connection is
// closed. The body (at most maxBody, limitBody runs first) is read here, in
// full, because once a read has failed the server cancels the request's
// context and a handler could no longer render its answer. A request without
// a body gets no deadline: on it, a deadline would end the server's watch for
// the client going away and cancel the request midway.
func readBodyWithin(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d <= 0 || r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(d)) // not every ResponseWriter has a connection (a test's recorder)
			body, err := io.ReadAll(r.Body)
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				writeTooLarge(w, r)
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				// The deadline stays past: after the answer the server reads
				// what is left of the body before it closes, with no
				// deadline that read would wait for the client forever.
				writeBodyTimeout(w, r)
				return
			case err != nil:
				return // the client went away
			}
			_ = rc.SetReadDeadline(time.Time{})
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	}
}

var errBodyTimeout = errs.New("request_timeout", "Your request took too long to arrive. Please try again.")

// writeBodyTimeout answers without templ: the request's context is cancelled.
func writeBodyTimeout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if wantsJSON(r) {
		_ = writeJSON(w, http.StatusRequestTimeout, map[string]string{"error": errBodyTimeout.Message, "code": string(errBodyTimeout.Code)})
		return
	}
	http.Error(w, errBodyTimeout.Message, http.StatusRequestTimeout)
}

// headAsGet routes HEAD as GET; the server sends the headers and drops the
// body. (chimw.GetHead first asks the router whether HEAD has a route of its
// own, and the path a subrouter is mounted on, /admin, answers yes for every
// method, so HEAD /admin would fall through to a 405.) No route here answers
// HEAD differently from GET.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil && r.Method == http.MethodHead {
			rctx.RouteMethod = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

const codeMethodNotAllowed errs.Code = "method_not_allowed"

var errMethod = errs.New(codeMethodNotAllowed, "That action is not allowed here.")

// methodNotAllowed answers 405 with the usual error body and an Allow header
// naming the methods the path does take. chi knows them but hands them only
// to its own 405 handler, which this one replaces; they are looked up in a
// flat copy of root's routes, made on the first 405 (when every route is
// registered), because root's own lookup says "every method" for the path a
// subrouter is mounted on.
func (s *Server) methodNotAllowed(root chi.Routes) http.HandlerFunc {
	var (
		once sync.Once
		flat *chi.Mux
	)
	return s.h(func(w http.ResponseWriter, r *http.Request) error {
		once.Do(func() { flat = flatten(root) })
		w.Header().Set("Allow", strings.Join(allowedMethods(flat, r), ", "))
		return errMethod
	})
}

// flatten registers every route of root on one mux without subrouters. A
// subrouter's own path is served with and without its slash (/admin/, /admin).
func flatten(root chi.Routes) *chi.Mux {
	flat := chi.NewRouter()
	nothing := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	_ = chi.Walk(root, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		flat.Method(method, route, nothing)
		if route != "/" && strings.HasSuffix(route, "/") {
			flat.Method(method, strings.TrimSuffix(route, "/"), nothing)
		}
		return nil
	})
	return flat
}

// allowedMethods are the methods flat routes r's path for, with HEAD wherever
// GET is (headAsGet).
func allowedMethods(flat chi.Routes, r *http.Request) []string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if flat.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
			if m == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	return out
}

// staticFiles serves the embedded files under /static/, cached for a year,
// and answers a directory (or a path that is no file) with the usual 404
// instead of listing what is there.
func (s *Server) staticFiles() http.Handler {
	files := cacheFor(365*24*time.Hour, http.FileServerFS(static.FS))
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st, err := fs.Stat(static.FS, r.URL.Path); err != nil || st.IsDir() {
			s.fail(w, r, errNotFound)
			return
		}
		files.ServeHTTP(w, r)
	}))
}
