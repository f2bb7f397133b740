package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WithTxLockTimeout is WithTx whose lock waits are bounded by lockTimeout.
// The SET LOCAL rides in the BEGIN's round trip (a simple-protocol query may
// hold two statements), because a checkout is a handful of short statements
// and each round trip is time a pooled connection sits idle.
func WithTxLockTimeout(ctx context.Context, pool *pgxpool.Pool, lockTimeout time.Duration, fn func(q *Queries) error) error {
	begin := fmt.Sprintf("BEGIN; SET LOCAL lock_timeout = %d", lockTimeout.Milliseconds())
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{BeginQuery: begin}, func(tx pgx.Tx) error {
		return fn(New(tx))
	})
}

// Pipelined sends fn's statements to q's transaction in one round trip. fn
// runs twice: first against a queue, which answers every call with zero
// values and no error (a row of zeros, no rows, nothing affected), to learn
// the statements; then, once the queue is sent, against the results, each
// call answered in turn. So fn must make the same calls with the same
// arguments whatever they return, and stop early only on an error; else the
// second run fails. The server runs the statements one after another, each
// with a snapshot of its own, so a read queued after a lock sees what the
// lock's last holder committed.
func (q *Queries) Pipelined(ctx context.Context, fn func(q *Queries) error) error {
	tx, ok := q.db.(interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	})
	if !ok {
		return errors.New("db: Pipelined needs queries on a transaction or connection")
	}
	var p queue
	if err := fn(New(&p)); err != nil || len(p.batch.QueuedQueries) == 0 {
		return err // no call failed, so the error is fn's own: nothing is sent
	}
	r := &replay{results: tx.SendBatch(ctx, &p.batch), queued: p.batch.QueuedQueries}
	err := fn(New(r))
	if err == nil && r.next < len(r.queued) {
		err = errNotQueued // it skipped statements that were sent all the same
	}
	if err != nil {
		r.results.Close()
		return err
	}
	return r.results.Close()
}

var errNotQueued = errors.New("db: a pipelined function made other calls the second time than the first")

// queue is a DBTX that keeps statements for one batch and answers each with
// zero values.
type queue struct{ batch pgx.Batch }

func (p *queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (p *queue) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	p.batch.Queue(sql, args...)
	return noRows{}, nil
}

func (p *queue) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	p.batch.Queue(sql, args...)
	return row{}
}

// noRows is a query's answer while queueing: no rows (the methods a
// generated query calls on an empty result).
type noRows struct{ pgx.Rows }

func (noRows) Next() bool { return false }
func (noRows) Close()     {}
func (noRows) Err() error { return nil }

// row answers Scan with err; while queueing, with nil and zero values.
type row struct{ err error }

func (r row) Scan(...any) error { return r.err }

// replay is a DBTX that answers each call with the next result of the sent
// queue.
type replay struct {
	results pgx.BatchResults
	queued  []*pgx.QueuedQuery
	next    int
}

func (r *replay) take(sql string, args []any) error {
	if r.next >= len(r.queued) || r.queued[r.next].SQL != sql || !reflect.DeepEqual(r.queued[r.next].Arguments, args) {
		return errNotQueued
	}
	r.next++
	return nil
}

func (r *replay) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := r.take(sql, args); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.results.Exec()
}

func (r *replay) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := r.take(sql, args); err != nil {
		return nil, err
	}
	return r.results.Query()
}

func (r *replay) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	if err := r.take(sql, args); err != nil {
		return row{err}
	}
	return r.results.QueryRow()
}
