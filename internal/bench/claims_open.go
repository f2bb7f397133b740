package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/config"
	"market/internal/coupon"
)

// claimsOpen: `market bench claims-open` — claims arrive at a fixed rate (a
// Poisson process), as a crowd does, whatever the shop's speed. Each latency
// is measured from the moment its claim was due, not from when a free
// connection sent it, so a server that falls behind is charged for the
// queue it builds (no coordinated omission). Every claim comes from a new
// shopper and the stock is larger than the claims, so every one runs the
// claim script in Redis; anything but "claimed" is an error, and the bench
// exits non-zero on any error or when PostgreSQL does not end up holding
// exactly the claims that were answered "claimed". Its campaigns are deleted
// at the end, from PostgreSQL and Redis.
func claimsOpen(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) (err error) {
	o, err := parseOpenFlags(args)
	if err != nil {
		return err
	}
	pool, rdb, closeStores, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStores()
	if err := requireFsyncAlways(ctx, rdb); err != nil {
		return err
	}

	shoppers := int(slices.Max(o.rates)*(o.duration.Seconds()+o.warmup.Seconds())*1.1) + 100
	fmt.Printf("bench claims-open: rates %v/s, %s measured after %s warm-up each, %d connections, seed %d; creating %d shoppers ...\n",
		o.rates, o.duration, o.warmup, o.conns, o.seed, shoppers)
	open := account.NewSessions(rdb, account.SessionMaxAge)
	people, err := benchShoppers(ctx, pool, open, cfg.SessionSecret, shoppers)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, people.end(ctx, open)) }()
	cookies := people.cookies
	quiet := slog.New(slog.DiscardHandler)
	made := &benchCampaigns{svc: coupon.NewService(pool, rdb, coupon.Options{Log: quiet})}
	// Deleted after the server has stopped and drained its flusher.
	defer func() { err = errors.Join(err, made.cleanup(context.WithoutCancel(ctx), pool, rdb)) }()
	srv, err := startServer("open", "")
	if err != nil {
		return err
	}
	defer srv.stopAndKeepLog("claims-open")
	free := make(chan *claimConn, o.conns)
	for range o.conns {
		free <- &claimConn{addr: srv.addr}
	}
	defer func() {
		close(free)
		for c := range free {
			c.close()
		}
	}()
	return offerRates(ctx, o, pool, rdb, made, free, cookies, srv)
}

// openOptions are claims-open's flags, parsed and checked.
type openOptions struct {
	rates            []float64
	duration, warmup time.Duration
	conns            int
	seed             uint64
	target           time.Duration // the p99 bar
}

func parseOpenFlags(args []string) (openOptions, error) {
	fs := flag.NewFlagSet("bench claims-open", flag.ContinueOnError)
	ratesFlag := fs.String("rates", "2000,4000,6000,8000", "claims per second offered, one run each")
	duration := fs.Duration("duration", 30*time.Second, "measured time per rate, after the warm-up")
	warmup := fs.Duration("warmup", 5*time.Second, "time per rate at the same rate before measuring")
	conns := fs.Int("connections", 1000, "keep-alive connections the crowd shares (a claim due while all are busy waits, and its wait counts)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the arrival times")
	target := fs.Duration("p99", 50*time.Millisecond, "the p99 bar the report judges each rate against")
	if err := fs.Parse(args); err != nil {
		return openOptions{}, err
	}
	o := openOptions{duration: *duration, warmup: *warmup, conns: *conns, seed: *seed, target: *target}
	for _, f := range strings.Split(*ratesFlag, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return openOptions{}, fmt.Errorf("bench claims-open: -rates: %q is not a positive number", f)
		}
		o.rates = append(o.rates, r)
	}
	if o.duration <= 0 || o.warmup < 0 || o.conns < 1 {
		return openOptions{}, errors.New("bench claims-open: -duration and -connections must be positive")
	}
	return o, nil
}

