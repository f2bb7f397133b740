// Command market is Opener Market: one binary that serves the shop, migrates
// its database, seeds demo data, exports CSV and runs benchmarks (usage below,
// and `market help`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/audit"
	"market/internal/bench"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/export"
	"market/internal/order"
	"market/internal/redisdb"
	"market/internal/replica"
	"market/internal/room"
	"market/internal/search"
	"market/internal/seed"
	"market/web"
)

const usage = `usage:
  market [serve]                    serve HTTP (default)
  market migrate up|down|status     apply or inspect the embedded migrations
  market seed [flags]               seed a demo shop (market seed -h for its flags)
  market export orders|claims|ledger [flags]   CSV to standard output
  market bench NAME [flags]         load generators with side-by-side baselines (market bench for the names)
  market reconcile                  run the consistency report once; exit 1 when red
Configuration is read from the environment (README.md, "Configuration").
`

func main() {
	err := run(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp): // the flags were printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "market:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && slices.Contains([]string{"help", "-h", "-help", "--help"}, args[0]) {
		fmt.Print(usage) // before the configuration, which may be what the reader is missing
		return nil
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	// The shop's zone is the process's zone, set once before anything reads
	// it: pages, JSON, form parsing and PostgreSQL's timestamps all follow
	// it (docs/HTTP.md "Money and time").
	time.Local = cfg.ShopZone
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, log, cfg)
	case "migrate":
		return migrate(ctx, log, cfg, args)
	case "seed":
		return seedCmd(ctx, log, cfg, args)
	case "bench":
		return bench.Run(ctx, log, cfg, args)
	case "reconcile":
		return reconcile(ctx, log, cfg)
	case "export":
		pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 2, cfg.RequestBudget())
		if err != nil {
			return err
		}
		defer pool.Close()
		return export.Command(ctx, pool, args, os.Stdout, os.Stderr)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// openStores connects PostgreSQL through a pool under the admin budget,
// migrated on it, and Redis; close releases both.
func openStores(ctx context.Context, log *slog.Logger, cfg config.Config, maxConns int32) (*pgxpool.Pool, redis.UniversalClient, func(), error) {
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, maxConns, cfg.AdminBudget())
	if err != nil {
		return nil, nil, nil, err
	}
	if err := db.Migrate(ctx, pool, log); err != nil {
		pool.Close()
		return nil, nil, nil, fmt.Errorf("migrate: %w", err)
	}
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		pool.Close()
		return nil, nil, nil, err
	}
	return pool, rdb, func() { rdb.Close(); pool.Close() }, nil
}

func serve(ctx context.Context, log *slog.Logger, cfg config.Config) error {
	// Three connections: the scheduled consistency run's lock, its queries,
	// and an admin's run or page beside it.
	admin, rdb, closeStores, err := openStores(ctx, log, cfg, 3)
	if err != nil {
		return err
	}
	defer closeStores()
	// Requests get a pool of their own under the short budget, so that one
	// slow query cannot keep one of its few connections for long.
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 0, cfg.RequestBudget())
	if err != nil {
		return err
	}
	defer pool.Close()

	accounts := account.NewService(pool, rdb, account.Limits{PerEmail: cfg.LoginFailuresPerEmail, PerAddr: cfg.LoginFailuresPerAddr, Window: cfg.LoginWindow,
		SignupPerAddr: cfg.SignupLimitPerAddr, Hashes: cfg.PasswordHashConcurrency})
	if _, err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
		return fmt.Errorf("admin bootstrap: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reads, closeReplica, err := openReads(ctx, log, cfg, pool, reg)
	if err != nil {
		return err
	}
	defer closeReplica()
	coupons := startCoupons(ctx, log, cfg, pool, rdb, reg)
	// Coupons claimed a second ago are persisted before checkout needs them.
	orders, err := order.NewService(pool, order.Options{Locking: cfg.OrderLocking, Coupons: coupons, TopUpDailyLimit: cfg.TopUpDailyLimit})
	if err != nil {
		return err
	}
	checks := consistency.NewService(admin, log, coupons)

	defer startBackground(ctx, log, cfg, coupons, checks, reads)()

	waitingRoom, err := room.New(rdb, room.Options{Rate: cfg.RoomAdmitPerSecond, Burst: cfg.RoomBurst, Window: cfg.RoomAdmitWindow,
		MaxStreams: cfg.RoomMaxStreams, Key: room.KeyFrom(cfg.SessionSecret), Metrics: reg})
	if err != nil {
		return err
	}
	handler := web.New(web.Deps{
		Log: log, Config: cfg, Pool: pool, Reads: reads, Redis: rdb, Metrics: reg,
		Accounts:    accounts,
		Catalog:     catalog.NewService(reads),
		Search:      search.NewService(reads),
		Consistency: checks,
		Coupons:     coupons,
		Room:        waitingRoom,
		Orders:      orders,
		Exports:     export.NewService(pool),
		Audit:       audit.NewService(pool),
	})

	// Shutdown waits for requests in flight; live count streams never end by
	// themselves, so they are ended as shutdown begins.
	onShutdown := []func(){coupons.EndWatches}
	if waitingRoom != nil {
		onShutdown = append(onShutdown, waitingRoom.EndStreams)
	}
	return listenUntilDone(ctx, log, cfg, handler, reg, onShutdown)
}

