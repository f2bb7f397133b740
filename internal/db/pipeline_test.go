package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
	"market/internal/testenv"
)

// A pipelined batch is all or nothing with its transaction: the first
// failing statement's error comes back (a CHECK here, after a write that
// succeeded), and the rollback leaves nothing of the batch behind.
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
}

// Reads in one round trip run after the lock queued before them is granted,
// so they see what its holder committed meanwhile; and a function that would
// make a call it did not queue (it branched on a made-up answer) fails
// instead of being answered by another statement's result.
func TestPipelinedReadsRunAfterTheLockBeforeThem(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	u, holder := lockedShopper(t, pool, "r@example.com")
	type read struct {
		locked, after db.LockShopperRow
		err           error
	}
	done := make(chan read, 1)
	go func() {
		var r read
		r.err = db.WithTxLockTimeout(ctx, pool, 5*time.Second, func(q *db.Queries) error {
			return q.Pipelined(ctx, func(q *db.Queries) error {
				var err error
				if r.locked, err = q.LockShopper(ctx, u.ID); err != nil {
					return err
				}
				w, err := q.Wallet(ctx, u.ID)
				r.after = db.LockShopperRow{Balance: w.Balance, Points: w.Points}
				return err
			})
		})
		done <- r
	}()
	time.Sleep(200 * time.Millisecond) // the batch now waits for the lock
	if err := db.New(holder).MoveWallet(ctx, db.MoveWalletParams{ID: u.ID, BalanceDelta: 700, PointsDelta: 7}); err != nil {
		t.Fatal(err)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	want := db.LockShopperRow{Balance: 700, Points: 7}
	if r.err != nil || r.locked != want || r.after != want {
		t.Fatalf("pipelined lock and read: %+v and %+v (%v), want both %+v", r.locked, r.after, r.err, want)
	}

	// Functions that branch on an answer, so their second run differs from
	// the first: each fails, and what was sent is rolled back with it.
	for name, fn := range map[string]func(q *db.Queries) error{
		"a call not queued": func(q *db.Queries) error {
			w, err := q.LockShopper(ctx, u.ID)
			if err != nil || w.Balance == 0 {
				return err
			}
			_, err = q.Wallet(ctx, u.ID)
			return err
		},
		"a queued call skipped": func(q *db.Queries) error {
			w, err := q.LockShopper(ctx, u.ID)
			if err != nil || w.Balance > 0 {
				return err
			}
			return q.MoveWallet(ctx, db.MoveWalletParams{ID: u.ID, BalanceDelta: 1})
		},
		"other arguments": func(q *db.Queries) error {
			w, err := q.LockShopper(ctx, u.ID)
			if err != nil {
				return err
			}
			return q.MoveWallet(ctx, db.MoveWalletParams{ID: u.ID, BalanceDelta: -w.Balance})
		},
	} {
		err := db.WithTxLockTimeout(ctx, pool, time.Second, func(q *db.Queries) error { return q.Pipelined(ctx, fn) })
		w, werr := db.New(pool).Wallet(ctx, u.ID)
		if err == nil || werr != nil || w.Balance != 700 {
			t.Errorf("%s: %v, balance %d (%v), want an error and 700", name, err, w.Balance, werr)
		}
	}
}

// The lock timeout given to the transaction bounds its lock waits: a row
// held by another transaction is given up on after it (lock_not_available).
func TestWithTxLockTimeoutBoundsLockWaits(t *testing.T) {
	pool := testenv.DB(t)
	ctx := t.Context()
	u, _ := lockedShopper(t, pool, "l@example.com")
	start := time.Now()
	err := db.WithTxLockTimeout(ctx, pool, 200*time.Millisecond, func(q *db.Queries) error {
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

// lockedShopper creates a shopper and locks their row in a transaction that
// holds it until it is committed or the test ends.
func lockedShopper(t *testing.T, pool *pgxpool.Pool, email string) (db.User, pgx.Tx) {
	ctx := t.Context()
	u, err := db.New(pool).CreateUser(ctx, db.CreateUserParams{Email: email, PasswordHash: "x", Name: "Held", Role: "shopper"})
	if err != nil {
		t.Fatal(err)
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Rollback(context.WithoutCancel(ctx)) })
	if _, err := db.New(holder).LockShopper(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	return u, holder
}