// requireFsyncAlways refuses a Redis that could lose an answered claim:
// "nothing lost" means AOF always, and a faster fsync is another shop.
func requireFsyncAlways(ctx context.Context, rdb redis.UniversalClient) error {
	fsync, err := rdb.ConfigGet(ctx, "appendfsync").Result()
	if err != nil {
		return fmt.Errorf("bench claims-open: read Redis's appendfsync: %w", err)
	}
	if fsync["appendfsync"] != "always" || rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"] != "yes" {
		return fmt.Errorf("bench claims-open: Redis must run with appendonly yes and appendfsync always (it has %v)", fsync)
	}
	return nil
}

// offerRates runs each rate in turn, prints its row and checks that
// PostgreSQL holds its claims, then names the highest rate that met the bar.
func offerRates(ctx context.Context, o openOptions, pool *pgxpool.Pool, rdb redis.UniversalClient, made *benchCampaigns, free chan *claimConn, cookies []*http.Cookie, srv *child) error {
	fmt.Printf("\n%10s %10s %9s %9s %9s %9s %8s %-10s %9s %9s %10s %s\n", "offered/s", "answered/s", "p50", "p99", "p99.9", "max", "errors",
		"p99 < "+o.target.String(), "srv p50", "srv p99", "server RSS", "CPU a claim: server / load generator / Redis")
	best, failed := 0.0, false
	rng := rand.New(rand.NewPCG(o.seed, 0xc1a1))
	for _, rate := range o.rates {
		r, err := openRun(ctx, made, free, cookies, rate, o.warmup, o.duration, rng, srv, rdb)
		if err != nil {
			return err
		}
		ok := r.errors == 0 && r.p99 < o.target
		fmt.Printf("%10.0f %10.0f %9s %9s %9s %9s %8d %-10v %9s %9s %9dM %s\n", rate, r.answered, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
			r.p999.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond), r.errors, ok,
			r.server.quantile(r.serverBefore, 0.5), r.server.quantile(r.serverBefore, 0.99), srv.peakRSS()>>20, r.cpu)
		for _, e := range r.firstErrors {
			fmt.Printf("           error: %s\n", e)
		}
		if ok && rate > best {
			best = rate
		}
		failed = failed || r.errors > 0
		if err := checkPersisted(ctx, pool, rdb, r); err != nil {
			return err
		}
	}
	fmt.Printf("highest rate offered with p99 under %s and no error: %.0f claims/s (load generator on the same 2 cores)\n", o.target, best)
	if failed {
		return errors.New("bench claims-open: some claims failed (see the errors above)")
	}
	return nil
}

// openResult is one rate's run.
type openResult struct {
	campaign            int64
	claimed             int64 // answered "claimed", warm-up included
	answered            float64
	p50, p99, p999, max time.Duration
	errors              int64
	firstErrors         []string
	// The server's histogram of the claim route at the end of the warm-up
	// and at the end: the measured window as the server saw it.
	serverBefore, server serverBuckets
	cpu                  cpuShare // over the measured window, a claim answered in it
}

// cpuShare is the CPU of each process of a run, divided among its requests.
type cpuShare struct{ server, load, redis time.Duration }

func (c cpuShare) String() string {
	redis := "n/a" // a Redis Cluster does not say (redisCPU)
	if c.redis > 0 {
		redis = fmt.Sprintf("%.0f", us(c.redis))
	}
	return fmt.Sprintf("%.0f / %.0f / %s µs", us(c.server), us(c.load), redis)
}