// startBackground starts the shop's background loops and returns what
// stops them. They outlive the HTTP server by a little: serve defers the
// stop, which runs after Shutdown, so they stop after the last request is
// answered, and the flusher drains what it holds before serve returns.
func startBackground(ctx context.Context, log *slog.Logger, cfg config.Config, coupons *coupon.Service, checks *consistency.Service, reads *replica.Reads) (stop func()) {
	var background sync.WaitGroup
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	background.Go(func() { coupons.RunFlusher(bgCtx) })
	background.Go(func() { coupons.RunSync(bgCtx) })
	background.Go(func() { checks.Schedule(bgCtx, cfg.ConsistencyInterval) })
	background.Go(func() { coupons.RunAutoEnd(bgCtx, coupon.AutoEndEvery) })
	background.Go(func() { reads.Run(bgCtx) })
	return func() {
		cancel()
		background.Wait()
		log.Info("background work stopped; coupon flusher drained")
	}
}

// startCoupons makes the coupon service and syncs Redis from PostgreSQL
// before serving: Redis may have restarted empty or behind, or missed a
// change, and every campaign past draft that differs is synced. A campaign
// it cannot sync now (Redis down, another instance holding it) is left to
// the background sync, which retries every second.
func startCoupons(ctx context.Context, log *slog.Logger, cfg config.Config, pool *pgxpool.Pool, rdb redis.UniversalClient, reg *prometheus.Registry) *coupon.Service {
	coupons := coupon.NewService(pool, rdb, coupon.Options{Log: log, Metrics: coupon.NewMetrics(reg), Flush: coupon.FlushOptions{
		Batch: cfg.FlushBatch, Interval: cfg.FlushInterval, ReclaimIdle: cfg.FlushReclaimIdle,
	}, Sync: coupon.SyncOptions{Interval: cfg.CouponSyncInterval}, Live: coupon.LiveOptions{Max: cfg.LiveMaxStreams},
		Wait: redisdb.Wait{Replicas: cfg.RedisWaitReplicas, Timeout: cfg.RedisWaitTimeout}})
	if n, err := coupons.SyncAll(ctx); err != nil {
		log.Warn("coupon campaigns not all synced to Redis at start; the background sync goes on", "err", err)
	} else if n > 0 {
		log.Info("coupon campaigns synced to Redis", "campaigns", n)
	}
	return coupons
}

// listenUntilDone serves the shop and its metrics until ctx ends, then
// finishes the requests in flight within the grace period.
func listenUntilDone(ctx context.Context, log *slog.Logger, cfg config.Config, handler http.Handler, reg *prometheus.Registry, onShutdown []func()) error {
	srv := &http.Server{Addr: cfg.Addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	for _, f := range onShutdown {
		srv.RegisterOnShutdown(f)
	}
	metricsSrv := &http.Server{Addr: cfg.MetricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- listen(srv) }()
	go func() { errc <- listen(metricsSrv) }()
	log.Info("serving", "addr", "http://"+cfg.Addr, "metrics", "http://"+cfg.MetricsAddr+"/metrics", "production", cfg.Production)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "grace", cfg.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	return errors.Join(srv.Shutdown(shutdownCtx), metricsSrv.Shutdown(shutdownCtx))
}

// openReads gives the catalogue and search reads the replica of
// DATABASE_READ_URL, under the requests' budget, or the primary alone when
// it is not set (docs/HTTP.md, "Where reads go").
func openReads(ctx context.Context, log *slog.Logger, cfg config.Config, primary *pgxpool.Pool, reg prometheus.Registerer) (*replica.Reads, func(), error) {
	if cfg.DatabaseReadURL == "" {
		return replica.PrimaryOnly(primary), func() {}, nil
	}
	pool, err := db.OpenReplica(ctx, cfg.DatabaseReadURL, cfg.RequestBudget())
	if err != nil {
		return nil, nil, err
	}
	log.Info("catalogue and search reads go to the read replica when it is healthy", "max_lag", cfg.ReplicaMaxLag, "read_your_writes_wait", cfg.ReadYourWritesWait)
	reads := replica.New(primary, pool, replica.Options{Wait: cfg.ReadYourWritesWait, MaxLag: cfg.ReplicaMaxLag,
		Probe: cfg.ReplicaProbeInterval, Log: log}, replica.NewMetrics(reg))
	reads.Probe(ctx)
	return reads, pool.Close, nil
}

func listen(srv *http.Server) error {
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	return nil
}

func migrate(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: market migrate up|down|status")
	}
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 2, cfg.AdminBudget())
	if err != nil {
		return err
	}
	defer pool.Close()
	p, err := db.Migrator(pool)
	if err != nil {
		return err
	}
	switch args[0] {
	case "up":
		return db.Migrate(ctx, pool, log)
	case "down":
		r, err := p.Down(ctx)
		if r != nil {
			log.Info("rolled back", "version", r.Source.Version, "file", r.Source.Path)
		}
		return err
	case "status":
		statuses, err := p.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range statuses {
			applied := "pending"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.Local().Format(time.DateTime)
			}
			fmt.Printf("%5d  %-40s %s\n", s.Source.Version, s.Source.Path, applied)
		}
		return nil
	default:
		return fmt.Errorf("unknown migrate command %q (up, down, status)", args[0])
	}
}

