package failover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/coupon"
	"market/internal/reqctx"
	"market/internal/testenv"
	"market/web"
)

const secret = "failover-test-session-secret-0123456789"

// A claim storm through two app instances while one instance is killed
// (SIGKILL) and the Redis primary holding the campaign is killed too (its
// replica takes over). A request whose answer never arrived may or may not
// have claimed, so only answers count: every shopper answered claimed (or
// already_claimed) holds exactly one coupon in PostgreSQL, no shopper
// answered sold_out holds one, and PostgreSQL never holds more than the stock.
func TestEveryClaimedAnswerSurvivesAKilledInstanceAndAFailover(t *testing.T) {
	for _, tool := range []string{"redis-server", "redis-cli", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH (tools/services.sh, which make test runs, installs Redis from Debian)", tool)
		}
	}
	rng := seeded(t)

	cluster := testenv.StartClusterWith(t, testenv.ClusterOptions{Replicas: 1, AOF: true, NodeTimeout: 1500 * time.Millisecond})
	cc := cluster.Client(t)
	pool, dbURL := testenv.DBWithURL(t)
	bin := buildMarket(t)

	const stock, shoppers = 1600, 2000
	c := openCampaign(t, coupon.NewService(pool, cc, coupon.Options{}), stock)
	began := time.Now()
	users, cookies := shoppersWithSessions(t, pool, cc, shoppers)
	t.Logf("%d shoppers signed in in %v", shoppers, time.Since(began).Round(time.Millisecond))
	rng.Shuffle(len(users), func(i, j int) {
		users[i], users[j] = users[j], users[i]
		cookies[i], cookies[j] = cookies[j], cookies[i]
	})

	// Instance a reaches PostgreSQL through a proxy that is cut just before a
	// dies: its flusher then holds claims it read but could not persist, which
	// only instance b's takeover (XAUTOCLAIM) can bring to PostgreSQL.
	pgProxy := testenv.NewProxy(t, hostOf(t, dbURL))
	apps := []*app{startApp(t, bin, "a", withHost(t, dbURL, pgProxy.Addr()), cluster.Addrs), startApp(t, bin, "b", dbURL, cluster.Addrs)}
	primary, replica := cluster.Shard(t, fmt.Sprintf("coupon:{%d}:meta", c.ID))
	if replica == nil {
		t.Fatalf("campaign %d's primary %s has no replica", c.ID, primary.Addr)
	}

	began = time.Now()
	st := newStorm(apps, c.ID, rng)
	var killed sync.Once
	kill := func() {
		killed.Do(func() {
			pgProxy.Cut()
			time.Sleep(time.Second)
			held, err := cc.XPending(context.Background(), fmt.Sprintf("coupon:{%d}:claims", c.ID), "flusher").Result()
			if err != nil {
				t.Errorf("XPENDING: %v", err)
			} else if t.Logf("%d claims read but not persisted as instance a is killed, by consumer: %v", held.Count, held.Consumers); held.Count == 0 {
				t.Error("no claim was left pending: the takeover of a dead instance's claims goes unproven")
			}
			apps[0].kill()
			primary.Kill()
			st.killedAt.Store(st.sent.Load())
			t.Logf("killed instance a and Redis primary %s after %d claims sent", primary.Addr, st.sent.Load())
		})
	}
	st.run(users, cookies, func(sent int64) {
		if sent == shoppers/5 {
			kill()
		}
	})
	kill()
	t.Logf("storm over in %v", time.Since(began).Round(time.Millisecond))

	stormDone := time.Now()
	persisted := settle(t, pool, cc, c.ID)
	t.Logf("every claim persisted %v after the storm", time.Since(stormDone).Round(time.Millisecond))
	st.check(t, persisted, stock)
	if role, err := replica.Client().Do(t.Context(), "role").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
		t.Errorf("the replica %s did not take over: %v %v", replica.Addr, role, err)
	}
}

// seeded is the storm's randomness, its seed printed (FAILOVER_SEED replays it).
func seeded(t *testing.T) *rand.Rand {
	t.Helper()
	seed := time.Now().UnixNano()
	if s := os.Getenv("FAILOVER_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (FAILOVER_SEED=%d replays the order of shoppers and instances)", seed, seed)
	return rand.New(rand.NewPCG(uint64(seed), 0))
}

