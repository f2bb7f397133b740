// Package reqctx carries the few request-scoped facts that views may read:
// the current user, flash messages and the request id. Typed getters only.
package reqctx

import "context"

// User is who is logged in, as far as pages need to know.
type User struct {
	ID    int64
	Email string
	Name  string
	Admin bool
}

// Flash is a one-time message shown on the next page.
type Flash struct {
	Kind    string // success | error | info
	Message string
}

type key int

const (
	userKey key = iota
	flashKey
	requestIDKey
	cartUnitsKey
	sessionKey
)

func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// CurrentUser returns the logged-in user; ok is false for anonymous requests.
func CurrentUser(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

func WithFlashes(ctx context.Context, f []Flash) context.Context {
	return context.WithValue(ctx, flashKey, f)
}

func Flashes(ctx context.Context) []Flash {
	f, _ := ctx.Value(flashKey).([]Flash)
	return f
}

func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithCartUnits records the units in the shopper's cart, for the header badge.
func WithCartUnits(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, cartUnitsKey, n)
}

// CartUnits is the header badge's count (0 when unknown).
func CartUnits(ctx context.Context) int64 {
	n, _ := ctx.Value(cartUnitsKey).(int64)
	return n
}

// WithSessionID records the signed-in session's id (a waiting room ticket is
// bound to it: internal/room).
func WithSessionID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, sessionKey, id)
}

// SessionID is the signed-in session's id, "" for anonymous requests.
func SessionID(ctx context.Context) string {
	id, _ := ctx.Value(sessionKey).(string)
	return id
}
