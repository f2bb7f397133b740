package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/order"
	"market/internal/redisdb"
	"market/internal/reqctx"
	"market/web"
)

// checkoutBench drives POST /checkout (each buyer's session, JSON; or with
// -via service, order.Service.Checkout directly) with a crowd of buyers, for each locking strategy, on one hot
// product and on a spread catalogue; then pgbench runs the bare guarded stock
// update on one hot row as the ceiling.
func checkoutBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("bench checkout", flag.ContinueOnError)
	buyers := fs.Int("buyers", 300, "buyers per run (each buys one unit)")
	stock := fs.Int64("stock", 100, "stock of the hot product")
	products := fs.Int("products", 50, "products in the spread catalogue")
	concurrency := fs.Int("concurrency", 200, "buyers checking out at once")
	conns := fs.Int("conns", 16, "PostgreSQL connections in the app's pool")
	locking := fs.String("locking", "both", "pessimistic, optimistic or both")
	pgbenchSecs := fs.Int("pgbench-seconds", 10, "length of the pgbench ceiling run (0 skips it)")
	via := fs.String("via", "http", "http (POST /checkout with each buyer's session, JSON) or service (order.Service.Checkout directly)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *buyers < 1 || *stock < 1 || *products < 1 || *concurrency < 1 || *conns < 1 {
		return errors.New("buyers, stock, products, concurrency and conns must be positive")
	}
	if *via != "http" && *via != "service" {
		return errors.New("-via must be http or service")
	}
	strategies := []string{order.Pessimistic, order.Optimistic}
	if *locking != "both" {
		strategies = []string{*locking}
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, int32(*conns))
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	run := fmt.Sprintf("b%d", time.Now().UnixNano())
	defer func() {
		if err := cleanup(context.WithoutCancel(ctx), pool, run); err != nil {
			log.Warn("bench cleanup", "err", err)
		}
	}()

	var rdb redis.UniversalClient
	if *via == "http" {
		if rdb, err = redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs); err != nil {
			return err
		}
		defer rdb.Close()
	}
	fmt.Printf("checkout bench: %d buyers, concurrency %d, %d connections, hot stock %d, spread over %d products, via %s\n\n",
		*buyers, *concurrency, *conns, *stock, *products, *via)
	fmt.Printf("%-12s %-8s %9s %8s %8s %8s %6s %9s %9s %8s %8s\n", "strategy", "catalog", "orders/s", "placed", "sold-out", "busy", "5xx", "p50", "p99", "oversell", "retries")
	var hotRate float64
	for _, strategy := range strategies {
		svc, err := order.NewService(pool, order.Options{Locking: strategy})
		if err != nil {
			return err
		}
		for _, spread := range []bool{false, true} {
			var h *checkoutHTTP
			if *via == "http" {
				if h, err = newCheckoutHTTP(pool, rdb, cfg, svc, *concurrency); err != nil {
					return err
				}
			}
			r, err := checkoutRun(ctx, pool, svc, h, run, *buyers, *stock, *products, *concurrency, spread)
			h.close()
			if err != nil {
				return err
			}
			name := "hot"
			if spread {
				name = "spread"
			}
			fmt.Printf("%-12s %-8s %9.0f %8d %8d %8d %6d %9s %9s %8d %8d\n", strategy, name, r.rate, r.placed, r.soldOut, r.busy, r.other,
				r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.oversell, r.retries)
			if !spread && r.rate > hotRate {
				hotRate = r.rate
			}
			if r.oversell != 0 || !r.consistent {
				return fmt.Errorf("%s %s: oversell %d, ledgers consistent %v", strategy, name, r.oversell, r.consistent)
			}
		}
	}
	if *pgbenchSecs > 0 {
		ceiling, err := pgbenchCeiling(ctx, pool, cfg.DatabaseURL, run, *conns, *pgbenchSecs)
		if err != nil {
			fmt.Printf("\npgbench ceiling not measured: %v\n", err)
			return nil
		}
		fmt.Printf("\npgbench ceiling (guarded UPDATE of one hot row, %d clients, %d s): %.0f tps\n", *conns, *pgbenchSecs, ceiling)
		fmt.Printf("best hot-product checkout: %.0f orders/s = %.0f%% of the ceiling (bar: 40%%)\n", hotRate, 100*hotRate/ceiling)
	}
	return nil
}

type runResult struct {
	rate                         float64
	placed, soldOut, busy, other int
	p50, p99                     time.Duration
	oversell                     int64
	retries                      int64
	consistent                   bool
}

