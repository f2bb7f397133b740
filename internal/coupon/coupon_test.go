package coupon_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// fastFlush keeps tests quick: short passes and a short reclaim idle.
var fastFlush = coupon.FlushOptions{Batch: 100, Interval: 20 * time.Millisecond, ReclaimIdle: 300 * time.Millisecond}

func newService(t *testing.T, pool *pgxpool.Pool, rdb redis.UniversalClient, f coupon.FlushOptions) *coupon.Service {
	t.Helper()
	return coupon.NewService(pool, rdb, coupon.Options{Flush: f})
}

// startFlusher runs the flusher until the test ends (and waits for its drain).
func startFlusher(t *testing.T, s *coupon.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunFlusher(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func users(t *testing.T, pool *pgxpool.Pool, n int) []int64 {
	t.Helper()
	prefix := fmt.Sprintf("u%d", time.Now().UnixNano())
	rows, err := pool.Query(t.Context(), `INSERT INTO users (email, password_hash, name)
		SELECT $1 || g || '@example.test', 'x', 'Shopper ' || g FROM generate_series(1, $2::int) g RETURNING id`, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func input(total int64) coupon.Input {
	return coupon.Input{Name: "Flash sale", DiscountType: coupon.DiscountFixed, DiscountValue: 3000, TotalQuantity: total,
		StartsAt: time.Now().Add(-time.Minute), EndsAt: time.Now().Add(time.Hour), ValidDays: 7}
}

func activeCampaign(t *testing.T, s *coupon.Service, total int64) int64 {
	t.Helper()
	c, err := s.Create(t.Context(), input(total))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(t.Context(), c.ID, "activate"); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitPersisted waits until the campaign's persisted count reaches want.
func waitPersisted(t *testing.T, pool *pgxpool.Pool, id, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := count(t, pool, "SELECT persisted_count FROM campaigns WHERE id = $1", id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %d: persisted %d, want %d", id, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storm has every shopper claim at once (some twice), behind a start barrier.
// It returns who was told "claimed" and the count of each result.
func storm(t *testing.T, s *coupon.Service, campaignID int64, shoppers []int64, twiceEvery int) (winners map[int64]int, results map[coupon.Result]int, failures int) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	winners, results = map[int64]int{}, map[coupon.Result]int{}
	for i, u := range shoppers {
		times := 1
		if twiceEvery > 0 && i%twiceEvery == 0 {
			times = 2
		}
		for range times {
			wg.Go(func() {
				<-start
				o, err := s.Claim(context.Background(), campaignID, u)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failures++
					return
				}
				results[o.Result]++
				if o.Result == coupon.Claimed {
					winners[u]++
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return winners, results, failures
}

// claimAgain storms every shopper on the campaign again after a fault: the
// first winners hear already_claimed, the others claimed or sold out in the
// numbers given, and nobody wins twice. It returns every holder, the first
// winners too.
func claimAgain(t *testing.T, s *coupon.Service, id int64, shoppers []int64, first map[int64]int, claimed, soldOut int) map[int64]int {
	t.Helper()
	winners, results, failures := storm(t, s, id, shoppers, 0)
	if failures != 0 || results[coupon.AlreadyClaimed] != len(first) || results[coupon.Claimed] != claimed || results[coupon.SoldOut] != soldOut {
		t.Fatalf("claiming again: %v, %d failures", results, failures)
	}
	for u := range first {
		if winners[u] != 0 {
			t.Fatalf("shopper %d claimed twice", u)
		}
		winners[u] = 1
	}
	return winners
}

// checkPersisted proves PostgreSQL holds exactly the winners, once each, and
// that the persisted count agrees.
func checkPersisted(t *testing.T, pool *pgxpool.Pool, id int64, winners map[int64]int, total int64) {
	t.Helper()
	rows := count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1", id)
	if rows > total {
		t.Fatalf("over-issued: %d coupons for %d", rows, total)
	}
	if p := count(t, pool, "SELECT persisted_count FROM campaigns WHERE id = $1", id); p != rows {
		t.Fatalf("persisted_count %d but %d rows", p, rows)
	}
	for u, n := range winners {
		if n != 1 {
			t.Fatalf("shopper %d was told claimed %d times", u, n)
		}
		if count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND user_id = $2", id, u) != 1 {
			t.Fatalf("shopper %d was told claimed but has no coupon in PostgreSQL", u)
		}
	}
}

func TestConcurrentClaimsIssueExactlyTheStockAndPersistIt(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	shoppers := users(t, pool, 2000)
	id := activeCampaign(t, s, 500)
	startFlusher(t, s)

	winners, results, failures := storm(t, s, id, shoppers, 10)
	if failures != 0 || len(winners) != 500 || results[coupon.Claimed] != 500 {
		t.Fatalf("claimed %d (%d shoppers), failures %d, results %v", results[coupon.Claimed], len(winners), failures, results)
	}
	if results[coupon.SoldOut]+results[coupon.AlreadyClaimed] != 2000+200-500 {
		t.Fatalf("the rest should be sold_out or already_claimed: %v", results)
	}
	waitPersisted(t, pool, id, 500, 10*time.Second)
	checkPersisted(t, pool, id, winners, 500)
	if n := count(t, pool, "SELECT count(DISTINCT user_id) FROM coupons WHERE campaign_id = $1", id); n != 500 {
		t.Fatalf("%d distinct shoppers", n)
	}
}

func TestConcurrentClaimsOnRedisCluster(t *testing.T) {
	pool := testenv.DB(t)
	cluster := testenv.StartCluster(t)
	cc := cluster.Client(t)
	s := newService(t, pool, cc, fastFlush)
	shoppers := users(t, pool, 2000)

	// Campaigns until their keys live on at least two different nodes.
	var ids []int64
	nodes := map[string]bool{}
	for len(ids) < 3 || len(nodes) < 2 {
		id := activeCampaign(t, s, 500)
		ids = append(ids, id)
		n, err := cc.MasterForKey(t.Context(), fmt.Sprintf("coupon:{%d}:meta", id))
		if err != nil {
			t.Fatal(err)
		}
		nodes[n.Options().Addr] = true
		if len(ids) > 10 {
			t.Fatal("campaigns never spread over nodes")
		}
	}
	startFlusher(t, s)

	var wg sync.WaitGroup
	type res struct {
		winners map[int64]int
		results map[coupon.Result]int
		fail    int
	}
	out := make([]res, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			w, r, f := storm(t, s, id, shoppers, 10)
			out[i] = res{w, r, f}
		})
	}
	wg.Wait()
	for i, id := range ids {
		if out[i].fail != 0 || len(out[i].winners) != 500 || out[i].results[coupon.Claimed] != 500 {
			t.Fatalf("campaign %d: %v, %d failures", id, out[i].results, out[i].fail)
		}
		waitPersisted(t, pool, id, 500, 20*time.Second)
		checkPersisted(t, pool, id, out[i].winners, 500)
	}
}

func TestClaimsToldSucceededSurviveRedisKill9(t *testing.T) {
	pool := testenv.DB(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 1500)
	id := activeCampaign(t, s, 1000)
	startFlusher(t, s)

	var (
		mu      sync.Mutex
		winners = map[int64]int{}
		wg      sync.WaitGroup
		start   = make(chan struct{})
		done    atomic.Int64
	)
	for _, u := range shoppers {
		wg.Go(func() {
			<-start
			// Each shopper keeps trying until they get an answer, as a person would.
			for attempt := 0; attempt < 200; attempt++ {
				o, err := s.Claim(context.Background(), id, u)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if o.Result == coupon.Claimed {
					mu.Lock()
					winners[u]++
					mu.Unlock()
				}
				break
			}
			done.Add(1)
		})
	}
	close(start)
	for done.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	srv.Kill() // kill -9, mid-storm
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	wg.Wait()

	if len(winners) == 0 || len(winners) > 1000 {
		t.Fatalf("%d winners", len(winners))
	}
	claimed, err := rdb.HLen(t.Context(), fmt.Sprintf("coupon:{%d}:claimed", id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	// A claim whose reply was lost in the crash may be in Redis without a
	// winner knowing; never the other way round, and never over the total.
	if claimed < int64(len(winners)) || claimed > 1000 {
		t.Fatalf("Redis holds %d claims, %d shoppers were told they won", claimed, len(winners))
	}
	waitPersisted(t, pool, id, claimed, 15*time.Second)
	checkPersisted(t, pool, id, winners, 1000)
}

func TestEntriesOfADeadConsumerAreReclaimedOnce(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 300)
	id := activeCampaign(t, s, 300)
	winners, _, _ := storm(t, s, id, shoppers, 0)

	// A consumer reads a batch and dies before XACK.
	stream := fmt.Sprintf("coupon:{%d}:claims", id)
	got, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "flusher", Consumer: "dead", Streams: []string{stream, ">"}, Count: 120, Block: -1}).Result()
	if err != nil || len(got[0].Messages) != 120 {
		t.Fatalf("dead consumer read %v, %v", got, err)
	}
	startFlusher(t, s)
	waitPersisted(t, pool, id, 300, 10*time.Second)
	checkPersisted(t, pool, id, winners, 300)
	if n := count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1", id); n != 300 {
		t.Fatalf("%d rows", n)
	}
	pend, err := rdb.XPending(t.Context(), stream, "flusher").Result()
	if err != nil || pend.Count != 0 {
		t.Fatalf("still pending: %+v %v", pend, err)
	}
}

// proxy forwards TCP to PostgreSQL and can cut every connection, as if the
// server were stopped, without touching the shared test server.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestClaimsGoOnWhilePostgresIsDownAndTheBacklogDrains(t *testing.T) {
	direct, raw := testenv.DBWithURL(t)
	u, _ := url.Parse(raw)
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	pool, err := db.Open(t.Context(), u.String(), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	shoppers := users(t, direct, 800)
	id := activeCampaign(t, s, 600)
	startFlusher(t, s)

	p.cut() // PostgreSQL "stopped"
	winners, results, failures := storm(t, s, id, shoppers, 0)
	if failures != 0 || results[coupon.Claimed] != 600 {
		t.Fatalf("claims must go on without PostgreSQL: %v, %d failures", results, failures)
	}
	time.Sleep(2 * time.Second)
	if n := count(t, direct, "SELECT persisted_count FROM campaigns WHERE id = $1", id); n != 0 {
		t.Fatalf("persisted %d while PostgreSQL was unreachable", n)
	}
	p.down.Store(false) // back
	waitPersisted(t, direct, id, 600, 15*time.Second)
	checkPersisted(t, direct, id, winners, 600)
}

func TestRedisWipedMidCampaignIsRebuiltWithoutDoubleClaims(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 400)
	id := activeCampaign(t, s, 300)
	stop := startFlusher(t, s)

	first, _, _ := storm(t, s, id, shoppers[:100], 0)
	waitPersisted(t, pool, id, 100, 10*time.Second)
	if err := rdb.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}

	// Everyone claims again: the first hundred already hold one.
	winners := claimAgain(t, s, id, shoppers, first, 200, 100)
	waitPersisted(t, pool, id, 300, 10*time.Second)
	stop()
	checkPersisted(t, pool, id, winners, 300)
	if n := count(t, pool, "SELECT count(*) FROM campaign_events WHERE campaign_id = $1 AND kind = 'rebuild'", id); n < 1 {
		t.Fatal("the rebuild was not recorded")
	}
}

func TestSyncUserPersistsAFreshClaimOnce(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	u := users(t, pool, 1)[0]
	id := activeCampaign(t, s, 10)
	if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != coupon.Claimed || o.Remaining != 9 {
		t.Fatalf("claim: %+v %v", o, err)
	}
	if err := s.SyncUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListForUser(t.Context(), u)
	if err != nil || len(list) != 1 || list[0].Status != coupon.StatusIssued || list[0].DiscountText != "₩3,000 off" {
		t.Fatalf("coupons: %+v %v", list, err)
	}
	// The flusher later meets the same entry: no second row, no second count.
	startFlusher(t, s)
	time.Sleep(200 * time.Millisecond)
	waitPersisted(t, pool, id, 1, 5*time.Second)
	if n := count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1", id); n != 1 {
		t.Fatalf("%d rows", n)
	}
}

// A shopper who holds a coupon hears so when pressing Claim again after the
// campaign sold out (say, their first answer was lost on the way): the shop
// asks Redis, which knows, rather than answering "sold out" from memory.
func TestAHolderIsToldAlreadyClaimedAfterTheSellOut(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	us := users(t, pool, 3)
	id := activeCampaign(t, s, 2)
	for i, want := range []coupon.Result{coupon.Claimed, coupon.Claimed, coupon.SoldOut, coupon.AlreadyClaimed, coupon.SoldOut, coupon.AlreadyClaimed} {
		u := us[[]int{0, 1, 2, 0, 2, 1}[i]]
		if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != want {
			t.Fatalf("claim %d by user %d: %+v %v, want %s", i+1, u, o, err, want)
		}
	}
}

// A coupon claimed just before its campaign ends is the shopper's at once,
// before the flusher has run, as in a live campaign.
func TestSyncUserFindsAClaimMadeJustBeforeTheEnd(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush) // no flusher started
	u := users(t, pool, 1)[0]
	id := activeCampaign(t, s, 10)
	if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != coupon.Claimed {
		t.Fatalf("claim: %+v %v", o, err)
	}
	if _, err := s.Transition(t.Context(), id, "end"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListForUser(t.Context(), u)
	if err != nil || len(list) != 1 || list[0].CampaignID != id {
		t.Fatalf("coupons after the end: %+v %v", list, err)
	}
}

func TestClaimAnswersNotActiveOutsideTheActiveWindow(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	u := users(t, pool, 1)[0]

	draft, _ := s.Create(t.Context(), input(5))
	paused := activeCampaign(t, s, 5)
	if _, err := s.Transition(t.Context(), paused, "pause"); err != nil {
		t.Fatal(err)
	}
	ended := activeCampaign(t, s, 5)
	if _, err := s.Transition(t.Context(), ended, "end"); err != nil {
		t.Fatal(err)
	}
	early := input(5)
	early.StartsAt, early.EndsAt = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
	future, _ := s.Create(t.Context(), early)
	if _, err := s.Transition(t.Context(), future.ID, "activate"); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]int64{"draft": draft.ID, "paused": paused, "ended": ended, "before the window": future.ID} {
		t.Run(name, func(t *testing.T) {
			o, err := s.Claim(t.Context(), id, u)
			if err != nil || o.Result != coupon.NotActive {
				t.Fatalf("%+v %v", o, err)
			}
		})
	}
	if _, err := s.Claim(t.Context(), 999999, u); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown campaign: %v", err)
	}
	if n := count(t, pool, "SELECT count(*) FROM coupons"); n != 0 {
		t.Fatalf("%d coupons issued", n)
	}
	// Resuming a paused campaign opens it again.
	if _, err := s.Transition(t.Context(), paused, "activate"); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Claim(t.Context(), paused, u); err != nil || o.Result != coupon.Claimed {
		t.Fatalf("after resume: %+v %v", o, err)
	}
}

