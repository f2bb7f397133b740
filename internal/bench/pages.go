package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/audit"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/export"
	"market/internal/order"
	"market/internal/redisdb"
	"market/internal/replica"
	"market/internal/search"
	"market/web"
)

// The page bars (docs/PERFORMANCE.md, At scale): p95 at 2 in flight.
const (
	pagesBarAdmin   = 50 * time.Millisecond
	pagesBarShopper = 20 * time.Millisecond
)

// pagesOptions are `market bench pages` flags.
type pagesOptions struct {
	seed     uint64
	each     int // timed requests per page kind
	inflight int
	warmup   int // untimed requests first, all kinds mixed
	shoppers int // shoppers logged in for the shopper pages
}

func parsePagesFlags(args []string) (pagesOptions, error) {
	fs := flag.NewFlagSet("bench pages", flag.ContinueOnError)
	o := pagesOptions{}
	fs.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()%1_000_000), "random seed for the drawn pages (printed; replay with it)")
	fs.IntVar(&o.each, "each", 300, "timed requests per page kind")
	fs.IntVar(&o.inflight, "inflight", 2, "requests in flight")
	fs.IntVar(&o.warmup, "warmup", 200, "untimed requests before the timed ones")
	fs.IntVar(&o.shoppers, "shoppers", 40, "shoppers logged in for the shopper pages (half of them among those with the most orders)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.each < 1 || o.inflight < 1 || o.inflight > 64 || o.warmup < 0 || o.shoppers < 2 {
		return o, errors.New("-each ≥ 1, -inflight 1–64, -warmup ≥ 0, -shoppers ≥ 2")
	}
	return o, nil
}

// pagesBench: `market bench pages [-seed N] [-each N] [-inflight N]`.
//
// It draws admin and shopper page requests at random (seeded) from the
// database's own orders, shoppers and audit rows, sends them as a browser
// would (HTML, with the admin's or the shopper's session cookie) through
// the shop's handler on a loopback listener, closed loop at -inflight, and
// reports p50/p95/p99 per page kind against the bars. Afterwards it asks
// for each drawn page again as JSON and checks the answer against the
// bench's own SQL (pages_check.go). Any non-200, transport error or wrong
// answer fails it.
func pagesBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	o, err := parsePagesFlags(args)
	if err != nil {
		return err
	}
	tools, err := db.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer tools.Close()
	if err := db.Migrate(ctx, tools, log); err != nil {
		return err
	}
	fmt.Printf("pages bench: seed %d (replay with -seed %d); %d cores, shared with the load generator; load average %s\n",
		o.seed, o.seed, runtime.NumCPU(), loadAverage())
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 0, cfg.RequestBudget())
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		return err
	}
	defer rdb.Close()
	shop, closeShop, err := newPagesShop(ctx, cfg, pool, rdb, o.inflight)
	if err != nil {
		return err
	}
	defer closeShop()

	rng := rand.New(rand.NewPCG(o.seed, 0x9a9e5))
	plan, err := drawPages(ctx, tools, shop, rng, o, cfg)
	if err != nil {
		return err
	}
	res := runPages(ctx, shop, plan, o)
	faults := res.faults
	faults = append(faults, checkPages(ctx, tools, shop, plan)...)
	reportPages(res, o)
	for _, f := range faults[:min(len(faults), 20)] {
		fmt.Println("FAIL", f)
	}
	if len(faults) > 0 {
		return fmt.Errorf("pages bench: %d failures (first ones above)", len(faults))
	}
	fmt.Printf("every answer 200 and right: %d timed requests, %d checked as JSON\n", res.count, len(plan.requests))
	return nil
}

// pagesShop is the shop's handler, as serve builds it, on a loopback
// listener, and a client for it.
type pagesShop struct {
	base     string
	client   *http.Client
	accounts *account.Service
}

