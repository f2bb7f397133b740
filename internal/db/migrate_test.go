package db_test

import (
	"errors"
	"log/slog"
	"testing"

	"market/internal/db"
	"market/internal/testenv"
)

// Every migration has a working Down: all the way down and up again.
func TestMigrationsGoDownAndUpAgain(t *testing.T) {
	pool := testenv.DB(t) // migrated up by the template
	p, err := db.Migrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT IN ('goose_db_version', 'goose_file_digests')`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("after down, %d tables remain (%v)", tables, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil || v == 0 {
		t.Fatalf("version %d (%v)", v, err)
	}
}

// A database made by migrations this build does not have is refused before
// anything is applied, with the one line that says what to do: the layout
// before the squash (versions 1–16) and a newer build's migrations alike.
func TestADatabaseOfUnknownMigrationsIsRefused(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	for version, want := range map[int64]error{16: db.ErrOldLayout, 1: db.ErrOldLayout, 999: db.ErrNewerMigrations} {
		if _, err := pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, version); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); !errors.Is(err, want) {
			t.Errorf("migrating a database with version %d: %v, want %v", version, err, want)
		}
		if _, err := pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = $1`, version); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrating once it is ours again: %v", err)
	}
}

// A database that applied an earlier text of a migration file is refused
// with the line that says what to do; rolled back, the file applies again.
func TestADatabaseOfAnEditedMigrationIsRefused(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	if _, err := pool.Exec(ctx, `UPDATE goose_file_digests SET sha256 = 'earlier' WHERE version = 102`); err != nil {
		t.Fatal(err)
	}
	var edited db.ErrEditedMigration
	if err := db.Migrate(ctx, pool, log); !errors.As(err, &edited) || edited.File != "00102_catalogue.sql" {
		t.Fatalf("migrating a database of an earlier 00102: %v, want ErrEditedMigration naming the file", err)
	}
	p, err := db.Migrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 101); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, pool, log); err != nil {
		t.Fatalf("migrating after rolling the edited file back: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_file_digests WHERE sha256 <> 'earlier'`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d digests recorded (%v), want 5", n, err)
	}
}
