package db

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"market/migrations"
)

// Open connects a pool and checks that PostgreSQL answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// WithTx runs fn in one transaction: committed when fn returns nil, rolled
// back otherwise. Domain services own their transactions through it.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(q *Queries) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return fn(New(tx))
	})
}

// Migrator returns goose over the embedded migrations for the pool's database.
func Migrator(pool *pgxpool.Pool) (*goose.Provider, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	return goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithLogger(goose.NopLogger()),
		// Branches land migrations in any order; apply a lower-numbered one
		// that arrives after a higher one instead of refusing to start.
		goose.WithAllowOutofOrder(true))
}

// Migrate applies every pending migration.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	p, err := Migrator(pool)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		log.Info("migrated", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return err
}

// MigrationsFS is the embedded migrations, for tests that build template databases.
func MigrationsFS() fs.FS { return migrations.FS }
