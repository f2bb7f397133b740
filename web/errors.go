package web

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"time"

	"market/internal/catalog"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/order"
	"market/internal/redisdb"
	"market/internal/room"
	"market/views"
)

// handler is a route handler that returns its failure instead of writing it.
type handler func(w http.ResponseWriter, r *http.Request) error

// h adapts a handler: an error it returns is answered by s.fail.
func (s *Server) h(fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

var (
	errNotFound    = errs.New(errs.NotFound, "We could not find that page.")
	errCrossOrigin = errs.New(errs.Forbidden, "This request came from another site and was refused.")
	errForbidden   = errs.New(errs.Forbidden, "This page is for admins only.")
	errLoginFirst  = errs.New(errs.Unauthorized, "Please log in first.")
	errDatabase    = errs.New(errs.Unavailable, "The shop cannot reach its data right now. Please try again in a moment.")
)

// statusOf maps a domain error code to its HTTP status. Codes that
// domains add and that are not listed here are invalid input: 422.
var statusOf = map[errs.Code]int{
	errs.Invalid:         http.StatusUnprocessableEntity,
	errs.NotFound:        http.StatusNotFound,
	errs.Unauthorized:    http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.Conflict:        http.StatusConflict,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
	errs.TooManyRequests: http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
	errs.Busy:            http.StatusServiceUnavailable,

	order.CodeOutOfStock:          http.StatusConflict,
	order.CodeInsufficientBalance: http.StatusConflict,
	order.CodeCouponInvalid:       http.StatusUnprocessableEntity,
	order.CodeCartEmpty:           http.StatusUnprocessableEntity,
	order.CodeIdempotencyMismatch: http.StatusUnprocessableEntity,
	order.CodeTopUpLimit:          http.StatusConflict,
	order.CodePriceChanged:        http.StatusConflict,
	order.CodeCartChanged:         http.StatusConflict,
	codeMethodNotAllowed:          http.StatusMethodNotAllowed,

	catalog.CodeUnsupportedPicture: http.StatusUnsupportedMediaType,

	room.CodeTicketInvalid: http.StatusForbidden,
	room.CodeTicketExpired: http.StatusConflict,
}

var titleOf = map[int]string{
	http.StatusNotFound:            "Not found",
	http.StatusForbidden:           "Not allowed",
	http.StatusUnauthorized:        "Please log in",
	http.StatusInternalServerError: "Something went wrong",
	http.StatusServiceUnavailable:  "Busy right now",
	http.StatusGatewayTimeout:      "That took too long",
}

// withFields is an error whose JSON answer carries more fields beside its
// code and message.
type withFields struct {
	error
	fields map[string]any
}

func (e withFields) Unwrap() error { return e.error }

// fail answers an error. Expected errors show their message, and so does an
// outage of PostgreSQL (503); anything else is logged with the request id and
// shown as a 500 without internals.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusInternalServerError, "internal", "Something went wrong on our side. Please try again."
	if e, ok := errs.As(err); ok {
		code, msg = string(e.Code), e.Message
		status = http.StatusUnprocessableEntity
		if st, ok := statusOf[e.Code]; ok {
			status = st
		}
		if status >= 500 && err.Error() != e.Error() { // a cause beside the message (a Redis error)
			s.Log.Warn("request answered "+strconv.Itoa(status), "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path, "err", err)
		}
	} else if errors.Is(err, context.DeadlineExceeded) || db.TimedOut(err) {
		status, code, msg = http.StatusGatewayTimeout, "timeout", "That took too long. Please try again."
		s.Log.Warn("request timed out", "request_id", requestIDOf(r), "path", r.URL.Path, "err", err)
	} else if errors.Is(err, context.Canceled) {
		return // the client went away; nobody is listening
	} else if db.Unavailable(err) || redisdb.Unavailable(err) {
		status, code, msg = http.StatusServiceUnavailable, string(errDatabase.Code), errDatabase.Message
		s.Log.Warn("a data store is unavailable", "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.Log.Error("request failed", "request_id", requestIDOf(r), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.setRetryAfter(w, status, err)
	if wantsJSON(r) {
		w.Header().Set("Vary", "HX-Request, Accept")
		body := map[string]any{"error": msg, "code": code}
		if pc, ok := errors.AsType[*order.PriceChanged](err); ok {
			body["total"] = pc.Total // the new total comes with price_changed
		}
		if f, ok := errors.AsType[withFields](err); ok {
			maps.Copy(body, f.fields)
		}
		_ = writeJSON(w, status, body)
		return
	}
	title := titleOf[status]
	if title == "" {
		title = "Cannot do that"
	}
	// The page is rendered even when the request's time is up (templ stops
	// at a done context, which would leave the timeout an empty answer).
	r = r.WithContext(context.WithoutCancel(r.Context()))
	_ = s.render(w, r, answer{Status: status, Page: views.ErrorPage(status, title, msg), Fragment: views.ErrorFragment(msg)})
}

// setRetryAfter tells the client of a 429 or 503 how many seconds to wait
// before trying again.
func (s *Server) setRetryAfter(w http.ResponseWriter, status int, err error) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return
	}
	secs := 5 // PostgreSQL is down: a restart or a failover takes seconds
	if e, ok := errs.As(err); ok {
		switch e.Code {
		case errs.Busy: // contention outlasted the waits; the next try usually gets through
			secs = 1
		case errs.TooManyRequests: // a limiter that did not say: the login window bounds the wait
			secs = max(1, int(s.Config.LoginWindow/time.Second))
		default:
			secs = 2
		}
		if e.RetryAfter > 0 { // the limiter's own window, or the hashing pool's guess
			secs = int((e.RetryAfter + time.Second - 1) / time.Second)
		}
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// formOf turns a validation error into form state for re-rendering the form
// with messages under the fields; ok is false for other errors.
func formOf(err error, values map[string]string) (views.Form, int, bool) {
	e, ok := errs.As(err)
	if !ok || (len(e.Fields) == 0 && e.Code != errs.Unauthorized && e.Code != errs.TooManyRequests) {
		return views.Form{}, 0, false
	}
	status := http.StatusUnprocessableEntity
	if st, ok := statusOf[e.Code]; ok {
		status = st
	}
	f := views.Form{Values: values, Errors: e.Fields}
	if len(e.Fields) != 1 {
		f.Message = e.Message
	}
	return f, status, true
}
