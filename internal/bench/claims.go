package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/config"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/redisdb"
	"market/internal/reqctx"
	"market/web"
)

// claims: `market bench claims` — many shoppers claim through the shop's
// real HTTP endpoint; then, at the service level (no HTTP), the shop's coupon
// service and the PostgreSQL row-lock baseline side by side, and the bare
// claim script called from a go-redis loop (the Redis ceiling). Every run is
// checked: a failed request, a wrong answer, an over-issue or a PostgreSQL
// that does not hold exactly the coupons answered "claimed" fails the bench.
// The campaigns it made are deleted from PostgreSQL and Redis at the end.
func claims(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) (err error) {
	fs := flag.NewFlagSet("bench claims", flag.ContinueOnError)
	shoppers := fs.Int("shoppers", 20000, "distinct shoppers, one claim each")
	stock := fs.Int64("stock", 10000, "coupons in each campaign")
	concurrency := fs.Int("concurrency", 500, "shoppers claiming at the same time")
	serviceLevel := fs.Bool("service", true, "also measure at the service level: the shop's service, the row-lock baseline, the bare script")
	baseline := fs.Int("baseline-shoppers", 2000, "shoppers in the row-lock baseline (it is slow; claims/s is compared)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the server process during the HTTP storm to this file")
	stripes := fs.Int("stripes", 1, "stripes of each campaign the shop claims on (docs/COUPONS.md); the bare script always claims on one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shoppers < 1 || *stock < 1 || *concurrency < 1 || *baseline < 1 {
		return errors.New("bench claims: -shoppers, -stock, -concurrency and -baseline-shoppers must be positive")
	}
	if *stripes < 1 || *stripes > coupon.MaxStripes {
		return fmt.Errorf("bench claims: -stripes is 1 to %d", coupon.MaxStripes)
	}
	pool, rdb, closeStores, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStores()
	printClaimsSetup(ctx, pool, rdb, *shoppers, *stock, *concurrency)
	fmt.Printf("bench claims: campaigns of %d stripes\n", *stripes)

	open := account.NewSessions(rdb, account.SessionMaxAge)
	people, err := benchShoppers(ctx, pool, open, cfg.SessionSecret, *shoppers)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, people.end(ctx, open)) }()
	users, cookies := people.ids, people.cookies
	svc := coupon.NewService(pool, rdb, coupon.Options{Log: slog.New(slog.DiscardHandler), Flush: coupon.FlushOptions{
		Batch: cfg.FlushBatch, Interval: cfg.FlushInterval, ReclaimIdle: cfg.FlushReclaimIdle},
		Wait: redisdb.Wait{Replicas: cfg.RedisWaitReplicas, Timeout: cfg.RedisWaitTimeout}})
	env := &claimsEnv{pool: pool, rdb: rdb, made: &benchCampaigns{svc: svc, stripes: *stripes}, concurrency: *concurrency}
	defer func() { err = errors.Join(err, env.made.cleanup(context.WithoutCancel(ctx), pool, rdb)) }()

	shop, err := httpStorm(ctx, env, users, cookies, *stock, *cpuprofile)
	if err != nil {
		return err
	}
	storms := []storm{shop}
	if *serviceLevel {
		more, err := serviceStorms(ctx, env, cfg, svc, users, *stock, *baseline)
		if err != nil {
			return err
		}
		storms = append(storms, more...)
	}
	printStorms(storms, *concurrency)
	failed := 0
	for _, s := range storms {
		for _, p := range s.problems {
			fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", s.name, p)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("bench claims: %d checks failed (the FAIL lines above)", failed)
	}
	return nil
}

// claimsEnv is what every storm of one bench run shares.
type claimsEnv struct {
	pool        *pgxpool.Pool
	rdb         redis.UniversalClient
	made        *benchCampaigns
	concurrency int
}

func printClaimsSetup(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, shoppers int, stock int64, concurrency int) {
	fsync := "cluster"
	if v, err := rdb.ConfigGet(ctx, "appendfsync").Result(); err == nil {
		fsync = "appendonly " + rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"] + ", appendfsync " + v["appendfsync"]
	}
	redisPool := 0
	if c, ok := rdb.(*redis.Client); ok {
		redisPool = c.Options().PoolSize
	}
	fmt.Printf("bench claims: %d shoppers, %d coupons, concurrency %d, Redis %s, %d Redis and %d PostgreSQL connections\n",
		shoppers, stock, concurrency, fsync, redisPool, pool.Config().MaxConns)
}