// openRun offers claims at rate for warmup+duration on a campaign of its own
// and measures the claims due after the warm-up.
func openRun(ctx context.Context, made *benchCampaigns, free chan *claimConn, cookies []*http.Cookie, rate float64, warmup, duration time.Duration, rng *rand.Rand, srv *child, rdb redis.UniversalClient) (openResult, error) {
	n := int(rate*(warmup+duration).Seconds()) + 1
	if n > len(cookies) {
		return openResult{}, fmt.Errorf("bench claims-open: %d claims need %d shoppers, have %d", n, n, len(cookies))
	}
	id, err := made.open(ctx, fmt.Sprintf("Open loop %.0f/s", rate), int64(n)+1000)
	if err != nil {
		return openResult{}, err
	}
	due := poissonSchedule(rng, rate, n)
	tally := &openTally{measureAt: warmup, lat: make([]time.Duration, 0, n)}
	var wg sync.WaitGroup
	var before serverBuckets
	var cpu0 cpuShare
	measuring := false
	start := time.Now()
	for i, d := range due {
		if wait := time.Until(start.Add(d)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		if !measuring && d >= warmup {
			if before, err = scrapeClaimLatency(srv.addr); err != nil {
				return openResult{}, err
			}
			cpu0 = cpuShare{srv.cpuTime(), selfCPU(), redisCPU(ctx, rdb)}
			measuring = true
		}
		wg.Go(func() {
			scheduled := start.Add(d)
			c := <-free
			status, result, err := c.claim(id, cookies[i])
			free <- c
			tally.add(d, time.Since(scheduled), status, result, err)
		})
	}
	wg.Wait()
	after, err := scrapeClaimLatency(srv.addr)
	if err != nil {
		return openResult{}, err
	}
	r := tally.result(id, time.Since(start)-warmup)
	r.serverBefore, r.server = before, after
	if measuring {
		n := time.Duration(max(1, tally.answered.Load()))
		r.cpu = cpuShare{(srv.cpuTime() - cpu0.server) / n, (selfCPU() - cpu0.load) / n, (redisCPU(ctx, rdb) - cpu0.redis) / n}
	}
	return r, ctx.Err()
}

// poissonSchedule is when each of n claims is due, from the start: exponential
// gaps, a Poisson process. Drawn up front, so drawing costs nothing while
// claims are due.
func poissonSchedule(rng *rand.Rand, rate float64, n int) []time.Duration {
	due := make([]time.Duration, n)
	var t time.Duration
	for i := range due {
		t += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		due[i] = t
	}
	return due
}

// openTally gathers one run's answers from the claims' goroutines.
type openTally struct {
	measureAt               time.Duration // claims due before it are the warm-up's
	claimed, errs, answered atomic.Int64
	mu                      sync.Mutex
	lat                     []time.Duration
	firstErrors             []string
}

// add counts the answer to the claim due at d, which took took from then.
func (t *openTally) add(d, took time.Duration, status int, result string, err error) {
	if d >= t.measureAt {
		t.answered.Add(1)
	}
	if err == nil && status == http.StatusOK && result == "claimed" {
		t.claimed.Add(1)
		if d >= t.measureAt {
			t.mu.Lock()
			t.lat = append(t.lat, took)
			t.mu.Unlock()
		}
		return
	}
	t.errs.Add(1)
	t.mu.Lock()
	if len(t.firstErrors) < 3 {
		t.firstErrors = append(t.firstErrors, fmt.Sprintf("status %d result %q err %v", status, result, err))
	}
	t.mu.Unlock()
}

// result sums the run up; elapsed is its measured time, after the warm-up.
func (t *openTally) result(campaign int64, elapsed time.Duration) openResult {
	res := openResult{campaign: campaign, claimed: t.claimed.Load(), errors: t.errs.Load(), firstErrors: t.firstErrors}
	res.answered = float64(t.answered.Load()) / elapsed.Seconds()
	slices.Sort(t.lat)
	if len(t.lat) > 0 {
		res.p50, res.p99, res.p999, res.max = t.lat[len(t.lat)/2], t.lat[len(t.lat)*99/100], t.lat[len(t.lat)*999/1000], t.lat[len(t.lat)-1]
	}
	return res
}

// checkPersisted waits until the flusher (in the server) has written every
// claim Redis holds, then requires PostgreSQL's coupons to be exactly the
// claims answered "claimed".
func checkPersisted(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, r openResult) error {
	inRedis, err := rdb.HLen(ctx, fmt.Sprintf("coupon:{%d}:claimed", r.campaign)).Result()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var rows int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM coupons WHERE campaign_id = $1", r.campaign).Scan(&rows); err != nil {
			return err
		}
		if rows == inRedis {
			if rows != r.claimed {
				return fmt.Errorf("bench claims-open: campaign %d: PostgreSQL holds %d coupons, %d claims were answered \"claimed\"", r.campaign, rows, r.claimed)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench claims-open: campaign %d: PostgreSQL holds %d of Redis's %d claims after a minute", r.campaign, rows, inRedis)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
