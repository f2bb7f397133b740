package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/db"
	"market/internal/order"
	"market/internal/redisdb"
	"market/internal/replica"
	"market/web"
)

// checkoutFlags are `market bench checkout`'s flags, checked.
type checkoutFlags struct {
	buyers, products, concurrency, pgbenchSecs int
	stock                                      int64
	strategies                                 []string
	via                                        string
}

func parseCheckoutFlags(args []string) (checkoutFlags, error) {
	fs := flag.NewFlagSet("bench checkout", flag.ContinueOnError)
	buyers := fs.Int("buyers", 300, "buyers per run (each buys one unit)")
	stock := fs.Int64("stock", 100, "stock of the hot product")
	products := fs.Int("products", 50, "products in the spread catalogue")
	concurrency := fs.Int("concurrency", 200, "buyers checking out at once")
	locking := fs.String("locking", "both", "pessimistic, optimistic or both")
	pgbenchSecs := fs.Int("pgbench-seconds", 10, "length of each pgbench ceiling sample, taken before, between and after the strategies (0 skips them)")
	via := fs.String("via", "http", "http (POST /checkout with each buyer's session, JSON) or service (order.Service.Checkout directly)")
	if err := fs.Parse(args); err != nil {
		return checkoutFlags{}, err
	}
	f := checkoutFlags{buyers: *buyers, products: *products, concurrency: *concurrency, pgbenchSecs: *pgbenchSecs,
		stock: *stock, strategies: []string{order.Pessimistic, order.Optimistic}, via: *via}
	if f.buyers < 1 || f.stock < 1 || f.products < 1 || f.concurrency < 1 || f.pgbenchSecs < 0 {
		return f, errors.New("buyers, stock, products and concurrency must be positive, pgbench-seconds not negative")
	}
	if f.via != "http" && f.via != "service" {
		return f, errors.New("-via must be http or service")
	}
	switch *locking {
	case "both":
	case order.Pessimistic, order.Optimistic:
		f.strategies = []string{*locking}
	default:
		return f, errors.New("-locking must be pessimistic, optimistic or both")
	}
	return f, nil
}

// servePool opens the pool `serve` gives requests (main.go: pgx's default
// size, or pool_max_conns in DATABASE_URL, under the request budget of
// STATEMENT_TIMEOUT and IDLE_IN_TRANSACTION_TIMEOUT), so the bench's server
// has the connections the shop has, not one per shopper.
func servePool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	return db.OpenWithBudget(ctx, cfg.DatabaseURL, 0, cfg.RequestBudget())
}

