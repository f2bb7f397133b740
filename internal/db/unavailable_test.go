package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// The errors pgx hands back, as its sources build them: outages are
// Unavailable, wherever they are wrapped; data errors, bugs and the caller's
// own cancellation are not.
func TestUnavailableTellsOutagesFromOtherErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	pg := func(code string) error {
		return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "from the server"}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"refused, wrapped by a service", fmt.Errorf("load cart: %w", refused), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"bare ECONNRESET", syscall.ECONNRESET, true},
		{"host not found", &net.DNSError{Err: "no such host", Name: "db.internal", IsNotFound: true}, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF, wrapped", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"closed pool", puddle.ErrClosedPool, true},
		{"08006 connection_failure", pg("08006"), true},
		{"08001 unable to establish", pg("08001"), true},
		{"57P01 admin_shutdown", pg("57P01"), true},
		{"57P02 crash_shutdown", pg("57P02"), true},
		{"57P03 cannot_connect_now", fmt.Errorf("begin: %w", pg("57P03")), true},
		{"57P05 idle_session_timeout", pg("57P05"), true},
		{"53300 too_many_connections", pg("53300"), true},
		{"53000 insufficient_resources", pg("53000"), true},

		{"nil", nil, false},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("search: %w", context.DeadlineExceeded), false},
		{"no rows", pgx.ErrNoRows, false},
		{"tx closed", pgx.ErrTxClosed, false},
		{"23505 unique_violation", pg("23505"), false},
		{"23514 check_violation", pg("23514"), false},
		{"40001 serialization_failure", pg("40001"), false},
		{"40P01 deadlock_detected", pg("40P01"), false},
		{"55P03 lock_not_available", pg("55P03"), false},
		{"57014 query_canceled", pg("57014"), false},
		{"57P04 database_dropped", pg("57P04"), false},
		{"08P01 protocol_violation", pg("08P01"), false},
		{"53100 disk_full", pg("53100"), false},
		{"28P01 wrong password", pg("28P01"), false},
		{"a domain error", errs.New(errs.Conflict, "Already done."), false},
		{"a bug", errors.New("nil map"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.Unavailable(tt.err); got != tt.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// The same, for errors that pgx really returned from a server that stopped,
// went away mid-session, or was never there.
func TestUnavailableRecognisesWhatPgxReturns(t *testing.T) {
	ctx := t.Context()
	direct, raw := testenv.DBWithURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	via := *u
	via.Host = proxy.Addr()

	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()

	tests := []struct {
		name string
		err  func(t *testing.T) error
		want bool
	}{
		{"connect refused", func(t *testing.T) error {
			_, err := pgconn.Connect(ctx, "postgres://postgres@"+closedPort+"/market?sslmode=disable")
			return err
		}, true},
		{"connect while cut", func(t *testing.T) error {
			proxy.Cut()
			defer proxy.Restore()
			_, err := pgx.Connect(ctx, via.String())
			return err
		}, true},
		{"query on a connection cut mid-session", func(t *testing.T) error {
			c, err := pgx.Connect(ctx, via.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			proxy.Cut()
			defer proxy.Restore()
			_, err = c.Exec(ctx, "SELECT 1")
			return err
		}, true},
		{"connection cut while a query runs", func(t *testing.T) error {
			c, err := pgx.Connect(ctx, via.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			defer proxy.Restore()
			time.AfterFunc(200*time.Millisecond, proxy.Cut)
			_, err = c.Exec(ctx, "SELECT pg_sleep(5)")
			return err
		}, true},
		{"backend terminated (57P01)", func(t *testing.T) error {
			c, err := pgx.Connect(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			if _, err := direct.Exec(ctx, "SELECT pg_terminate_backend($1)", c.PgConn().PID()); err != nil {
				t.Fatal(err)
			}
			_, err = c.Exec(ctx, "SELECT 1")
			return err
		}, true},
		{"pool closed", func(t *testing.T) error {
			p, err := pgxpool.New(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			p.Close()
			_, err = p.Exec(ctx, "SELECT 1")
			return err
		}, true},
		{"database does not exist", func(t *testing.T) error {
			missing := *u
			missing.Path = "/no_such_database"
			_, err := pgx.Connect(ctx, missing.String())
			return err
		}, false},
		{"division by zero", func(t *testing.T) error {
			_, err := direct.Exec(ctx, "SELECT 1/0")
			return err
		}, false},
		{"canceled by the caller", func(t *testing.T) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := direct.Exec(cctx, "SELECT 1")
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("%T: %v", err, err)
			if got := db.Unavailable(err); got != tt.want {
				t.Fatalf("Unavailable(%T %v) = %v, want %v", err, err, got, tt.want)
			}
		})
	}
}
