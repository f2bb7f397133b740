package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"market/internal/coupon"
)

// storm is one closed-loop run: every shopper claims once, from
// concurrency workers, on a campaign of its own.
type storm struct {
	name string
	answers
	perSecond float64
	p50, p99  time.Duration
	pgRows    int64         // the campaign's coupons in PostgreSQL at the end
	catchUp   time.Duration // until PostgreSQL held them, after the storm
	rssMB     int64         // the server's peak RSS (HTTP only)
	// CPU used during the storm by the server, the load generator and Redis (HTTP only).
	serverCPU, clientCPU, redisCPU time.Duration
	problems                       []string // each a failed check: the bench exits non-zero
}

// outcome is how the bench judges one answer. Every shopper claims once, so
// "claimed" and "sold out" are the only right answers.
type outcome int

const (
	gotClaimed outcome = iota
	gotSoldOut
	gotFailure // a transport error, a 5xx, an error from the service
	gotWrong   // any other answer
)

// answers is what a storm's shoppers were told. Every request's latency
// counts, failures included.
type answers struct {
	lat                             []time.Duration
	elapsed                         time.Duration
	claimed, soldOut, failed, wrong int64
	claimedBy                       map[int64]int // shopper → "claimed" answers
	examples                        []string      // the first few failures and wrong answers
}

// closedLoop has workers claim for users[i], each i once, through claim(worker, i).
func closedLoop(ctx context.Context, workers int, users []int64, claim func(worker, i int) (outcome, string)) answers {
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
		a    = answers{lat: make([]time.Duration, 0, len(users)), claimedBy: make(map[int64]int)}
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(users) && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				t0 := time.Now()
				got, detail := claim(w, i)
				took := time.Since(t0)
				mu.Lock()
				a.lat = append(a.lat, took)
				a.count(got, users[i], detail)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	a.elapsed = time.Since(start)
	return a
}

func (a *answers) count(got outcome, user int64, detail string) {
	switch got {
	case gotClaimed:
		a.claimed++
		a.claimedBy[user]++
		return
	case gotSoldOut:
		a.soldOut++
		return
	case gotFailure:
		a.failed++
	default:
		a.wrong++
	}
	if len(a.examples) < 3 {
		a.examples = append(a.examples, detail)
	}
}

// measured turns answers into a storm's rates and percentiles.
func measured(name string, a answers) storm {
	s := storm{name: name, answers: a}
	slices.Sort(a.lat)
	if n := len(a.lat); n > 0 {
		s.perSecond = float64(n) / a.elapsed.Seconds()
		s.p50, s.p99 = a.lat[n/2], a.lat[n*99/100]
	}
	return s
}

// ofService judges a coupon service's answer (the shop's or the baseline's).
func ofService(o coupon.Outcome, err error) (outcome, string) {
	switch {
	case err != nil:
		return gotFailure, err.Error()
	case o.Result == coupon.Claimed:
		return gotClaimed, ""
	case o.Result == coupon.SoldOut:
		return gotSoldOut, ""
	}
	return gotWrong, "answered " + string(o.Result)
}

// serviceStorm calls c.Claim for every shopper, at the bench's concurrency,
// on a campaign of its own, after one untimed claim per worker on another
// (which opens the pools' connections, as in the HTTP storm).
func serviceStorm(ctx context.Context, env *claimsEnv, name string, c claimer, users []int64, stock int64, inRedis bool) (storm, error) {
	warm, err := env.made.open(ctx, "Bench warm-up "+name, int64(env.concurrency))
	if err != nil {
		return storm{}, err
	}
	w := closedLoop(ctx, env.concurrency, users[:min(len(users), env.concurrency)], func(_, i int) (outcome, string) {
		return ofService(c.Claim(ctx, warm, users[i]))
	})
	if w.failed+w.wrong > 0 {
		return storm{}, fmt.Errorf("%s warm-up: %d of %d claims failed: %v", name, w.failed+w.wrong, len(w.lat), w.examples)
	}
	id, err := env.made.open(ctx, "Bench "+name, stock)
	if err != nil {
		return storm{}, err
	}
	fmt.Printf("%s: %d shoppers storming campaign %d ...\n", name, len(users), id)
	s := measured(name, closedLoop(ctx, env.concurrency, users, func(_, i int) (outcome, string) {
		return ofService(c.Claim(ctx, id, users[i]))
	}))
	return s, settle(ctx, env, &s, id, stock, len(users), inRedis)
}

