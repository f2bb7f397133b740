package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"market/migrations"
)

// Budget bounds what one connection may hold: a statement running longer
// than Statement is cancelled (57014), and a session that sits inside a
// transaction longer than IdleInTx is ended, releasing its locks. Zero is no
// bound. The app's requests get a short budget, so that one slow query or a
// forgotten transaction cannot keep one of a few pooled connections; the long
// admin work (migrations, seeding, consistency runs) its own, larger one.
type Budget struct {
	Statement time.Duration
	IdleInTx  time.Duration
}

// Open connects a pool without a budget (tools and tests) and checks that
// PostgreSQL answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	return OpenWithBudget(ctx, url, maxConns, Budget{})
}

// OpenWithBudget connects a pool whose every connection has the budget (sent
// as startup parameters: no round trip of its own) and checks that
// PostgreSQL answers.
func OpenWithBudget(ctx context.Context, url string, maxConns int32, b Budget) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url, maxConns, b)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
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

// OpenReplica is OpenWithBudget for a read replica, without the check: the
// shop starts and serves from the primary while its replica is down. A
// connection attempt gives up after two seconds (unless the URL says
// otherwise), so a replica that stopped answering is soon left alone.
func OpenReplica(ctx context.Context, url string, b Budget) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url, 0, b)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_READ_URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

func poolConfig(url string, maxConns int32, b Budget) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	if b.Statement > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(b.Statement.Milliseconds(), 10)
	}
	if b.IdleInTx > 0 {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(b.IdleInTx.Milliseconds(), 10)
	}
	return cfg, nil
}

// TimedOut reports whether PostgreSQL cancelled a statement (query_canceled):
// it ran past the budget's statement_timeout, or an operator cancelled it.
// The caller's own deadline shows as a context error instead.
func TimedOut(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}

// WithTx runs fn in one transaction: committed when fn returns nil, rolled
// back otherwise. Domain services own their transactions through it.
func WithTx(ctx context.Context, pool *pgxpool.Pool, fn func(q *Queries) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return fn(New(tx))
	})
}

// beginPlanned opens a read-only transaction whose statements are planned
// for their arguments: a catch-all query's generic plan (chosen by
// PostgreSQL after five runs of a prepared statement) cannot pick the index
// that matches the filters present, and walks the wrong one.
const beginPlanned = "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan"

// ReadPlanned runs fn's reads in one read-only transaction, each statement
// planned for its own arguments (one round trip more than a bare read).
func ReadPlanned(ctx context.Context, pool *pgxpool.Pool, fn func(q *Queries) error) error {
	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{BeginQuery: beginPlanned}, func(tx pgx.Tx) error {
		return fn(New(tx))
	})
}

// Migrator returns goose over the embedded migrations for the pool's database.
// Up and Down hold a PostgreSQL advisory lock for the whole run (goose's
// session locker), so instances starting together migrate one at a time: the
// first applies what is pending, the others wait and then find nothing to do.
// The lock holds one of the pool's connections and the migrations run on it.
func Migrator(pool *pgxpool.Pool) (*goose.Provider, error) {
	// Polled once a second for up to 15 minutes: a migration building an index
	// on a million products takes minutes, and a waiting instance should start
	// soon after the one migrating has finished.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 900))
	if err != nil {
		return nil, err
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	return goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithLogger(goose.NopLogger()),
		goose.WithSessionLocker(locker))
}

// A database whose applied migrations this build does not have is refused:
// applying ours on top would leave it half one schema, half the other.
var (
	// ErrOldLayout: made by the migrations before they were squashed into
	// one file per domain (numbered below ours).
	ErrOldLayout = errors.New("this database was made by an older layout of the migrations, before they were squashed into one file per domain; start afresh: `make reset` empties the database of `make run` (or drop and create the database named by DATABASE_URL)")
	// ErrNewerMigrations: migrated by a newer build of the shop.
	ErrNewerMigrations = errors.New("this database holds migrations this build does not have: a newer build migrated it; run that build, or roll its migrations back with it (`market migrate down`) first")
)

// Migrate applies every pending migration, after checking that every
// migration the database has applied is one of ours, as it is now.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	p, err := Migrator(pool)
	if err != nil {
		return err
	}
	if err := checkKnownMigrations(ctx, pool, p); err != nil {
		return err
	}
	if err := checkDigests(ctx, pool, p); err != nil {
		return err
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		log.Info("migrated", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	if err != nil {
		return err
	}
	return checkDigests(ctx, pool, p) // records what was just applied
}

func checkKnownMigrations(ctx context.Context, pool *pgxpool.Pool, p *goose.Provider) error {
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil || !exists {
		return err
	}
	var known []int64
	for _, s := range p.ListSources() {
		known = append(known, s.Version)
	}
	var older, newer bool
	err := pool.QueryRow(ctx, `SELECT coalesce(bool_or(version_id < $2), false), coalesce(bool_or(version_id > $2), false)
		FROM goose_db_version WHERE is_applied AND version_id > 0 AND version_id <> ALL ($1::bigint[])`, known, known[0]).Scan(&older, &newer)
	switch {
	case err != nil:
		return err
	case older:
		return ErrOldLayout
	case newer:
		return ErrNewerMigrations
	}
	return nil
}

// MigrationsFS is the embedded migrations, for tests that build template databases.
func MigrationsFS() fs.FS { return migrations.FS }