func checkoutRun(ctx context.Context, pool *pgxpool.Pool, svc *order.Service, h *checkoutHTTP, run string, buyers int, stock int64, products, concurrency int, spread bool) (runResult, error) {
	tag := fmt.Sprintf("%s-%s-%v", run, svc.Locking(), spread)
	n := 1
	per := stock
	if spread {
		n, per = products, int64(buyers) // plenty: the spread run measures throughput, not sell-outs
	}
	ids := make([]int64, n)
	for i := range ids {
		err := pool.QueryRow(ctx, `WITH c AS (INSERT INTO categories (slug, name) VALUES ('bench', 'Bench')
				ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id),
			p AS (INSERT INTO products (sku, name, brand, category_id, price)
				SELECT $1, 'Bench product', 'Bench', c.id, 1000 FROM c RETURNING id)
			INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, $2, $2 FROM p RETURNING product_id`,
			fmt.Sprintf("BENCH-%s-%d", tag, i), per).Scan(&ids[i])
		if err != nil {
			return runResult{}, err
		}
	}
	users := make([]int64, buyers)
	cookies := make(map[int64]*http.Cookie, buyers)
	for i := range users {
		err := pool.QueryRow(ctx, `INSERT INTO users (email, password_hash, name) VALUES ($1, 'bench', 'Bench buyer') RETURNING id`,
			fmt.Sprintf("%s-%d@bench.invalid", tag, i)).Scan(&users[i])
		if err != nil {
			return runResult{}, err
		}
		if _, err := svc.TopUp(ctx, users[i], 10_000); err != nil {
			return runResult{}, err
		}
		if _, err := svc.SetItem(ctx, users[i], ids[i%n], 1); err != nil {
			return runResult{}, err
		}
		if h != nil {
			if cookies[users[i]], err = web.SessionCookie(h.secret, h.open, reqctx.User{ID: users[i], Name: "Bench buyer"}); err != nil {
				return runResult{}, err
			}
		}
	}

	retriesBefore := svc.Retries()
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, buyers)
		res       runResult
		wg        sync.WaitGroup
	)
	work := make(chan int64)
	start := make(chan struct{})
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for u := range work {
				t0 := time.Now()
				var err error
				outcome := ""
				if h != nil {
					outcome, err = h.checkout(cookies[u])
				} else {
					_, _, err = svc.Checkout(ctx, order.CheckoutInput{UserID: u, Key: "bench"})
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				switch {
				case h != nil:
					switch outcome {
					case "placed":
						res.placed++
					case "out_of_stock":
						res.soldOut++
					case "busy":
						res.busy++
					default:
						res.other++
						fmt.Fprintf(os.Stderr, "checkout: %s %v\n", outcome, err)
					}
				case err == nil:
					res.placed++
				case errs.Is(err, order.CodeOutOfStock):
					res.soldOut++
				case errs.Is(err, errs.Busy):
					res.busy++
				default:
					res.other++
				}
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	close(start)
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(t0)

	slices.Sort(latencies)
	res.rate = float64(res.placed) / elapsed.Seconds()
	res.p50 = latencies[len(latencies)/2]
	res.p99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	res.retries = svc.Retries() - retriesBefore
	var sold, negative, drift int64
	err := pool.QueryRow(ctx, `SELECT coalesce(sum(s.opening_stock - s.stock), 0), count(*) FILTER (WHERE s.stock < 0),
			count(*) FILTER (WHERE s.stock <> s.opening_stock + coalesce((SELECT sum(delta) FROM stock_ledger l WHERE l.product_id = s.product_id), 0))
		FROM product_stock s WHERE s.product_id = ANY($1)`, ids).Scan(&sold, &negative, &drift)
	if err != nil {
		return res, err
	}
	var walletDrift int64
	err = pool.QueryRow(ctx, `SELECT count(*) FROM users u WHERE u.id = ANY($1) AND (u.balance <> (SELECT coalesce(sum(delta), 0) FROM balance_ledger l WHERE l.user_id = u.id)
		OR u.points <> (SELECT coalesce(sum(delta), 0) FROM points_ledger l WHERE l.user_id = u.id))`, users).Scan(&walletDrift)
	if err != nil {
		return res, err
	}
	// Oversold: more units left the shelf than it held, or than orders account for.
	res.oversell = max(0, sold-int64(n)*per) + negative + abs(sold-int64(res.placed))
	res.consistent = drift == 0 && walletDrift == 0
	return res, nil
}

// checkoutHTTP is the shop's handler on a loopback listener, so the bench
// goes through POST /checkout as a browser's JSON client would.
type checkoutHTTP struct {
	srv    *http.Server
	url    string
	client *http.Client
	secret string
	open   *account.Sessions
}

func newCheckoutHTTP(pool *pgxpool.Pool, rdb redis.UniversalClient, cfg config.Config, svc *order.Service, concurrency int) (*checkoutHTTP, error) {
	accounts := account.NewService(pool, rdb, account.Limits{PerEmail: 10, PerAddr: 100, Window: time.Minute})
	handler := web.New(web.Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Redis: rdb,
		Accounts: accounts,
		Catalog:  catalog.NewService(pool), Orders: svc})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &checkoutHTTP{srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String() + "/checkout", secret: cfg.SessionSecret, open: accounts.Sessions,
		client: &http.Client{Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency}, Timeout: 60 * time.Second}}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *checkoutHTTP) close() {
	if h != nil {
		h.srv.Close()
		h.client.CloseIdleConnections()
	}
}

