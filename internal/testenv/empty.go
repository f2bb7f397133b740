package testenv

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EmptyDB makes a new database on the test server with no migration applied
// (for tests of migrating itself) and returns its URL; it is dropped in
// t.Cleanup, after the pools that the test closes in its own cleanups.
func EmptyDB(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		t.Fatalf("testenv: cannot reach the test PostgreSQL (%v); run `make test`, or `tools/services.sh up test` first", err)
	}
	defer admin.Close(ctx)
	name := "t_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), adminURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return withDatabase(adminURL(), name)
}