func newPagesShop(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, rdb redis.UniversalClient, inflight int) (*pagesShop, func(), error) {
	accounts := account.NewService(pool, rdb, account.Limits{PerEmail: cfg.LoginFailuresPerEmail, PerAddr: cfg.LoginFailuresPerAddr, Window: cfg.LoginWindow,
		SignupPerAddr: cfg.SignupLimitPerAddr, Hashes: cfg.PasswordHashConcurrency})
	if _, err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
		return nil, nil, err
	}
	coupons := coupon.NewService(pool, rdb, coupon.Options{}) // pages only read; no flusher needed
	orders, err := order.NewService(pool, order.Options{Locking: cfg.OrderLocking, Coupons: coupons, TopUpDailyLimit: cfg.TopUpDailyLimit})
	if err != nil {
		return nil, nil, err
	}
	handler := web.New(web.Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Redis: rdb,
		Accounts: accounts, Catalog: catalog.NewService(replica.PrimaryOnly(pool)), Search: search.NewService(replica.PrimaryOnly(pool)),
		Coupons: coupons, Orders: orders, Audit: audit.NewService(pool), Exports: export.NewService(pool)})
	srv := httptest.NewServer(handler)
	transport := &http.Transport{MaxIdleConns: 2 * inflight, MaxIdleConnsPerHost: 2 * inflight}
	shop := &pagesShop{base: srv.URL, accounts: accounts, client: &http.Client{Timeout: time.Minute, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return shop, func() { transport.CloseIdleConnections(); srv.Close() }, nil
}

// login signs in over POST /login and returns the session cookie.
func (s *pagesShop) login(ctx context.Context, email, password string) (*http.Cookie, error) {
	form := url.Values{"email": {email}, "password": {password}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/login", strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login %s: status %d: %.200s", email, res.StatusCode, body)
	}
	for _, c := range res.Cookies() {
		if c.Value != "" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("login %s: no session cookie", email)
}

// get fetches path as the cookie's owner, as HTML or JSON, and returns the
// status, the body and the time to the last byte.
func (s *pagesShop) get(ctx context.Context, path string, c *http.Cookie, asJSON bool) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	if asJSON {
		req.Header.Set("Accept", "application/json")
	} else {
		req.Header.Set("Accept", "text/html")
	}
	req.AddCookie(c)
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, body, time.Since(start), err
}

// pagesResult is the timed run: latencies per kind, the failures seen.
type pagesResult struct {
	took   map[string][]time.Duration
	faults []string
	count  int
	wall   time.Duration
}

// runPages sends the warm-up, then every timed request, from o.inflight
// workers taking the next request of one shuffled list.
func runPages(ctx context.Context, shop *pagesShop, plan *pagesPlan, o pagesOptions) pagesResult {
	res := pagesResult{took: map[string][]time.Duration{}}
	var mu sync.Mutex
	run := func(list []*pageRequest, record bool) {
		next := make(chan *pageRequest)
		var wg sync.WaitGroup
		for range o.inflight {
			wg.Go(func() {
				for r := range next {
					status, body, took, err := shop.get(ctx, r.path, r.cookie, false)
					fault := htmlFault(r, status, body, err)
					mu.Lock()
					if record {
						res.took[r.kind] = append(res.took[r.kind], took)
						res.count++
					}
					if fault != "" {
						res.faults = append(res.faults, fault)
					}
					mu.Unlock()
				}
			})
		}
		for _, r := range list {
			next <- r
		}
		close(next)
		wg.Wait()
	}
	run(plan.warmup, false)
	start := time.Now()
	run(plan.timed, true)
	res.wall = time.Since(start)
	return res
}

// htmlFault names what is wrong with a page answer, or "".
func htmlFault(r *pageRequest, status int, body []byte, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("%s %s: transport: %v", r.kind, r.path, err)
	case status != http.StatusOK:
		return fmt.Sprintf("%s %s: status %d: %.200s", r.kind, r.path, status, body)
	case !strings.Contains(string(body), r.marker):
		return fmt.Sprintf("%s %s: the page lacks %q", r.kind, r.path, r.marker)
	}
	return ""
}

func reportPages(res pagesResult, o pagesOptions) {
	fmt.Printf("\n%d timed requests at %d in flight in %s (%.0f pages/s); load average now %s\n",
		res.count, o.inflight, res.wall.Round(time.Millisecond), float64(res.count)/res.wall.Seconds(), loadAverage())
	fmt.Printf("%-34s %6s %8s %8s %8s %8s  %s\n", "page", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "bar (p95)")
	for _, k := range pageKinds {
		ds := res.took[k.name]
		if len(ds) == 0 {
			continue
		}
		bar, verdict := pagesBarShopper, "met"
		if k.admin {
			bar = pagesBarAdmin
		}
		if pct(ds, 95) >= bar {
			verdict = "MISSED"
		}
		fmt.Printf("%-34s %6d %8.1f %8.1f %8.1f %8.1f  < %.0f ms: %s\n", k.name, len(ds), ms(pct(ds, 50)), ms(pct(ds, 95)), ms(pct(ds, 99)), ms(pct(ds, 100)), ms(bar), verdict)
	}
}
