package db_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"market/internal/db"
	"market/internal/testenv"
)

// A pipelined batch is all or nothing with its transaction: the first
// failing statement's error comes back (a CHECK here, after a write that
// succeeded), and the rollback leaves nothing of the batch behind. A query
// that reads is refused, not answered with made-up rows.
func TestPipelinedWritesFailWithTheirTransaction(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	u, err := db.New(pool).CreateUser(ctx, db.CreateUserParams{Email: "p@example.com", PasswordHash: "x", Name: "P", Role: "shopper"})
	if err != nil {
		t.Fatal(err)
	}
	err = db.WithTxLockTimeout(ctx, pool, time.Second, func(q *db.Queries) error {
		return q.Pipelined(ctx, func(q *db.Queries) error {
			if err := q.InsertBalanceEntry(ctx, db.InsertBalanceEntryParams{UserID: u.ID, Delta: 5, Reason: "topup"}); err != nil {
				return err
			}
			return q.MoveWallet(ctx, db.MoveWalletParams{ID: u.ID, BalanceDelta: -1}) // balance >= 0 refuses it
		})
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23514" {
		t.Fatalf("pipelined CHECK violation: %v, want SQLSTATE 23514", err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM balance_ledger WHERE user_id = $1`, u.ID).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d ledger rows after the rollback (%v), want 0", rows, err)
	}

	err = db.WithTxLockTimeout(ctx, pool, time.Second, func(q *db.Queries) error {
		return q.Pipelined(ctx, func(q *db.Queries) error {
			_, err := q.LockShopper(ctx, u.ID)
			return err
		})
	})
	if err == nil {
		t.Fatal("a reading query inside Pipelined answered")
	}
}

// The lock timeout given to the transaction bounds its lock waits: a row
// held by another transaction is given up on after it (lock_not_available).
func TestWithTxLockTimeoutBoundsLockWaits(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	u, err := db.New(pool).CreateUser(ctx, db.CreateUserParams{Email: "l@example.com", PasswordHash: "x", Name: "L", Role: "shopper"})
	if err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := db.New(holder).LockShopper(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = db.WithTxLockTimeout(ctx, pool, 200*time.Millisecond, func(q *db.Queries) error {
		_, err := q.LockShopper(ctx, u.ID)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" {
		t.Fatalf("waiting on a held row: %v, want SQLSTATE 55P03", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("gave up after %v, want about 200ms", took)
	}
}
