package testenv

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Replica is a streaming replica of the shared test PostgreSQL
// (TEST_DATABASE_URL): pg_basebackup -R copies the server into a temp dir
// and the copy runs as a hot standby on a free port, stopped and removed in
// t.Cleanup. Every database of the primary, made before or after, is on it.
// tools/services.sh starts the test server with wal_level=replica and the
// replication connections initdb allows from loopback. Starting one takes
// about a second: share one per package.
type Replica struct {
	*PostgresServer
	primary string // the primary's superuser URL
}

// StartReplica makes and starts a replica of the test server.
func StartReplica(t testing.TB) *Replica {
	t.Helper()
	primary := adminURL()
	s := newServer(t, replicaSettings(t, primary))
	began := time.Now()
	out, err := s.pgCmd(filepath.Join(s.bin, "pg_basebackup"), "-d", primary, "-D", s.dataDir(),
		"-R", "-X", "stream", "--checkpoint=fast", "--no-sync").CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: pg_basebackup from the test server: %v\n%s", err, out)
	}
	t.Logf("testenv: pg_basebackup took %v", time.Since(began).Round(time.Millisecond))
	s.Start()
	return &Replica{PostgresServer: s, primary: primary}
}

// replicaSettings: a hot standby refuses to start with fewer of these than
// its primary has (the test server raises max_connections).
func replicaSettings(t testing.TB, primary string) string {
	t.Helper()
	c, err := pgx.Connect(t.Context(), primary)
	if err != nil {
		t.Fatalf("testenv: cannot reach the test PostgreSQL (%v); run `make test`, or `tools/services.sh up test` first", err)
	}
	defer c.Close(context.Background())
	var b strings.Builder
	b.WriteString("-c hot_standby=on")
	for _, name := range []string{"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction"} {
		var v string
		if err := c.QueryRow(t.Context(), "SELECT current_setting($1)", name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, " -c %s=%s", name, v)
	}
	return b.String()
}

// URL is the database of dbURL (a URL on the test server) on the replica.
func (r *Replica) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		panic(err)
	}
	u.Host = fmt.Sprintf("127.0.0.1:%d", r.port)
	return u.String()
}

// Stop shuts the replica down (as PostgresServer.Stop), failing t, which
// may be a subtest's.
func (r *Replica) Stop(t testing.TB) { t.Helper(); r.stop(t) }

// Start starts the replica again; it catches up from where it stopped.
func (r *Replica) Start(t testing.TB) { t.Helper(); r.start(t) }

// CatchUp waits (at most 10 s) until the replica has replayed everything
// the primary had written when it was called, including databases made.
func (r *Replica) CatchUp(t testing.TB) {
	t.Helper()
	ctx := t.Context()
	p, err := pgx.Connect(ctx, r.primary)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	var target int64
	if err := p.QueryRow(ctx, "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint").Scan(&target); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var replayed int64
		err := r.query(t, "SELECT coalesce((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0)", &replayed)
		if err == nil && replayed >= target {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: the replica did not replay %d within 10 s (at %d, %v)%s", target, replayed, err, r.logTail())
		}
		// An idle primary's insert position may point just past a page
		// header that no record ends at; one more commit moves past it.
		_, _ = p.Exec(ctx, "SELECT txid_current()")
		time.Sleep(20 * time.Millisecond)
	}
}

// PauseReplay stops the replica applying the primary's changes (it still
// receives them), and returns once it has stopped: its readers then see
// the database as it was.
func (r *Replica) PauseReplay(t testing.TB) {
	t.Helper()
	var state string
	if err := r.query(t, "SELECT pg_wal_replay_pause()::text", &state); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); state != "paused"; time.Sleep(5 * time.Millisecond) {
		if err := r.query(t, "SELECT pg_get_wal_replay_pause_state()", &state); err != nil || time.Now().After(deadline) {
			t.Fatalf("testenv: replay did not pause: %v (state %q)", err, state)
		}
	}
}

// ResumeReplay lets the replica apply the changes it holds, and go on.
func (r *Replica) ResumeReplay(t testing.TB) {
	t.Helper()
	var ignored string
	if err := r.query(t, "SELECT pg_wal_replay_resume()::text", &ignored); err != nil {
		t.Fatal(err)
	}
}

// query runs one statement on the replica's postgres database.
func (r *Replica) query(t testing.TB, sql string, dst any) error {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, r.AdminURL())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.QueryRow(ctx, sql).Scan(dst)
}
