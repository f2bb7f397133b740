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
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'goose_db_version'`).Scan(&tables); err != nil || tables != 0 {
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
