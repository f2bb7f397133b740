// Package testenv gives tests real servers: a freshly migrated PostgreSQL
// database per call (cloned from a template, dropped in t.Cleanup) and a
// private redis-server process per call. No mocks of either.
//
// PostgreSQL comes from TEST_DATABASE_URL (make test starts the private test
// server; see tools/services.sh). redis-server must be on PATH.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
)

// DefaultAdminURL is the test profile's server (tools/services.sh up test).
const DefaultAdminURL = "postgres://postgres@127.0.0.1:55442/postgres?sslmode=disable"

func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// DB returns a pool on a new database with every migration applied.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := DBWithURL(t)
	return pool
}

// DBWithURL is DB plus the database's URL, for code that opens its own pool
// (the binary under test, a second app instance).
func DBWithURL(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return dbOn(t, adminURL(), "run `make test`, or `tools/services.sh up test` first")
}

// dbOn makes a migrated database on the server of adminDSN (the shared test
// server, or a PostgresServer); hint is added when the server cannot be reached.
func dbOn(t testing.TB, adminDSN, hint string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("testenv: cannot reach the test PostgreSQL (%v); %s", err, hint)
	}
	defer admin.Close(ctx)

	tmpl := templateName()
	// One creator at a time across test packages, which run in parallel.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		t.Fatal(err)
	}
	err = ensureTemplate(ctx, admin, adminDSN, tmpl)
	name := "t_" + randomHex(8)
	if err == nil {
		_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
	}
	_, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock(4242)")
	if err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}

	u := withDatabase(adminDSN, name)
	pool, err := db.Open(ctx, u, 40)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), adminDSN)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return pool, u
}

// templateVersion names what db.Migrate leaves beside the migrations' own
// tables (goose_file_digests): bump it when that changes.
const templateVersion = "digests-1"

// templateName changes whenever a migration (or templateVersion) changes, so a
// stale template is never used.
func templateName() string {
	h := sha256.New()
	h.Write([]byte(templateVersion))
	entries, _ := fs.ReadDir(db.MigrationsFS(), ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(db.MigrationsFS(), n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return "tmpl_" + hex.EncodeToString(h.Sum(nil)[:6])
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn, adminDSN, name string) error {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := name + "_build"
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return err
	}
	pool, err := db.Open(ctx, withDatabase(adminDSN, building), 2)
	if err != nil {
		return err
	}
	err = db.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// Renamed only when complete, so a crash never leaves a half-built template.
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name))
	return err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// OpenPool opens a second pool on a database made by DBWithURL, as a second
// app instance would, closed in t.Cleanup (before the database is dropped).
func OpenPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Open(context.Background(), url, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