// checkout posts one buyer's checkout form and names the outcome: placed,
// out_of_stock, busy, or the unexpected status.
func (h *checkoutHTTP) checkout(c *http.Cookie) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader("idempotency_key=bench"))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(c)
	res, err := h.client.Do(req)
	if err != nil {
		return "transport error", err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusCreated:
		return "placed", nil
	case res.StatusCode == http.StatusConflict && strings.Contains(string(body), "out_of_stock"):
		return "out_of_stock", nil
	case res.StatusCode == http.StatusServiceUnavailable:
		return "busy", nil
	}
	return "status " + strconv.Itoa(res.StatusCode), errors.New(string(body))
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// pgbenchCeiling runs the bare guarded stock update of checkout on one hot row.
func pgbenchCeiling(ctx context.Context, pool *pgxpool.Pool, url, run string, clients, secs int) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
		sort.Strings(matches)
		if len(matches) == 0 {
			return 0, errors.New("pgbench not found (it ships with the postgresql package)")
		}
		bin = matches[len(matches)-1]
	}
	var id int64
	err = pool.QueryRow(ctx, `WITH c AS (SELECT id FROM categories WHERE slug = 'bench'),
			p AS (INSERT INTO products (sku, name, brand, category_id, price) SELECT $1, 'Bench pgbench row', 'Bench', c.id, 1000 FROM c RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1000000000, 1000000000 FROM p RETURNING product_id`,
		"BENCH-"+run+"-pgbench").Scan(&id)
	if err != nil {
		return 0, err
	}
	script := filepath.Join(os.TempDir(), run+"-hot.sql")
	body := "UPDATE product_stock SET stock = stock - 1, version = version + 1 WHERE product_id = :id AND stock >= 1;\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(script)
	args := []string{"-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs), "-D", "id=" + strconv.FormatInt(id, 10), "-f", script, url}
	fmt.Printf("\n$ pgbench %s   # script: %s", joinArgs(args), body)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func joinArgs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}

// cleanup removes everything this run created, so the shop's catalogue and
// consistency report are not left with bench rows.
func cleanup(ctx context.Context, pool *pgxpool.Pool, run string) error {
	_, err := pool.Exec(ctx, `
		WITH u AS (SELECT id FROM users WHERE email LIKE $1 || '-%@bench.invalid'),
		     p AS (SELECT id FROM products WHERE sku LIKE 'BENCH-' || $1 || '-%'),
		     o AS (SELECT id FROM orders WHERE user_id IN (SELECT id FROM u)),
		     d1 AS (DELETE FROM stock_ledger WHERE product_id IN (SELECT id FROM p)),
		     d2 AS (DELETE FROM balance_ledger WHERE user_id IN (SELECT id FROM u)),
		     d3 AS (DELETE FROM points_ledger WHERE user_id IN (SELECT id FROM u)),
		     d4 AS (DELETE FROM order_items WHERE order_id IN (SELECT id FROM o)),
		     d5 AS (DELETE FROM cart_items WHERE user_id IN (SELECT id FROM u))
		SELECT 1`, run)
	if err != nil {
		return err
	}
	for _, q := range []string{
		"DELETE FROM orders WHERE user_id IN (SELECT id FROM users WHERE email LIKE $1 || '-%@bench.invalid')",
		"DELETE FROM users WHERE email LIKE $1 || '-%@bench.invalid'",
		"DELETE FROM products WHERE sku LIKE 'BENCH-' || $1 || '-%'",
	} {
		if _, err := pool.Exec(ctx, q, run); err != nil {
			return err
		}
	}
	return nil
}