// bareScriptStorm is the Redis ceiling: claim.lua itself, on the keys of a
// campaign the shop made, from a bare go-redis loop at the bench's
// concurrency, one EVALSHA per call. Unlike the shop's service it goes to
// Redis for every call, sold out or not.
func bareScriptStorm(ctx context.Context, env *claimsEnv, users []int64, stock int64) (storm, error) {
	const name = "bare script"
	// One stripe: the script alone cannot borrow from another.
	id, err := env.made.openStriped(ctx, "Bench "+name, stock, 1)
	if err != nil {
		return storm{}, err
	}
	script, keys := coupon.BareClaim(id)
	if err := script.Load(ctx, env.rdb).Err(); err != nil {
		return storm{}, err
	}
	fmt.Printf("%s: %d shoppers storming campaign %d ...\n", name, len(users), id)
	s := measured(name, closedLoop(ctx, env.concurrency, users, func(_, i int) (outcome, string) {
		v, err := script.Run(ctx, env.rdb, keys, users[i]).Slice()
		if err != nil {
			return gotFailure, err.Error()
		}
		switch result, _ := v[0].(string); coupon.Result(result) {
		case coupon.Claimed:
			return gotClaimed, ""
		case coupon.SoldOut:
			return gotSoldOut, ""
		}
		return gotWrong, fmt.Sprintf("answered %v", v)
	}))
	return s, settle(ctx, env, &s, id, stock, len(users), true)
}

