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

	"market/internal/config"
)

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
