package db

import (
	"context"
	"errors"
	"fmt"
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

// Pipelined runs fn with queries that queue their statements instead of
// sending them, then sends the queue in one round trip on q's transaction and
// returns the first statement's error, if any. Only :exec queries belong in
// fn: their result is an error alone, which arrives with the round trip. A
// query that reads rows gets errNotQueueable; an :execrows query would count
// 0 rows, so keep those out.
func (q *Queries) Pipelined(ctx context.Context, fn func(q *Queries) error) error {
	tx, ok := q.db.(interface {
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	})
	if !ok {
		return errors.New("db: Pipelined needs queries on a transaction or connection")
	}
	var p queue
	if err := fn(New(&p)); err != nil {
		return err
	}
	return tx.SendBatch(ctx, &p.batch).Close()
}

var errNotQueueable = errors.New("db: only :exec queries can be pipelined")

// queue is a DBTX that keeps statements for one batch.
type queue struct{ batch pgx.Batch }

func (p *queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (p *queue) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errNotQueueable
}

func (p *queue) QueryRow(context.Context, string, ...any) pgx.Row { return errRow{} }

type errRow struct{}

func (errRow) Scan(...any) error { return errNotQueueable }