// settle waits, for a campaign claimed in Redis, until PostgreSQL holds every
// claim Redis holds (a flusher persists them), then checks the storm:
// nothing failed, no wrong answer, exactly min(stock, shoppers) answered
// "claimed", one each, and PostgreSQL's coupons are exactly those shoppers.
func settle(ctx context.Context, env *claimsEnv, s *storm, id, stock int64, shoppers int, inRedis bool) error {
	end := time.Now()
	for inRedis {
		var rows int64
		if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM coupons WHERE campaign_id = $1`, id).Scan(&rows); err != nil {
			return err
		}
		held, err := coupon.RedisClaimed(ctx, env.rdb, id, env.made.stripesOf(id))
		if err != nil {
			return err
		}
		if rows == held {
			break
		}
		if time.Since(end) > time.Minute {
			s.problems = append(s.problems, fmt.Sprintf("PostgreSQL holds %d of Redis's %d claims a minute after the storm", rows, held))
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.catchUp = time.Since(end)
	var holders []int64
	rows, err := env.pool.Query(ctx, `SELECT user_id FROM coupons WHERE campaign_id = $1`, id)
	if err != nil {
		return err
	}
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return err
		}
		holders = append(holders, u)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.pgRows = int64(len(holders))
	s.problems = append(s.problems, s.check(holders, stock, shoppers)...)
	return nil
}

// check lists what is wrong with a storm whose campaign's coupons are holders.
func (s *storm) check(holders []int64, stock int64, shoppers int) []string {
	var p []string
	if s.failed > 0 {
		p = append(p, fmt.Sprintf("%d requests failed (transport error, 5xx or service error), e.g. %q", s.failed, s.examples))
	}
	if s.wrong > 0 {
		p = append(p, fmt.Sprintf("%d wrong answers, e.g. %q", s.wrong, s.examples))
	}
	if want := min(stock, int64(shoppers)); s.claimed != want {
		p = append(p, fmt.Sprintf("%d answered \"claimed\", want %d (%d coupons, %d shoppers)", s.claimed, want, stock, shoppers))
	}
	if s.pgRows > stock {
		p = append(p, fmt.Sprintf("over-issue: %d coupons in PostgreSQL for a stock of %d", s.pgRows, stock))
	}
	if s.pgRows != s.claimed {
		p = append(p, fmt.Sprintf("PostgreSQL holds %d coupons, %d claims were answered \"claimed\"", s.pgRows, s.claimed))
	}
	twice, unheld, unanswered := 0, 0, 0
	held := make(map[int64]bool, len(holders))
	for _, u := range holders {
		held[u] = true
		if s.claimedBy[u] == 0 {
			unanswered++
		}
	}
	for u, n := range s.claimedBy {
		if n > 1 {
			twice++
		}
		if !held[u] {
			unheld++
		}
	}
	if twice+unheld+unanswered > 0 {
		p = append(p, fmt.Sprintf("%d shoppers answered \"claimed\" more than once, %d answered \"claimed\" hold no coupon, %d hold one they were not told of",
			twice, unheld, unanswered))
	}
	return p
}

// httpStorm has every shopper claim once through the shop's HTTP endpoint,
// served by a `bench claims-server` process.
func httpStorm(ctx context.Context, env *claimsEnv, users []int64, cookies []*http.Cookie, stock int64, cpuprofile string) (storm, error) {
	const name = "http: shop"
	id, err := env.made.open(ctx, "Bench HTTP", stock)
	if err != nil {
		return storm{}, err
	}
	// The server is its own process (as `serve` would be): the load
	// generator's CPU and memory are not counted as the server's.
	srv, err := startServer("claims", cpuprofile)
	if err != nil {
		return storm{}, err
	}
	defer srv.stopAndKeepLog("claims")
	conns := dialLater(srv.addr, env.concurrency)
	defer closeAll(conns)
	if err := warmUp(ctx, env.made, conns, cookies); err != nil {
		return storm{}, err
	}
	fmt.Printf("%s: %d shoppers storming campaign %d ...\n", name, len(users), id)
	server0, client0, redis0 := srv.cpuTime(), selfCPU(), redisCPU(ctx, env.rdb)
	s := measured(name, closedLoop(ctx, env.concurrency, users, func(w, i int) (outcome, string) {
		return ofHTTP(conns[w].claim(id, cookies[i]))
	}))
	s.serverCPU, s.clientCPU, s.redisCPU = srv.cpuTime()-server0, selfCPU()-client0, redisCPU(ctx, env.rdb)-redis0
	if err := settle(ctx, env, &s, id, stock, len(users), true); err != nil {
		return s, err
	}
	s.rssMB = srv.peakRSS() >> 20
	return s, nil
}

// ofHTTP judges one HTTP answer (docs/HTTP.md: claimed 200, sold out 410).
func ofHTTP(status int, result string, err error) (outcome, string) {
	switch {
	case err != nil:
		return gotFailure, err.Error()
	case status >= 500:
		return gotFailure, fmt.Sprintf("status %d %q", status, result)
	case status == http.StatusOK && result == string(coupon.Claimed):
		return gotClaimed, ""
	case status == http.StatusGone && result == string(coupon.SoldOut):
		return gotSoldOut, ""
	}
	return gotWrong, fmt.Sprintf("status %d %q", status, result)
}

// dialLater makes one keep-alive connection per worker, dialled on first use
// and reused for every claim.
func dialLater(addr string, n int) []*claimConn {
	conns := make([]*claimConn, n)
	for j := range conns {
		conns[j] = &claimConn{addr: addr}
	}
	return conns
}

func closeAll(conns []*claimConn) {
	for _, c := range conns {
		c.close()
	}
}

// warmUp opens the load generator's keep-alive connections and the server's
// pools (Redis, PostgreSQL, the loaded script) with one untimed claim per
// connection on a separate campaign, so the storm measures a server that is
// already up, as a flash sale meets one, rather than 500 simultaneous dials.
func warmUp(ctx context.Context, made *benchCampaigns, conns []*claimConn, cookies []*http.Cookie) error {
	id, err := made.open(ctx, "Bench warm-up HTTP", int64(len(conns)))
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
		return fmt.Errorf("HTTP warm-up: %d of %d claims failed", n, len(conns))
	}
	return nil
}

// stopAndKeepLog stops the server; its log is removed after a clean run and
// kept (and named) otherwise.
func (c *child) stopAndKeepLog(name string) {
	if err := c.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: bench server: %v (log kept: %s)\n", name, err, c.log)
		return
	}
	_ = os.Remove(c.log)
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
