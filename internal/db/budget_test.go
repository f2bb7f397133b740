package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"market/internal/db"
	"market/internal/testenv"
)

// On the app's pool a statement running past its budget is cancelled with an
// error that says so, instead of holding one of a few connections for as long
// as it likes, and a transaction left idle is ended (its locks released). The
// admin budget lets the same statement finish.
func TestTheAppBudgetCancelsASlowStatementAndEndsAnIdleTransaction(t *testing.T) {
	_, url := testenv.DBWithURL(t)
	ctx := t.Context()
	app, err := db.OpenWithBudget(ctx, url, 2, db.Budget{Statement: 200 * time.Millisecond, IdleInTx: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	admin, err := db.OpenWithBudget(ctx, url, 1, db.Budget{Statement: 10 * time.Second, IdleInTx: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)

	began := time.Now()
	_, err = app.Exec(ctx, "SELECT pg_sleep(5)")
	if took := time.Since(began); !db.TimedOut(err) || !strings.Contains(err.Error(), "statement timeout") || took > 2*time.Second {
		t.Fatalf("a 5 s statement on the app's pool: %v after %v; want it cancelled by statement_timeout", err, took)
	}
	if db.Unavailable(err) {
		t.Errorf("a timed-out statement counts as PostgreSQL being unavailable: %v", err)
	}
	if _, err := app.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the app's pool after a timeout: %v", err)
	}
	if _, err := admin.Exec(ctx, "SELECT pg_sleep(0.5)"); err != nil {
		t.Fatalf("the same kind of statement within the admin budget: %v", err)
	}

	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := tx.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a transaction idle past idle_in_transaction_session_timeout still works")
	}
}
