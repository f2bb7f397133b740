package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestPostgresServerStopStart(t *testing.T) {
	began := time.Now()
	s := StartPostgres(t)
	t.Logf("initdb + start-up: %v", time.Since(began).Round(time.Millisecond))

	began = time.Now()
	pool, url := s.DB(t)
	t.Logf("migrated database (template built on this server): %v", time.Since(began).Round(time.Millisecond))
	ctx := context.Background()

	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, name) VALUES ('outage@example.com', 'x', 'Outage')
		RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}

	// An in-flight session is ended by the fast shutdown with 57P01.
	inflight := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			close(started)
			inflight <- err
			return
		}
		defer c.Close(ctx)
		close(started)
		_, err = c.Exec(ctx, "SELECT pg_sleep(60)")
		inflight <- err
	}()
	<-started
	time.Sleep(200 * time.Millisecond) // let pg_sleep begin

	s.Stop()
	select {
	case err := <-inflight:
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
			t.Errorf("in-flight query during Stop: got %v, want SQLSTATE 57P01", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight query still running after Stop")
	}

	// While stopped: the pool's queries fail and new connections are refused.
	if _, err := pool.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query on the pool succeeded while the server was stopped")
	}
	if c, err := pgx.Connect(ctx, url); err == nil {
		c.Close(ctx)
		t.Fatal("new connection succeeded while the server was stopped")
	}

	s.Start()
	// The same pool reconnects by itself, and the committed row survived.
	var email string
	if err := pool.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email); err != nil {
		t.Fatalf("pool after Start: %v", err)
	}
	if email != "outage@example.com" {
		t.Fatalf("row after restart: got %q", email)
	}
}