// checkoutBench drives POST /checkout (each buyer's session, JSON; or with
// -via service, order.Service.Checkout directly) with a crowd of buyers, for
// each locking strategy, on one hot product and on a spread catalogue, with
// the pool `serve` uses. pgbench samples the bare guarded stock update of one
// hot row, with as many clients as that pool has, before, between and after
// the strategies. Any 5xx, transport error, wrong answer, oversell or
// unbalanced ledger fails the bench, after the table is printed.
func checkoutBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	f, err := parseCheckoutFlags(args)
	if err != nil {
		return err
	}
	app, err := servePool(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	// Seeding, checking and cleaning up go through a pool of their own (as
	// serve's admin work does), so they never hold the app's connections.
	admin, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 2, db.Budget{Statement: cfg.AdminStatementTimeout, IdleInTx: cfg.IdleInTxTimeout})
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := db.Migrate(ctx, admin, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	// The buyers are the bench's, not the run's: one bench at a time, and
	// what a bench that was stopped left of theirs is cleared first.
	pooled, err := admin.Acquire(ctx)
	if err != nil {
		return err
	}
	lock := pooled.Hijack() // the lock lives as long as this session, out of the pool
	defer lock.Close(context.WithoutCancel(ctx))
	var alone bool
	if err := lock.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext('market bench checkout'))").Scan(&alone); err != nil {
		return err
	}
	if !alone {
		return errors.New("another checkout bench is running on this database")
	}
	run := fmt.Sprintf("b%d", time.Now().UnixNano())
	if err := cleanup(ctx, admin); err != nil {
		return err
	}
	defer func() {
		if err := cleanup(context.WithoutCancel(ctx), admin); err != nil {
			log.Warn("bench cleanup", "err", err)
		}
	}()
	var rdb redis.UniversalClient
	if f.via == "http" {
		if rdb, err = redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs); err != nil {
			return err
		}
		defer rdb.Close()
	}
	conns := app.Config().MaxConns
	var ceil *stockCeiling
	if f.pgbenchSecs > 0 {
		if ceil, err = newStockCeiling(ctx, admin, cfg.DatabaseURL, run, conns, f.pgbenchSecs); err != nil {
			return err
		}
		defer ceil.close()
	}
	// PostgreSQL's own estimate: counting a shop's orders would take seconds.
	var orders float64
	if err := admin.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'orders'::regclass").Scan(&orders); err != nil {
		return err
	}
	if orders < 10_000 {
		fmt.Printf("note: this shop holds about %.0f orders; on tables this small the cached plans scan them whole while the run fills them (docs/PERFORMANCE.md, Orders: measure on a shop with history)\n", max(orders, 0))
	}
	fmt.Printf("checkout bench: %d buyers, concurrency %d, %d connections (serve's pool), hot stock %d, spread over %d products, via %s\n\n",
		f.buyers, f.concurrency, conns, f.stock, f.products, f.via)
	hot, problems, err := checkoutStrategies(ctx, cfg, app, admin, rdb, ceil, run, f)
	if err != nil {
		return err
	}
	if ceil != nil {
		ceil.report(f.strategies, hot)
	}
	if len(problems) > 0 {
		return fmt.Errorf("checkout bench FAILED: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkoutStrategies runs each strategy on the hot product and the spread
// catalogue, printing a row a run, with a ceiling sample before, between
// and after the strategies. It returns each strategy's hot-product rate and
// every failed check, named by its run.
func checkoutStrategies(ctx context.Context, cfg config.Config, app, admin *pgxpool.Pool, rdb redis.UniversalClient, ceil *stockCeiling, run string, f checkoutFlags) (map[string]float64, []string, error) {
	sample := func(label string) error {
		if ceil == nil {
			return nil
		}
		return ceil.sample(ctx, label)
	}
	if err := sample("before"); err != nil {
		return nil, nil, err
	}
	fmt.Printf("%-12s %-7s %8s %7s %8s %5s %5s %9s %6s %9s %9s %8s %10s %10s\n", "strategy", "catalog", "orders/s", "placed", "sold-out",
		"503", "5xx", "transport", "wrong", "p50", "p99", "retries", "cpu/order", "pg cpu/ord")
	hot := map[string]float64{}
	var problems []string
	for i, strategy := range f.strategies {
		if i > 0 {
			if err := sample("between"); err != nil {
				return nil, nil, err
			}
		}
		svc, err := order.NewService(app, order.Options{Locking: strategy, TopUpDailyLimit: cfg.TopUpDailyLimit})
		if err != nil {
			return nil, nil, err
		}
		for _, spread := range []bool{false, true} {
			var h *checkoutHTTP
			if f.via == "http" {
				if h, err = newCheckoutHTTP(app, rdb, cfg, svc, f.concurrency); err != nil {
					return nil, nil, err
				}
			}
			r, err := checkoutRun(ctx, admin, svc, h, run, f, spread)
			h.close()
			if err != nil {
				return nil, nil, err
			}
			name := "hot"
			if spread {
				name = "spread"
			} else {
				hot[strategy] = r.rate
			}
			fmt.Printf("%-12s %-7s %8.0f %7d %8d %5d %5d %9d %6d %9s %9s %8d %10s %10s\n", strategy, name, r.rate, r.count[coPlaced], r.count[coSoldOut],
				r.count[coBusy], r.count[coServerError], r.count[coTransport], r.count[coWrong],
				r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.retries,
				r.cpuSelf.Round(time.Microsecond), r.cpuServer.Round(time.Microsecond))
			for _, p := range r.problems {
				problems = append(problems, strategy+" "+name+": "+p)
			}
		}
	}
	return hot, problems, sample("after")
}

// checkoutHTTP is the shop's handler on a loopback listener, so the bench
// goes through POST /checkout as a browser's JSON client would.
type checkoutHTTP struct {
	srv    *http.Server
	served chan struct{}
	url    string
	client *http.Client
	secret string
	open   *account.Sessions
}

func newCheckoutHTTP(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg config.Config, svc *order.Service, concurrency int) (*checkoutHTTP, error) {
	accounts := account.NewService(pool, rdb, account.Limits{PerEmail: cfg.LoginFailuresPerEmail, PerAddr: cfg.LoginFailuresPerAddr, Window: cfg.LoginWindow})
	handler := web.New(web.Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Redis: rdb,
		Accounts: accounts,
		Catalog:  catalog.NewService(replica.PrimaryOnly(pool)), Orders: svc})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &checkoutHTTP{srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, served: make(chan struct{}),
		url: "http://" + ln.Addr().String() + "/checkout", secret: cfg.SessionSecret, open: accounts.Sessions,
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency}, Timeout: 60 * time.Second}}
	go func() {
		defer close(h.served)
		h.srv.Serve(ln)
	}()
	return h, nil
}