func openCampaign(t *testing.T, svc *coupon.Service, stock int64) coupon.Campaign {
	t.Helper()
	c, err := svc.Create(t.Context(), coupon.Input{Name: "Failover", DiscountType: coupon.DiscountFixed, DiscountValue: 1000,
		TotalQuantity: stock, StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour), ValidDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Transition(t.Context(), c.ID, "activate"); err != nil {
		t.Fatal(err)
	}
	return c
}

// storm sends each shopper's claim to a live instance, retrying a 503 or a
// lost answer a few times, as a shopper pressing the button again would.
type storm struct {
	apps     []*app
	campaign int64
	pick     func(n int) int
	mu       sync.Mutex
	final    map[int64]string // user → last answer: claimed, already_claimed, sold_out, not_active, or "unknown"
	unsure   map[int64]bool   // users one of whose tries got no claim answer (it may have claimed)
	afterWin int              // claimed answers that came after the kills
	sent     atomic.Int64
	killedAt atomic.Int64
}

func newStorm(apps []*app, campaign int64, rng *rand.Rand) *storm {
	var mu sync.Mutex
	pick := func(n int) int { mu.Lock(); defer mu.Unlock(); return rng.IntN(n) }
	return &storm{apps: apps, campaign: campaign, pick: pick, final: map[int64]string{}, unsure: map[int64]bool{}}
}

func (s *storm) run(users []int64, cookies []*http.Cookie, onSend func(sent int64)) {
	const workers = 24
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for i := range next {
				answer, unsure := s.claim(client, cookies[i], onSend)
				s.mu.Lock()
				s.final[users[i]] = answer
				s.unsure[users[i]] = unsure
				if answer == "claimed" && s.killedAt.Load() > 0 {
					s.afterWin++
				}
				s.mu.Unlock()
			}
		})
	}
	for i := range users {
		next <- i
		time.Sleep(2 * time.Millisecond) // a storm lasting a few seconds, so that it outlives the failover
	}
	close(next)
	wg.Wait()
}