// serviceStorms runs the service level: the shop's coupon service (its
// claims persisted by a flusher in this process, as `serve` runs one), the
// row-lock baseline on a pool of the size `serve` uses, and the bare script.
func serviceStorms(ctx context.Context, env *claimsEnv, cfg config.Config, svc *coupon.Service, users []int64, stock int64, baseline int) ([]storm, error) {
	flushCtx, stopFlusher := context.WithCancel(context.WithoutCancel(ctx))
	var flusher sync.WaitGroup
	flusher.Go(func() { svc.RunFlusher(flushCtx) })
	defer func() { stopFlusher(); flusher.Wait() }()

	shop, err := serviceStorm(ctx, env, "service: shop", svc, users, stock, true)
	if err != nil {
		return nil, err
	}
	basePool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 0, cfg.RequestBudget())
	if err != nil {
		return nil, err
	}
	defer basePool.Close()
	baseUsers, baseStock := users, stock
	if baseline < len(users) {
		// Same stock-to-shopper proportion, fewer shoppers.
		baseUsers, baseStock = users[:baseline], max(1, stock*int64(baseline)/int64(len(users)))
	}
	base, err := serviceStorm(ctx, env, "service: row lock", &rowLock{pool: basePool}, baseUsers, baseStock, false)
	if err != nil {
		return nil, err
	}
	bare, err := bareScriptStorm(ctx, env, users, stock)
	if err != nil {
		return nil, err
	}
	return []storm{shop, base, bare}, nil
}

