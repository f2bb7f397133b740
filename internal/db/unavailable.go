package db

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// Unavailable reports whether err means that PostgreSQL could not be reached,
// or is stopping, starting or out of connections: the request did not fail
// for anything in it, and the same request may succeed a few seconds later.
//
// A failed connection attempt (*pgconn.ConnectError) counts when its cause
// does: refused, reset or cut connections do, a wrong password or a missing
// database do not, for those are configuration bugs that waiting won't fix.
// Context errors never count, even wrapped: the caller gave up or ran out of
// time, and says so itself.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableState(pgErr.Code)
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// pgx: the connection was closed under the caller (its socket failed
		// earlier); a pool Acquire after Close (the app is shutting down).
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, puddle.ErrClosedPool)
}

// unavailableState: the SQLSTATEs with which a server that is going away,
// starting up or full answers (PostgreSQL appendix A).
func unavailableState(code string) bool {
	switch code {
	case "57P01", // admin_shutdown: fast shutdown, or pg_terminate_backend
		"57P02", // crash_shutdown: another backend crashed, all are reset
		"57P03", // cannot_connect_now: starting up, shutting down, in recovery
		"57P05", // idle_session_timeout: the server closed an idle pooled connection
		"53300", // too_many_connections
		"53000": // insufficient_resources (e.g. could not fork a backend)
		return true
	case "08P01": // protocol_violation: a bug on one side, not an outage
		return false
	}
	return len(code) == 5 && code[:2] == "08" // connection_exception and its subclasses
}