// claim returns the shopper's last answer ("unknown" when none arrived or the
// last one was not a claim answer), and whether some try got no claim answer:
// a lost answer or a 503 may or may not have claimed.
func (s *storm) claim(client *http.Client, cookie *http.Cookie, onSend func(int64)) (answer string, unsure bool) {
	answer = "unknown"
	for try := 0; try < 8; try++ {
		live := s.live()
		a := live[s.pick(len(live))]
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/coupons/%d/claim", a.url, s.campaign), nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(cookie)
		onSend(s.sent.Add(1))
		resp, err := client.Do(req)
		if err != nil {
			answer, unsure = "unknown", true
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var body struct{ Result string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusConflict, http.StatusGone, http.StatusForbidden, http.StatusNotFound:
			return body.Result, unsure
		}
		answer, unsure = "unknown", true
		time.Sleep(300 * time.Millisecond)
	}
	return answer, unsure
}

func (s *storm) live() []*app {
	var out []*app
	for _, a := range s.apps {
		if !a.dead.Load() {
			out = append(out, a)
		}
	}
	return out
}

func (s *storm) check(t *testing.T, persisted map[int64]int, stock int) {
	t.Helper()
	count := map[string]int{}
	for user, answer := range s.final {
		count[answer]++
		held := persisted[user]
		switch {
		case held > 1:
			t.Errorf("shopper %d holds %d coupons", user, held)
		case (answer == "claimed" || answer == "already_claimed") && held != 1:
			t.Errorf("shopper %d was answered %s but PostgreSQL holds no coupon of theirs", user, answer)
		case (answer == "sold_out" || answer == "not_active") && held != 0 && !s.unsure[user]:
			// (After a try that may have claimed, "sold out" can come from the
			// instance's memory of a sold-out campaign; the coupon is theirs.)
			t.Errorf("shopper %d was only ever answered %s but PostgreSQL holds a coupon of theirs", user, answer)
		}
	}
	total := 0
	for _, n := range persisted {
		total += n
	}
	t.Logf("answers %v; %d claimed after the kills; %d coupons in PostgreSQL of %d", count, s.afterWin, total, stock)
	if total > stock {
		t.Errorf("%d coupons in PostgreSQL, more than the stock %d", total, stock)
	}
	if count["claimed"] == 0 || s.afterWin == 0 {
		t.Errorf("the storm proved nothing: %d claimed, %d of them after the kills", count["claimed"], s.afterWin)
	}
	if count["unknown"] > len(s.final)/10 {
		t.Errorf("%d of %d shoppers never got an answer", count["unknown"], len(s.final))
	}
}

// settle waits until the surviving instance's flusher has persisted every
// claim left in the stream (its own and those the killed instance held), and
// returns the coupons per shopper.
func settle(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, cc *redis.ClusterClient, campaign int64) map[int64]int {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	report := time.Now().Add(5 * time.Second)
	for {
		n, err := cc.XLen(t.Context(), fmt.Sprintf("coupon:{%d}:claims", campaign)).Result()
		var rows, counted int64
		if qerr := pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM coupons WHERE campaign_id = $1), persisted_count FROM campaigns WHERE id = $1`,
			campaign).Scan(&rows, &counted); qerr != nil {
			t.Fatal(qerr)
		}
		if err == nil && n == 0 && rows == counted {
			break
		}
		if err != nil {
			cc.ReloadState(t.Context()) // a failed dial alone does not make the client read the new slot map
		}
		if time.Now().After(report) {
			report = report.Add(5 * time.Second)
			t.Logf("settling: %d claims in the stream (%v), %d coupons, persisted_count %d", n, err, rows, counted)
		}
		if time.Now().After(deadline) {
			t.Fatalf("claims not settled after 45 s: %d in the stream (%v), %d coupons, persisted_count %d", n, err, rows, counted)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := pool.Query(t.Context(), `SELECT user_id, count(*) FROM coupons WHERE campaign_id = $1 GROUP BY user_id`, campaign)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for rows.Next() {
		var u, n int64
		if err := rows.Scan(&u, &n); err != nil {
			t.Fatal(err)
		}
		out[u] = int(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func shoppersWithSessions(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, rdb redis.UniversalClient, n int) ([]int64, []*http.Cookie) {
	t.Helper()
	rows, err := pool.Query(t.Context(), `INSERT INTO users (email, password_hash, name)
		SELECT 'failover-' || g || '@example.test', '!', 'Shopper ' || g FROM generate_series(1, $1::int) g RETURNING id`, n)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	sessions := account.NewSessions(rdb, account.SessionMaxAge)
	cookies := make([]*http.Cookie, len(ids))
	for i, id := range ids {
		if cookies[i], _, err = web.SessionCookie(secret, sessions, reqctx.User{ID: id, Name: "Shopper"}); err != nil {
			t.Fatal(err)
		}
	}
	return ids, cookies
}

// buildMarket builds the real binary once for this test.
func buildMarket(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "market")
	began := time.Now()
	if b, err := exec.Command("go", "build", "-o", out, "market").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	t.Logf("built bin/market in %v", time.Since(began).Round(time.Millisecond))
	return out
}

type app struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	dead atomic.Bool
}

// startApp runs `market serve` as `make cluster` does, with a flusher that
// takes over a dead instance's pending claims after a second.
func startApp(t *testing.T, bin, name, dbURL string, redisAddrs []string) *app {
	t.Helper()
	addr, metrics := freeAddr(t), freeAddr(t)
	a := &app{name: name, url: "http://" + addr, log: filepath.Join(t.TempDir(), name+".log")}
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, "serve")
	a.cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_CLUSTER_ADDRS="+strings.Join(redisAddrs, ","), "REDIS_URL=",
		"ADDR="+addr, "METRICS_ADDR="+metrics, "INSTANCE_NAME="+name, "SESSION_SECRET="+secret,
		"CONSISTENCY_INTERVAL=0", "FLUSH_RECLAIM_IDLE=1s", "FLUSH_INTERVAL=50ms", "LOG_LEVEL=warn")
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !a.dead.Load() {
			_ = a.cmd.Process.Kill()
		}
		_ = a.cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(a.log)
			t.Logf("instance %s log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.url + "/readyz")
		if err == nil {
			var body struct{ Instance string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && body.Instance == name {
				return a
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(a.log)
			t.Fatalf("instance %s not ready after 30 s: %v\n%s", name, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill ends the instance at once, as a crash does: no drain, no goodbye.
func (a *app) kill() {
	a.dead.Store(true)
	_ = a.cmd.Process.Kill()
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, raw, host string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