func seedCmd(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	products := fs.Int("products", 300, "products to generate")
	shoppers := fs.Int("shoppers", 0, "shoppers to generate besides the demo shopper")
	orders := fs.Int("orders", 0, "past orders to generate over the shoppers (docs/PERFORMANCE.md, At scale)")
	ifEmpty := fs.Bool("if-empty", false, "seed the demo shop only when the database has no products")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *products < 0 || *products > 20_000_000 || *shoppers < 0 || *shoppers > 10_000_000 || *orders < 0 || *orders > 20_000_000 {
		return errors.New("-products must be 0–20,000,000, -shoppers 0–10,000,000 and -orders 0–20,000,000")
	}
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 4, cfg.AdminBudget())
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, log); err != nil {
		return err
	}
	if *orders > 0 {
		if err := seed.HistoryRefused(ctx, pool); err != nil {
			return err
		}
	}
	if *ifEmpty {
		n, err := catalog.NewService(replica.PrimaryOnly(pool)).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Printf("database already has %d products; not seeding\n", n)
			printLogins(cfg)
			return nil
		}
	}
	if err := seed.Products(ctx, pool, *products, os.Stderr); err != nil {
		return err
	}
	if err := seed.Pictures(ctx, pool, catalog.NewService(replica.PrimaryOnly(pool)), seed.DemoPictures, os.Stderr); err != nil {
		return err
	}
	if err := seed.Shoppers(ctx, pool, *shoppers, os.Stderr); err != nil {
		return err
	}
	if err := seed.Campaign(ctx, pool, os.Stderr); err != nil {
		return err
	}
	if err := seed.DemoOrders(ctx, pool, os.Stderr); err != nil {
		return err
	}
	if *orders > 0 {
		if err := seedHistory(ctx, pool, cfg, *orders); err != nil {
			return err
		}
	}
	printLogins(cfg)
	return nil
}

// seedHistory generates past orders, moved on by the configured admin
// (created here when missing, as serve would at start).
func seedHistory(ctx context.Context, pool *pgxpool.Pool, cfg config.Config, n int) error {
	var adminID int64
	err := pool.QueryRow(ctx, "SELECT id FROM users WHERE email = lower($1) AND role = 'admin'", cfg.AdminEmail).Scan(&adminID)
	if errors.Is(err, pgx.ErrNoRows) {
		hash, herr := account.HashPassword(cfg.AdminPassword)
		if herr != nil {
			return herr
		}
		row, uerr := db.New(pool).UpsertAdmin(ctx, db.UpsertAdminParams{Email: strings.ToLower(cfg.AdminEmail), PasswordHash: hash, Name: "Admin"})
		adminID, err = row.ID, uerr
	}
	if err != nil {
		return err
	}
	return seed.History(ctx, pool, n, adminID, os.Stderr)
}

func printLogins(cfg config.Config) {
	fmt.Printf("\n  admin:   %s / %s\n  shopper: %s / %s\n\n", cfg.AdminEmail, secretOrHint(cfg), seed.DemoShopperEmail, seed.DemoShopperPassword)
}

// secretOrHint never prints a production password.
func secretOrHint(cfg config.Config) string {
	if cfg.Production {
		return "(ADMIN_PASSWORD)"
	}
	return cfg.AdminPassword
}

// reconcile runs the consistency report once (stored in its history like a
// manual run), prints it, and fails when it is red.
func reconcile(ctx context.Context, log *slog.Logger, cfg config.Config) error {
	pool, rdb, closeStores, err := openStores(ctx, log, cfg, 4)
	if err != nil {
		return err
	}
	defer closeStores()
	coupons := coupon.NewService(pool, rdb, coupon.Options{Log: log})
	r, err := consistency.NewService(pool, log, coupons).Run(ctx, "manual", nil)
	if err != nil {
		return err
	}
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "RED "
		}
		fmt.Printf("%s %-60s %-40s %12d %12d  %s\n", mark, c.Name, c.Subject, c.Left, c.Right, c.Detail)
	}
	fmt.Printf("\nrun #%d: %s in %d ms\n", r.ID, r.Summary, r.TookMS)
	if !r.OK {
		return fmt.Errorf("the consistency report is red: %s", r.Summary)
	}
	return nil
}
