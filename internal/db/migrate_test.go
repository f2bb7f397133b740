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

// A database made by migrations this build does not have (the layout before
// they were squashed went up to version 16) is refused before anything is
// applied, with the one line that says how to start afresh.
func TestADatabaseOfUnknownMigrationsIsRefused(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	if _, err := pool.Exec(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (16, true)`); err != nil {
		t.Fatal(err)
	}
	err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	if !errors.Is(err, db.ErrUnknownMigrations) {
		t.Fatalf("migrating a database at version 16: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 16`); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrating once it is ours again: %v", err)
	}
}