func TestCampaignStateMachine(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	tests := []struct {
		name    string
		actions []string
		wantErr errs.Code // of the last action
	}{
		{"draft activates", []string{"activate"}, ""},
		{"active pauses and resumes", []string{"activate", "pause", "activate"}, ""},
		{"paused ends", []string{"activate", "pause", "end"}, ""},
		{"draft cannot pause", []string{"pause"}, errs.Conflict},
		{"draft cannot end", []string{"end"}, errs.Conflict},
		{"ended cannot resume", []string{"activate", "end", "activate"}, errs.Conflict},
		{"active cannot activate", []string{"activate", "activate"}, errs.Conflict},
		{"unknown action", []string{"explode"}, errs.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := s.Create(t.Context(), input(5))
			var err error
			for _, a := range tt.actions {
				_, err = s.Transition(t.Context(), c.ID, a)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && !errs.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCampaignValidation(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	cap := int64(5000)
	tests := []struct {
		name  string
		edit  func(*coupon.Input)
		field string
	}{
		{"window ends before it starts", func(in *coupon.Input) { in.EndsAt = in.StartsAt.Add(-time.Minute) }, "ends_at"},
		{"zero quantity", func(in *coupon.Input) { in.TotalQuantity = 0 }, "total_quantity"},
		{"negative quantity", func(in *coupon.Input) { in.TotalQuantity = -5 }, "total_quantity"},
		{"percent over 100", func(in *coupon.Input) { in.DiscountType, in.DiscountValue, in.MaxDiscount = "percent", 101, &cap }, "discount_value"},
		{"percent without a cap", func(in *coupon.Input) { in.DiscountType, in.DiscountValue = "percent", 10 }, "max_discount"},
		{"unknown discount type", func(in *coupon.Input) { in.DiscountType = "free" }, "discount_type"},
		{"empty name", func(in *coupon.Input) { in.Name = "  " }, "name"},
		{"validity over a year", func(in *coupon.Input) { in.ValidDays = 400 }, "valid_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(5)
			tt.edit(&in)
			_, err := s.Create(t.Context(), in)
			e, ok := errs.As(err)
			if !ok || e.Code != errs.Invalid || e.Fields[tt.field] == "" {
				t.Fatalf("got %v, want a message on %s", err, tt.field)
			}
		})
	}
	if n := count(t, pool, "SELECT count(*) FROM campaigns"); n != 0 {
		t.Fatalf("%d campaigns stored", n)
	}
}

func TestLiveQuantityCannotGoBelowClaimed(t *testing.T) {
	pool := testenv.DB(t)
	s := newService(t, pool, testenv.Redis(t), fastFlush)
	shoppers := users(t, pool, 3)
	id := activeCampaign(t, s, 5)
	for _, u := range shoppers {
		if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != coupon.Claimed {
			t.Fatal(o, err)
		}
	}
	in := input(2)
	if _, err := s.Update(t.Context(), id, in); !errs.Is(err, errs.Conflict) {
		t.Fatalf("below claimed: %v", err)
	}
	in.TotalQuantity = 3
	c, err := s.Update(t.Context(), id, in)
	if err != nil || c.TotalQuantity != 3 {
		t.Fatalf("to exactly claimed: %+v %v", c, err)
	}
	if o, err := s.Claim(t.Context(), id, users(t, pool, 1)[0]); err != nil || o.Result != coupon.SoldOut {
		t.Fatalf("after shrinking: %+v %v", o, err)
	}
}

func TestDiscountAmount(t *testing.T) {
	cap := int64(5000)
	tests := []struct {
		name     string
		d        coupon.Discount
		subtotal int64
		want     int64
	}{
		{"fixed", coupon.Discount{Type: "fixed", Value: 3000}, 20000, 3000},
		{"fixed never above the subtotal", coupon.Discount{Type: "fixed", Value: 3000}, 2000, 2000},
		{"below the minimum order", coupon.Discount{Type: "fixed", Value: 3000, MinOrderAmount: 30000}, 20000, 0},
		{"percent", coupon.Discount{Type: "percent", Value: 10, MaxDiscount: &cap}, 20000, 2000},
		{"percent capped", coupon.Discount{Type: "percent", Value: 10, MaxDiscount: &cap}, 90000, 5000},
	}
	for _, tt := range tests {
		if got := tt.d.Amount(tt.subtotal); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2025-05-01T10:00", "2025-05-01T10:00:30", "2025-05-01T10:00:00+09:00", "", "x", "2025-13-01T10:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := coupon.ParseTime(s)
		if err == nil && tm.IsZero() {
			t.Fatalf("%q parsed to the zero time", s)
		}
		if err != nil && !tm.IsZero() {
			t.Fatalf("%q: error with a time", s)
		}
	})
}
