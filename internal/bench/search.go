package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"market/internal/account"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/db"
	"market/internal/redisdb"
	"market/internal/seed"
	"market/web"
)

// searchShape is one filter combination of the mix. Pages > 1 follows
// next_cursor that many pages down (the naive baseline uses OFFSET).
type searchShape struct {
	name  string
	query url.Values
	pages int
}

func v(kv ...string) url.Values {
	out := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// searchMix is the fixed mix: at least 15 shapes, from cheap to the hard ones.
var searchMix = []searchShape{
	{"keyword", v("q", "wireless"), 1},
	{"keyword prefix (head)", v("q", "head"), 1},
	{"two words", v("q", "robot vacuum"), 1},
	{"keyword + price_asc", v("q", "jacket", "sort", "price_asc"), 1},
	{"keyword + category + newest", v("q", "pro", "category", "audio", "sort", "newest"), 1},
	{"keyword + in_stock + popular", v("q", "camera", "in_stock", "1", "sort", "popular"), 1},
	{"category + price range", v("category", "computers", "min_price", "100000", "max_price", "500000", "sort", "price_asc"), 1},
	{"category + newest", v("category", "kitchen", "sort", "newest"), 1},
	{"category + popular", v("category", "books", "sort", "popular"), 1},
	{"brand + in_stock + price_asc", v("brand", "Sonora", "in_stock", "1", "sort", "price_asc"), 1},
	{"brand + price_desc", v("brand", "Kestrel", "sort", "price_desc"), 1},
	{"category + brand + price range", v("category", "shoes", "brand", "Stride", "min_price", "50000", "max_price", "150000", "sort", "price_desc"), 1},
	{"price range only", v("min_price", "10000", "max_price", "20000", "sort", "price_asc"), 1},
	{"in_stock + newest", v("in_stock", "1", "sort", "newest"), 1},
	{"everything, popular", v("sort", "popular"), 1},
	{"deep: category + price_asc, page 20", v("category", "audio", "sort", "price_asc"), 20},
	{"deep: newest, page 20", v("sort", "newest"), 20},
}

// searchBench: `market bench search [-products N] [-iterations N] [-concurrency N]`.
func searchBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	products := fs.Int("products", 1_000_000, "products the catalogue should hold (seeded when fewer)")
	iterations := fs.Int("iterations", 50, "requests per shape (deep shapes: per page walk)")
	concurrency := fs.Int("concurrency", 4, "requests in flight")
	naiveIters := fs.Int("naive-iterations", 3, "requests per shape against the naive baseline")
	naiveDeep := fs.Int("naive-deep-iterations", 1, "page walks per deep shape against the naive baseline (each is 20 OFFSET pages with an exact count)")
	only := fs.String("shapes", "", "run only the shapes whose name contains this text (0 naive iterations skip the baseline)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, int32(*concurrency)+4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, log); err != nil {
		return err
	}
	svc := catalog.NewService(pool)
	have, err := svc.Count(ctx)
	if err != nil {
		return err
	}
	if int(have) < *products {
		fmt.Printf("seeding %d products (have %d)\n", *products-int(have), have)
		if err := seed.Products(ctx, pool, *products-int(have), os.Stderr); err != nil {
			return err
		}
	}
	if err := ensureNaiveCopy(ctx, pool); err != nil {
		return err
	}
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		return err
	}
	defer rdb.Close()
	handler := web.New(web.Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Redis: rdb,
		Accounts: account.NewService(pool, rdb, account.Limits{PerEmail: 5, PerAddr: 50, Window: time.Minute}), Catalog: svc})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency * 2}}

	fmt.Printf("search bench: %d products, %d iterations x %d concurrent per shape (naive: %d sequential, deep shapes %d)\n",
		max(have, int64(*products)), *iterations, *concurrency, *naiveIters, *naiveDeep)
	fmt.Printf("load average at start: %s\n\n", loadAverage())
	fmt.Printf("%-38s %8s %8s %8s | %10s %10s | %7s\n", "shape", "p50 ms", "p95 ms", "p99 ms", "naive p50", "naive p95", "ratio")
	var sumFast, sumNaive time.Duration
	worstP95 := time.Duration(0)
	for _, sh := range searchMix {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !strings.Contains(sh.name, *only) {
			continue
		}
		// Warm-up, then the measured runs: the indexed path through the HTTP handler.
		if _, err := runShape(ctx, client, srv.URL, sh); err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		fast, err := measure(ctx, *iterations, *concurrency, func() (time.Duration, error) { return runShape(ctx, client, srv.URL, sh) })
		if err != nil {
			return fmt.Errorf("%s: %w", sh.name, err)
		}
		n := *naiveIters
		if sh.pages > 1 {
			n = *naiveDeep
		}
		naive, err := measure(ctx, n, 1, func() (time.Duration, error) { return runNaive(ctx, pool, sh) })
		if err != nil {
			return fmt.Errorf("%s (naive): %w", sh.name, err)
		}
		f50, f95, f99 := pct(fast, 50), pct(fast, 95), pct(fast, 99)
		n50, n95 := pct(naive, 50), pct(naive, 95)
		sumFast += f50
		sumNaive += n50
		worstP95 = max(worstP95, f95)
		fmt.Printf("%-38s %8.2f %8.2f %8.2f | %10.1f %10.1f | %6.0fx\n", sh.name, ms(f50), ms(f95), ms(f99), ms(n50), ms(n95), float64(n50)/float64(max(f50, 1)))
	}
	fmt.Printf("\nworst p95 of the indexed path: %.2f ms; sum of medians: indexed %.1f ms, naive %.1f ms, overall %.0fx faster\n",
		ms(worstP95), ms(sumFast), ms(sumNaive), float64(sumNaive)/float64(max(sumFast, 1)))
	fmt.Println("deep shapes: time per page (indexed: following next_cursor; naive: OFFSET), averaged over the 20-page walk")
	fmt.Printf("load average at end: %s\n", loadAverage())
	return nil
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures (the machine is shared).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// measure runs fn n times with c in flight and returns each duration.
func measure(ctx context.Context, n, c int, fn func() (time.Duration, error)) ([]time.Duration, error) {
	var mu sync.Mutex
	var out []time.Duration
	var firstErr error
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				d, err := fn()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out = append(out, d)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if len(out) == 0 {
		return nil, ctx.Err()
	}
	return out, nil
}

// runShape requests the shape's pages through the HTTP handler (JSON) and
// returns the time per page.
func runShape(ctx context.Context, client *http.Client, base string, sh searchShape) (time.Duration, error) {
	q := url.Values{}
	for k, vs := range sh.query {
		q[k] = vs
	}
	start := time.Now()
	for range sh.pages {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/products?"+q.Encode(), nil)
		req.Header.Set("Accept", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		next := jsonField(string(body), "next_cursor")
		if next == "" {
			break
		}
		q.Set("after", next)
	}
	return time.Since(start) / time.Duration(sh.pages), nil
}

// jsonField pulls a string field out of a small JSON answer without a full decode.
func jsonField(body, name string) string {
	i := strings.Index(body, `"`+name+`":"`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(name)+4:]
	return rest[:strings.IndexByte(rest, '"')]
}
