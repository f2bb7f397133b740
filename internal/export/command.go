package export

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Usage is the command line's twin of the admin downloads.
const Usage = "usage: market export orders [-from 2025-05-01] [-to 2025-05-31] [-status placed|preparing|shipped|delivered|cancelled] [-o FILE]\n" +
	"       market export claims -campaign ID [-o FILE]\n" +
	"       market export ledger -kind stock|balance|points [-o FILE]"

// Command runs `market export …`: the CSV goes to -o (standard output by
// default), a progress line to progress.
func Command(ctx context.Context, pool *pgxpool.Pool, args []string, stdout, progress io.Writer) error {
	if len(args) == 0 {
		return errors.New(Usage)
	}
	what := args[0]
	fs := flag.NewFlagSet("export "+what, flag.ContinueOnError)
	fs.SetOutput(progress)
	from := fs.String("from", "", "first day, in the shop's zone (orders)")
	to := fs.String("to", "", "last day, included (orders)")
	status := fs.String("status", "", "placed, preparing, shipped, delivered or cancelled (orders; all when empty)")
	campaign := fs.Int64("campaign", 0, "the campaign's id (claims)")
	kind := fs.String("kind", "", "stock, balance or points (ledger)")
	out := fs.String("o", "", "write to this file instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	start := time.Now()
	show := func(n int64) {
		rate := float64(n) / max(time.Since(start).Seconds(), 1e-3)
		fmt.Fprintf(progress, "\r%d rows written (%.0f rows/s)", n, rate)
	}
	s := NewService(pool)
	var n int64
	var err error
	switch what {
	case "orders":
		f := OrdersFilter{From: time.Unix(0, 0), Before: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Status: *status}
		if f.From, err = day(*from, f.From, 0); err == nil {
			f.Before, err = day(*to, f.Before, 1)
		}
		if err == nil {
			n, err = s.Orders(ctx, w, f, show)
		}
	case "claims":
		if *campaign <= 0 {
			return errors.New("-campaign ID is required")
		}
		n, err = s.Claims(ctx, w, *campaign, show)
	case "ledger":
		n, err = s.Ledger(ctx, w, *kind, show)
	default:
		return errors.New(Usage)
	}
	fmt.Fprintf(progress, "\r%d rows written in %s\n", n, time.Since(start).Round(time.Millisecond))
	return err
}

// day is a date in the shop's zone plus days; def when raw is empty.
func day(raw string, def time.Time, days int) (time.Time, error) {
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseInLocation("2006-01-02", raw, time.Local)
	if err != nil {
		return def, fmt.Errorf("a day is written like 2025-05-01, not %q", raw)
	}
	return d.AddDate(0, 0, days), nil
}
