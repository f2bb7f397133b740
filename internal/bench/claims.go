package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/config"
	"market/internal/coupon"
	"market/internal/reqctx"
	"market/web"
)

// claims: `market bench claims` — many shoppers claim through the real HTTP
// endpoint; Redis mode and the PostgreSQL row-lock baseline side by side,
// plus the raw ceiling of the same Lua script without HTTP.
func claims(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("bench claims", flag.ContinueOnError)
	shoppers := fs.Int("shoppers", 20000, "distinct shoppers, one claim each")
	stock := fs.Int64("stock", 10000, "coupons in each campaign")
	concurrency := fs.Int("concurrency", 500, "shoppers claiming at the same time")
	mode := fs.String("mode", "both", "redis, db, or both (side by side)")
	baseline := fs.Int("baseline-shoppers", 2000, "shoppers in the row-lock baseline (it is slow; claims/s is compared)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the server process during the Redis-mode storm to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *shoppers < 1 || *stock < 1 || *concurrency < 1 || (*mode != "redis" && *mode != "db" && *mode != "both") {
		return errors.New("bench claims: -shoppers, -stock and -concurrency must be positive; -mode redis|db|both")
	}
	pool, rdb, closeStores, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStores()
	fsync := "cluster"
	if v, err := rdb.ConfigGet(ctx, "appendfsync").Result(); err == nil {
		fsync = "appendonly " + rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"] + ", appendfsync " + v["appendfsync"]
	}
	redisPool := 0
	if c, ok := rdb.(*redis.Client); ok {
		redisPool = c.Options().PoolSize
	}
	fmt.Printf("bench claims: %d shoppers, %d coupons, concurrency %d, Redis %s, %d Redis and %d PostgreSQL connections\n",
		*shoppers, *stock, *concurrency, fsync, redisPool, pool.Config().MaxConns)

	cookies, err := benchShoppers(ctx, pool, account.NewSessions(rdb, account.SessionMaxAge), cfg.SessionSecret, *shoppers)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	var results []storm
	for _, m := range []string{"redis", "db"} {
		if *mode != "both" && *mode != m {
			continue
		}
		svc := coupon.NewService(pool, rdb, coupon.Options{DBClaims: m == "db", Log: quiet, Flush: coupon.FlushOptions{
			Batch: cfg.FlushBatch, Interval: cfg.FlushInterval, ReclaimIdle: cfg.FlushReclaimIdle}})
		shoppersHere, stockHere := cookies, *stock
		if m == "db" && *baseline < len(cookies) {
			// Same stock-to-shopper proportion, fewer shoppers.
			shoppersHere, stockHere = cookies[:*baseline], max(1, *stock*int64(*baseline)/int64(len(cookies)))
		}
		profile := ""
		if m == "redis" {
			profile = *cpuprofile
		}
		r, err := httpStorm(ctx, pool, rdb, svc, m, profile, shoppersHere, stockHere, *concurrency)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	// Two ceilings: the script called one by one (one EVALSHA per call, as
	// redis-benchmark without pipelining would) and through the service's
	// own batched path. The bar is judged against the higher one.
	var ceiling, ceilingOneByOne float64
	if *mode != "db" {
		if ceilingOneByOne, err = rawCeiling(ctx, pool, rdb, cookies, *stock, *concurrency, true); err != nil {
			return err
		}
		if ceiling, err = rawCeiling(ctx, pool, rdb, cookies, *stock, *concurrency, false); err != nil {
			return err
		}
		ceiling = max(ceiling, ceilingOneByOne)
	}

	fmt.Printf("\n%-8s %10s %9s %9s %9s %11s %10s %12s %9s\n", "mode", "claims/s", "p50", "p99", "claimed", "over-issue", "duplicates", "pg matches", "server RSS")
	for _, r := range results {
		fmt.Printf("%-8s %10.0f %9s %9s %9d %11d %10d %12s %8dM\n", r.mode, r.perSecond, r.p50.Round(10*time.Microsecond),
			r.p99.Round(10*time.Microsecond), r.claimed, r.overIssue, r.duplicates, r.catchUp.Round(time.Millisecond), r.rssMB)
	}
	for _, r := range results {
		n := float64(r.requests)
		fmt.Printf("%s CPU per request during the storm: server %.0f µs, load generator %.0f µs, Redis %.0f µs (two cores give %.0f µs per request at this rate)\n",
			r.mode, us(r.serverCPU)/n, us(r.clientCPU)/n, us(r.redisCPU)/n, 2e6/r.perSecond)
	}
	if ceiling > 0 {
		fmt.Printf("raw ceiling (same Lua script, no HTTP, concurrency %d): %.0f claims/s (one EVALSHA per call: %.0f/s)\n", *concurrency, ceiling, ceilingOneByOne)
	}
	if len(results) == 2 && results[1].perSecond > 0 {
		fmt.Printf("redis / row-lock baseline: %.1fx\n", results[0].perSecond/results[1].perSecond)
	}
	if ceiling > 0 && results[0].mode == "redis" {
		fmt.Printf("redis HTTP / raw ceiling: %.0f%% (/ one EVALSHA per call: %.0f%%)\n", 100*results[0].perSecond/ceiling, 100*results[0].perSecond/ceilingOneByOne)
	}
	for _, r := range results {
		if r.overIssue != 0 || r.duplicates != 0 {
			return fmt.Errorf("%s: %d over-issued, %d duplicates", r.mode, r.overIssue, r.duplicates)
		}
	}
	return nil
}

type storm struct {
	mode                  string
	requests              int
	perSecond             float64
	p50, p99              time.Duration
	claimed               int64
	overIssue, duplicates int64
	catchUp               time.Duration
	rssMB                 int64
	// CPU used during the storm by the server, the load generator and Redis.
	serverCPU, clientCPU, redisCPU time.Duration
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// benchShoppers creates n shoppers (no usable password) and mints their session cookies.
func benchShoppers(ctx context.Context, pool *pgxpool.Pool, open *account.Sessions, secret string, n int) ([]*http.Cookie, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	rows, err := pool.Query(ctx, `INSERT INTO users (email, password_hash, name)
		SELECT 'bench-' || $1 || '-' || g || '@example.test', '!', 'Bench ' || g FROM generate_series(1, $2::int) g RETURNING id`, run, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cookies []*http.Cookie
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		c, err := web.SessionCookie(secret, open, reqctx.User{ID: id, Name: "Bench"})
		if err != nil {
			return nil, err
		}
		cookies = append(cookies, c)
	}
	return cookies, rows.Err()
}

func benchCampaign(ctx context.Context, svc *coupon.Service, name string, stock int64) (int64, error) {
	c, err := svc.Create(ctx, coupon.Input{Name: name, DiscountType: coupon.DiscountFixed, DiscountValue: 1000, TotalQuantity: stock,
		StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour), ValidDays: 7})
	if err != nil {
		return 0, err
	}
	_, err = svc.Transition(ctx, c.ID, "activate")
	return c.ID, err
}

func httpStorm(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, svc *coupon.Service, mode, cpuprofile string, cookies []*http.Cookie, stock int64, concurrency int) (storm, error) {
	id, err := benchCampaign(ctx, svc, "Bench "+mode, stock)
	if err != nil {
		return storm{}, err
	}
	// The server is its own process (as `serve` would be): the load
	// generator's CPU and memory are not counted as the server's.
	srv, err := startServer(mode, cpuprofile)
	if err != nil {
		return storm{}, err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: bench server: %v (log kept: %s)\n", mode, err, srv.log)
			return
		}
		_ = os.Remove(srv.log) // a clean run leaves no access log behind

	}()
	// One keep-alive connection per shopper goroutine, reused for every claim.
	conns := make([]*claimConn, concurrency)
	for j := range conns {
		conns[j] = &claimConn{addr: srv.addr}
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if err := warmUp(ctx, svc, conns, mode, cookies); err != nil {
		return storm{}, err
	}

	var (
		next    atomic.Int64
		claimed atomic.Int64
		failed  atomic.Int64
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, len(cookies))
		winners = make(map[int]int)
		wg      sync.WaitGroup
	)
	fmt.Printf("%s: %d shoppers storming campaign %d ...\n", mode, len(cookies), id)
	server0, client0, redis0 := srv.cpuTime(), selfCPU(), redisCPU(ctx, rdb)
	start := time.Now()
	for _, conn := range conns {
		wg.Go(func() {
			mine := make([]time.Duration, 0, len(cookies)/concurrency+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(cookies) || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				status, result, err := conn.claim(id, cookies[i])
				if err != nil {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				if result == "claimed" {
					claimed.Add(1)
					mu.Lock()
					winners[i]++
					mu.Unlock()
				} else if status >= 500 {
					failed.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stormEnd := time.Now()

	r := storm{mode: mode, claimed: claimed.Load(),
		serverCPU: srv.cpuTime() - server0, clientCPU: selfCPU() - client0, redisCPU: redisCPU(ctx, rdb) - redis0}
	r.requests = len(lat)
	r.perSecond = float64(len(lat)) / elapsed.Seconds()
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, n := range winners {
		if n > 1 {
			r.duplicates++
		}
	}
	// PostgreSQL catches up with Redis (immediate for the row-lock baseline,
	// whose truth is its own row count: a claim whose answer the client gave
	// up waiting for may still have committed).
	want := int64(-1)
	if mode == "redis" {
		if want, err = rdb.HLen(ctx, fmt.Sprintf("coupon:{%d}:claimed", id)).Result(); err != nil {
			return r, err
		}
	}
	for {
		var persisted, rows, distinct int64
		if err := pool.QueryRow(ctx, `SELECT c.persisted_count, count(k.id), count(DISTINCT k.user_id)
			FROM campaigns c LEFT JOIN coupons k ON k.campaign_id = c.id WHERE c.id = $1 GROUP BY c.id`, id).Scan(&persisted, &rows, &distinct); err != nil {
			return r, err
		}
		if want < 0 {
			want = persisted
		}
		if persisted == want && rows == want {
			r.catchUp = time.Since(stormEnd)
			r.overIssue = max(0, rows-stock) + max(0, want-stock)
			r.duplicates += rows - distinct
			r.rssMB = srv.peakRSS() >> 20
			break
		}
		if time.Since(stormEnd) > 60*time.Second {
			return r, fmt.Errorf("%s: PostgreSQL has %d of %d claims after a minute", mode, persisted, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d requests failed\n", mode, f)
	}
	return r, nil
}

// warmUp opens the load generator's keep-alive connections and the server's
// pools (Redis, PostgreSQL, the loaded script) with one untimed claim per
// connection on a separate campaign, so the storm measures a server that is
// already up, as a flash sale meets one, rather than 500 simultaneous dials.
func warmUp(ctx context.Context, svc *coupon.Service, conns []*claimConn, mode string, cookies []*http.Cookie) error {
	id, err := benchCampaign(ctx, svc, "Bench warm-up "+mode, int64(len(conns)))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for j, conn := range conns {
		wg.Go(func() {
			if status, _, err := conn.claim(id, cookies[j%len(cookies)]); err != nil || status != http.StatusOK {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%s warm-up: %d of %d claims failed", mode, n, len(conns))
	}
	return nil
}

// claimConn is one shopper goroutine's keep-alive HTTP/1.1 connection. The
// load generator writes each request as bytes and parses the answer with
// net/http's own reader: far less client CPU than http.Client (whose
// per-connection goroutines and header maps competed with the server for
// the same two cores); the server sees an ordinary browser-less JSON POST.
type claimConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// claim POSTs /coupons/{id}/claim as the cookie's shopper and returns the
// status and the JSON "result". A broken connection is redialled once.
func (c *claimConn) claim(id int64, cookie *http.Cookie) (int, string, error) {
	for attempt := 0; ; attempt++ {
		status, result, err := c.try(id, cookie)
		if err == nil || attempt == 1 {
			return status, result, err
		}
		c.close()
	}
}

func (c *claimConn) try(id int64, cookie *http.Cookie) (int, string, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return 0, "", err
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	b := append(c.buf[:0], "POST /coupons/"...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, "/claim HTTP/1.1\r\nHost: "...)
	b = append(b, c.addr...)
	b = append(b, "\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nCookie: "...)
	b = append(b, cookie.Name...)
	b = append(b, '=')
	b = append(b, cookie.Value...)
	b = append(b, "\r\n\r\n"...)
	c.buf = b
	if _, err := c.conn.Write(b); err != nil {
		return 0, "", err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, "", err
	}
	var body struct{ Result string }
	err = json.NewDecoder(res.Body).Decode(&body)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.Close {
		c.close()
	}
	return res.StatusCode, body.Result, err
}

func (c *claimConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

// rawCeiling calls the claim script through the coupon service (no HTTP, no
// sessions) at the same concurrency: batched as the server does, or one
// round trip per claim.
func rawCeiling(ctx context.Context, pool *pgxpool.Pool, rdb redis.UniversalClient, cookies []*http.Cookie, stock int64, concurrency int, oneByOne bool) (float64, error) {
	svc := coupon.NewService(pool, rdb, coupon.Options{Log: slog.New(slog.DiscardHandler), Unbatched: oneByOne})
	id, err := benchCampaign(ctx, svc, "Bench raw ceiling", stock)
	if err != nil {
		return 0, err
	}
	var userIDs []int64
	if err := pgxCollect(ctx, pool, len(cookies), &userIDs); err != nil {
		return 0, err
	}
	// Warmed like the HTTP storm: one untimed claim per goroutine on another
	// campaign opens the Redis pool's connections.
	warm, err := benchCampaign(ctx, svc, "Bench raw ceiling warm-up", int64(concurrency))
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for j := range concurrency {
		wg.Go(func() { _, _ = svc.Claim(ctx, warm, userIDs[j%len(userIDs)]) })
	}
	wg.Wait()
	var next atomic.Int64
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(userIDs) {
					return
				}
				_, _ = svc.Claim(ctx, id, userIDs[i])
			}
		})
	}
	wg.Wait()
	rate := float64(len(userIDs)) / time.Since(start).Seconds()
	// Leave nothing behind for the flusher of a running app: persist these too.
	flushCtx, stop := context.WithTimeout(ctx, 100*time.Millisecond)
	defer stop()
	svc.RunFlusher(flushCtx)
	return rate, nil
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

// pgxCollect reads the ids of the newest n bench shoppers.
func pgxCollect(ctx context.Context, pool *pgxpool.Pool, n int, out *[]int64) error {
	rows, err := pool.Query(ctx, `SELECT id FROM users WHERE email LIKE 'bench-%' ORDER BY id DESC LIMIT $1`, n)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		*out = append(*out, id)
	}
	return rows.Err()
}
