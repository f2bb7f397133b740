package db_test

import (
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
