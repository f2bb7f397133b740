// Package errs holds the domain's error type: a machine code, a sentence a
// shopper can read, and optional per-field messages for forms. The web layer
// maps codes to HTTP statuses; everything else is an internal error.
package errs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Code is a stable snake_case identifier; it is the "code" of JSON errors.
type Code string

const (
	Invalid         Code = "invalid_input"
	NotFound        Code = "not_found"
	Unauthorized    Code = "unauthorized"
	Forbidden       Code = "forbidden"
	Conflict        Code = "conflict"
	TooLarge        Code = "too_large"
	TooManyRequests Code = "too_many_requests"
	Unavailable     Code = "unavailable"
	// Busy: contention outlasted the bounded waits and retries; trying again is safe.
	Busy Code = "busy"
)

// Error is an expected failure: shown to the user, never logged as a bug.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string // form field name → message, for validation errors
	// RetryAfter is how long until trying again can succeed (a limiter's
	// window, a full pool); zero leaves the wait to the web layer.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, strings.Join(parts, "; "))
}

// New returns an expected error with a code and a readable message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error inside err, if there is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	e, ok := As(err)
	return ok && e.Code == code
}

// Fields gathers validation messages; Err turns them into one invalid_input
// error (or nil when every field was fine).
type Fields map[string]string

// Add records msg for field unless the field already has a message.
func (f Fields) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Check records msg for field when ok is false.
func (f Fields) Check(ok bool, field, msg string) {
	if !ok {
		f.Add(field, msg)
	}
}

// Err is nil when no field failed.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	msg := "Please correct the highlighted fields."
	if len(f) == 1 {
		for _, m := range f {
			msg = m
		}
	}
	return &Error{Code: Invalid, Message: msg, Fields: f}
}