func printStorms(storms []storm, concurrency int) {
	fmt.Printf("\n%-18s %10s %9s %9s %8s %8s %7s %6s %9s %9s %10s\n", "run", "claims/s", "p50", "p99",
		"claimed", "sold out", "failed", "wrong", "pg rows", "pg after", "server RSS")
	for _, s := range storms {
		rss := "-"
		if s.rssMB > 0 {
			rss = strconv.FormatInt(s.rssMB, 10) + "M"
		}
		fmt.Printf("%-18s %10.0f %9s %9s %8d %8d %7d %6d %9d %9s %10s\n", s.name, s.perSecond, s.p50.Round(10*time.Microsecond),
			s.p99.Round(10*time.Microsecond), s.claimed, s.soldOut, s.failed, s.wrong, s.pgRows, s.catchUp.Round(time.Millisecond), rss)
	}
	shop := storms[0]
	if n := float64(len(shop.lat)); n > 0 {
		fmt.Printf("%s CPU per request: server %.0f µs, load generator %.0f µs, Redis %.0f µs (two cores give %.0f µs per request at this rate)\n",
			shop.name, us(shop.serverCPU)/n, us(shop.clientCPU)/n, us(shop.redisCPU)/n, 2e6/shop.perSecond)
	}
	if len(storms) == 4 {
		svc, base, bare := storms[1], storms[2], storms[3]
		fmt.Printf("service level, shop / row-lock baseline: %.1fx\n", svc.perSecond/base.perSecond)
		fmt.Printf("bare script (go-redis, one EVALSHA per call, concurrency %d): %.0f calls/s; shop over HTTP %.0f%% of it, shop's service %.0f%% of it\n",
			concurrency, bare.perSecond, 100*shop.perSecond/bare.perSecond, 100*svc.perSecond/bare.perSecond)
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// crowd is n shoppers of the claim benches, each with a session of this run.
type crowd struct {
	ids     []int64
	cookies []*http.Cookie
	sids    []string
}

// benchShoppers returns the claim benches' first n shoppers
// (bench-claims-<i>@bench.invalid, no usable password), creating those no run
// before made, and mints their session cookies. The same shoppers serve every
// run (each run claims on campaigns of its own), so benches leave the shop no
// bigger than their largest crowd. end ends the sessions.
func benchShoppers(ctx context.Context, pool *pgxpool.Pool, open *account.Sessions, secret string, n int) (crowd, error) {
	if _, err := pool.Exec(ctx, `INSERT INTO users (email, password_hash, name)
		SELECT 'bench-claims-' || g || '@bench.invalid', '!', 'Bench ' || g FROM generate_series(1, $1::int) g
		ON CONFLICT (email) DO NOTHING`, n); err != nil {
		return crowd{}, err
	}
	rows, err := pool.Query(ctx, `SELECT u.id FROM generate_series(1, $1::int) g
		JOIN users u ON u.email = 'bench-claims-' || g || '@bench.invalid' ORDER BY g`, n)
	if err != nil {
		return crowd{}, err
	}
	c := crowd{}
	if c.ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return crowd{}, err
	}
	c.cookies, c.sids = make([]*http.Cookie, len(c.ids)), make([]string, len(c.ids))
	for i, id := range c.ids {
		if c.cookies[i], c.sids[i], err = web.SessionCookie(secret, open, reqctx.User{ID: id, Name: "Bench"}); err != nil {
			return crowd{}, errors.Join(err, c.end(ctx, open))
		}
	}
	return c, nil
}

// end ends the crowd's sessions, so that a run leaves none behind in Redis.
func (c crowd) end(ctx context.Context, open *account.Sessions) error {
	ctx = context.WithoutCancel(ctx)
	const enders = 16 // requests in flight: a few hundred thousand take seconds
	var wg sync.WaitGroup
	errs := make([]error, enders)
	for w := range errs {
		wg.Go(func() {
			for i := w; i < len(c.sids); i += len(errs) {
				if c.sids[i] != "" {
					errs[w] = errors.Join(errs[w], open.End(ctx, c.ids[i], c.sids[i]))
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// benchCampaigns makes the bench's campaigns, active, and remembers them so
// that cleanup can delete them: a bench leaves the shop's consistency report
// as it found it.
type benchCampaigns struct {
	svc     *coupon.Service
	stripes int // of the campaigns open makes; 0 is 1
	mu      sync.Mutex
	ids     []int64
	k       map[int64]int // stripes by campaign
}

func (b *benchCampaigns) open(ctx context.Context, name string, stock int64) (int64, error) {
	return b.openStriped(ctx, name, stock, max(b.stripes, 1))
}

func (b *benchCampaigns) openStriped(ctx context.Context, name string, stock int64, stripes int) (int64, error) {
	c, err := b.svc.Create(ctx, coupon.Input{Name: name, DiscountType: coupon.DiscountFixed, DiscountValue: 1000, TotalQuantity: stock,
		StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour), ValidDays: 7, Stripes: int64(stripes)})
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.ids = append(b.ids, c.ID)
	if b.k == nil {
		b.k = map[int64]int{}
	}
	b.k[c.ID] = stripes
	b.mu.Unlock()
	_, err = b.svc.Transition(ctx, c.ID, "activate")
	return c.ID, err
}

// cleanup waits until no claim of the bench's campaigns is left in a stream
// (a flusher has persisted it), then deletes them: PostgreSQL first, so that
// no flusher or background sync of a running shop turns to them again, then
// their Redis keys.
func (b *benchCampaigns) cleanup(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient) error {
	if len(b.ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, id := range b.ids {
		for {
			n, err := coupon.RedisBacklog(ctx, rdb, id, b.stripesOf(id))
			if err != nil {
				return fmt.Errorf("bench cleanup: campaign %d: %w", id, err)
			}
			if n == 0 {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("bench cleanup: campaign %d still has %d claims to persist; campaigns %v left in place", id, n, b.ids)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM coupons WHERE campaign_id = ANY($1)`, `DELETE FROM coupon_dead_letters WHERE campaign_id = ANY($1)`,
			`DELETE FROM campaign_events WHERE campaign_id = ANY($1)`, `DELETE FROM campaigns WHERE id = ANY($1)`} {
			if _, err := tx.Exec(ctx, q, b.ids); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bench cleanup: delete campaigns %v: %w", b.ids, err)
	}
	for _, id := range b.ids {
		for _, keys := range coupon.StripeKeys(id, b.stripesOf(id)) {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("bench cleanup: campaign %d's Redis keys: %w", id, err)
			}
		}
	}
	return nil
}

func (b *benchCampaigns) stripesOf(id int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.k[id], 1)
}

// startCPUProfile profiles this process (server and load generator both)
// until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