// close stops the server and waits for it.
func (h *checkoutHTTP) close() {
	if h != nil {
		h.srv.Close()
		<-h.served
		h.client.CloseIdleConnections()
	}
}

// checkout posts one buyer's checkout form and names the answer, with what
// was wrong with it when it is not a right order or a sold-out.
func (h *checkoutHTTP) checkout(c *http.Cookie, product int64) (checkoutAnswer, string) {
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader("idempotency_key=bench"))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(c)
	res, err := h.client.Do(req)
	if err != nil {
		return coTransport, err.Error()
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return coTransport, "reading the answer: " + err.Error()
	}
	detail := "status " + strconv.Itoa(res.StatusCode) + ": " + strings.TrimSpace(string(body[:min(len(body), 200)]))
	switch {
	case res.StatusCode == http.StatusServiceUnavailable:
		return coBusy, detail
	case res.StatusCode >= 500:
		return coServerError, detail
	case res.StatusCode == http.StatusCreated:
		var o checkoutOrder
		if err := json.Unmarshal(body, &o); err != nil {
			return coWrong, detail
		}
		return judgeCheckoutOrder(o, product)
	case res.StatusCode == http.StatusConflict:
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(body, &e) == nil && e.Code == "out_of_stock" {
			return coSoldOut, ""
		}
	}
	return coWrong, detail
}

// cleanup removes what checkout benches did (this one's, and what a stopped
// one left), so the shop's catalogue and consistency report are as before:
// their products, and everything of their buyers but the accounts. The
// advisory lock in checkoutBench makes this bench the only one running.
func cleanup(ctx context.Context, pool *pgxpool.Pool) error {
	buyers := buyerPrefix + "%" + buyerDomain
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			// Ledger rows name their order; deleting orders cascades to lines.
			`DELETE FROM balance_ledger WHERE user_id IN (SELECT id FROM users WHERE email LIKE $1)`,
			`DELETE FROM points_ledger WHERE user_id IN (SELECT id FROM users WHERE email LIKE $1)`,
			`DELETE FROM cart_items WHERE user_id IN (SELECT id FROM users WHERE email LIKE $1)`,
			`DELETE FROM orders WHERE user_id IN (SELECT id FROM users WHERE email LIKE $1)`,
			`UPDATE users SET balance = 0, points = 0 WHERE email LIKE $1`,
		} {
			if _, err := tx.Exec(ctx, q, buyers); err != nil {
				return err
			}
		}
		// Their stock and stock ledger rows go with them (ON DELETE CASCADE).
		_, err := tx.Exec(ctx, `DELETE FROM products WHERE sku LIKE 'BENCH-%'`)
		return err
	})
}
