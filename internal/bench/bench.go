// Package bench holds the `market bench …` load generators. Each drives the
// real code path (HTTP handlers over real PostgreSQL and Redis) and runs its
// baseline side by side in the same run, printing ratios.
package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/config"
	"market/internal/db"
	"market/internal/redisdb"
)

// openStores opens PostgreSQL, migrated, with the pool `serve` uses (pgx's
// default, or pool_max_conns in DATABASE_URL: a bench measures the endpoint
// as served, not one given a connection per shopper), and Redis.
func openStores(ctx context.Context, cfg config.Config) (*pgxpool.Pool, redis.UniversalClient, func(), error) {
	pool, err := db.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return pool, rdb, func() { rdb.Close(); pool.Close() }, nil
}

// command is one `market bench NAME` subcommand.
type command func(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error

// commands is every benchmark, by name.
var commands = map[string]command{
	"search": searchBench,
	"claims": claims,
	// The server half of `claims`, started by it as a child process.
	"claims-server": claimsServer,
	"checkout":      checkoutBench,
	"claims-open":   claimsOpen,
	"pages":         pagesBench,
	"room":          roomBench,
}

// Run dispatches `market bench NAME [flags]`.
func Run(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 {
		return fmt.Errorf("usage: market bench %s [flags]", strings.Join(names, "|"))
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("unknown benchmark %q (%s)", args[0], strings.Join(names, ", "))
	}
	return cmd(ctx, log, cfg, args[1:])
}
