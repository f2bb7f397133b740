package coupon_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// redisFigures reads what Redis holds of a campaign: state, total, claimed, stock.
func redisFigures(t *testing.T, rdb redis.UniversalClient, id int64) (state string, total, claimed, stock int64) {
	t.Helper()
	p := fmt.Sprintf("coupon:{%d}:", id)
	meta, err := rdb.HMGet(context.Background(), p+"meta", "state", "total").Result()
	if err != nil {
		t.Fatal(err)
	}
	state, _ = meta[0].(string)
	ts, _ := meta[1].(string)
	total, _ = strconv.ParseInt(ts, 10, 64)
	claimed = rdb.HLen(context.Background(), p+"claimed").Val()
	stock, _ = rdb.Get(context.Background(), p+"stock").Int64()
	return state, total, claimed, stock
}

// agree fails unless Redis holds the campaign exactly as PostgreSQL does and
// its counters add up.
func agree(t *testing.T, pool *pgxpool.Pool, rdb redis.UniversalClient, id int64, context string) {
	t.Helper()
	var pgState string
	var pgTotal int64
	if err := pool.QueryRow(t.Context(), "SELECT state, total_quantity FROM campaigns WHERE id = $1", id).Scan(&pgState, &pgTotal); err != nil {
		t.Fatal(err)
	}
	state, total, claimed, stock := redisFigures(t, rdb, id)
	if state != pgState || total != pgTotal || claimed+stock != total {
		t.Fatalf("%s: campaign %d split: Redis %s total %d (claimed %d + stock %d), PostgreSQL %s total %d",
			context, id, state, total, claimed, stock, pgState, pgTotal)
	}
}

// A dozen admins resize one live campaign at the same instant, each to a
// different total, on two instances, forty rounds in a row: every round ends
// with Redis and PostgreSQL on the same total.
func TestSimultaneousResizesNeverSplitTheTotal(t *testing.T) {
	pool, url := testenv.DBWithURL(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	a := newService(t, pool, srv.Client(), fastFlush)
	b := newService(t, testenv.OpenPool(t, url), srv.Client(), fastFlush)
	shoppers := users(t, pool, 40)
	id := activeCampaign(t, a, 100)
	for _, u := range shoppers[:30] {
		if _, err := a.Claim(t.Context(), id, u); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 40 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 12 {
			s := a
			if i%2 == 1 {
				s = b
			}
			total := int64(25 + round + 7*i) // some below the 30 claimed: refused
			wg.Go(func() {
				<-start
				_, err := s.Update(context.Background(), id, coupon.Input{TotalQuantity: total})
				if err != nil && !errs.Is(err, errs.Conflict) {
					t.Errorf("round %d: resize to %d: %v", round, total, err)
				}
			})
		}
		close(start)
		wg.Wait()
		agree(t, pool, srv.Client(), id, fmt.Sprintf("round %d", round))
	}
}

// A change whose PostgreSQL write fails leaves Redis no higher than
// PostgreSQL: a larger total never reaches Redis, and a smaller one that
// reached Redis first is put back by the next sync.
func TestAResizeWhosePostgresWriteFailsLeavesRedisNoHigher(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	id := activeCampaign(t, s, 20)
	// The database refuses two totals, as a failing commit would.
	exec(t, pool, `CREATE FUNCTION refuse_total() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.total_quantity IN (13, 50) THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`)
	exec(t, pool, `CREATE TRIGGER refuse_total BEFORE UPDATE ON campaigns FOR EACH ROW EXECUTE FUNCTION refuse_total()`)

	if _, err := s.Update(t.Context(), id, coupon.Input{TotalQuantity: 50}); err == nil {
		t.Fatal("the larger total was saved although PostgreSQL refused it")
	}
	agree(t, pool, rdb, id, "after a larger total failed")

	if _, err := s.Update(t.Context(), id, coupon.Input{TotalQuantity: 13}); err == nil {
		t.Fatal("the smaller total was saved although PostgreSQL refused it")
	}
	if _, total, _, _ := redisFigures(t, rdb, id); total > 20 {
		t.Fatalf("Redis offers a total of %d above PostgreSQL's 20", total)
	}
	if _, err := s.SyncAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	agree(t, pool, rdb, id, "after a smaller total failed and the next sync")
}

// A rebuild that a claim starts and an admin's resize on another instance,
// at the same moment, forty times: the rebuild never writes back the total
// it read before the resize.
func TestARebuildNeverWritesBackOlderFigures(t *testing.T) {
	pool, url := testenv.DBWithURL(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := srv.Client()
	a := newService(t, pool, rdb, fastFlush)
	b := newService(t, testenv.OpenPool(t, url), srv.Client(), fastFlush)
	shoppers := users(t, pool, 40)
	id := activeCampaign(t, a, 100)
	for round := range 40 {
		keys := fmt.Sprintf("coupon:{%d}:", id)
		if err := rdb.Del(t.Context(), keys+"meta", keys+"stock", keys+"claimed").Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if _, err := a.Claim(context.Background(), id, shoppers[round]); err != nil && !errs.Is(err, errs.Busy) {
				t.Errorf("claim: %v", err)
			}
		})
		wg.Go(func() {
			<-start
			if _, err := b.Update(context.Background(), id, coupon.Input{TotalQuantity: int64(200 + round)}); err != nil {
				t.Errorf("resize: %v", err)
			}
		})
		close(start)
		wg.Wait()
		agree(t, pool, rdb, id, fmt.Sprintf("round %d", round))
	}
}

// A pause or an end while Redis cannot be reached changes nothing and says
// so: committed and left pending, it let shoppers claim on a campaign the
// admin was told had stopped, once Redis came back holding the old state.
// A resume is committed, shown pending, and reaches Redis as soon as it is
// back; an ended campaign that Redis loses is restored at start-up.
func TestAStopNeedsRedisAndAResumeReachesItWhenBack(t *testing.T) {
	pool := testenv.DB(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	direct := srv.Client()
	p := testenv.NewProxy(t, srv.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1})
	t.Cleanup(func() { viaProxy.Close() })
	s := coupon.NewService(pool, viaProxy, coupon.Options{Flush: fastFlush, Sync: coupon.SyncOptions{Interval: 50 * time.Millisecond}})
	id := activeCampaign(t, s, 10)
	audited := count(t, pool, "SELECT count(*) FROM audit_log")

	p.Cut()
	for _, action := range []string{"pause", "end"} {
		if _, err := s.Transition(t.Context(), id, action); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("%s while Redis is unreachable: %v, want unavailable", action, err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM campaigns WHERE id = $1 AND state = 'active' AND redis_pending_since IS NULL", id); n != 1 {
		t.Fatal("a refused stop changed the campaign")
	}
	if n := count(t, pool, "SELECT count(*) FROM audit_log"); n != audited {
		t.Fatalf("a refused stop left %d audit rows", n-audited)
	}
	p.Restore()
	if _, err := s.Transition(t.Context(), id, "pause"); err != nil {
		t.Fatal(err)
	}
	if state, _, _, _ := redisFigures(t, direct, id); state != coupon.StatePaused {
		t.Fatalf("Redis holds %s the moment the pause is answered", state)
	}

	p.Cut()
	c, err := s.Transition(t.Context(), id, "activate")
	if err != nil {
		t.Fatalf("resume while Redis is unreachable: %v", err)
	}
	if c.State != coupon.StateActive || c.RedisPendingSince == nil {
		t.Fatalf("want active and pending, got %s pending %v", c.State, c.RedisPendingSince)
	}
	p.Restore()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunSync(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 5*time.Second, "Redis to hear the campaign resumed", func() bool {
		state, _, _, _ := redisFigures(t, direct, id)
		return state == coupon.StateActive
	})
	waitFor(t, 5*time.Second, "the pending mark to clear", func() bool {
		return count(t, pool, "SELECT count(*) FROM campaigns WHERE id = $1 AND redis_pending_since IS NULL", id) == 1
	})

	if _, err := s.Transition(t.Context(), id, "end"); err != nil {
		t.Fatal(err)
	}
	if err := direct.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SyncAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	agree(t, pool, direct, id, "after start-up")
}

// A crowd that arrives after Redis lost a campaign, on two instances, causes
// one rebuild: the others wait for it or are told to try again.
func TestACrowdAfterAWipeCausesOneRebuild(t *testing.T) {
	pool, url := testenv.DBWithURL(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	a := newService(t, pool, srv.Client(), fastFlush)
	b := newService(t, testenv.OpenPool(t, url), srv.Client(), fastFlush)
	shoppers := users(t, pool, 300)
	id := activeCampaign(t, a, 2500)
	// A campaign big enough that its rebuild crosses several chunks.
	exec(t, pool, `INSERT INTO users (email, password_hash, name) SELECT 'bulk' || g || '@example.test', 'x', 'Bulk' FROM generate_series(1, 2200) g`)
	exec(t, pool, `WITH ins AS (INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at)
		SELECT $1, id, now(), now() + interval '7 days' FROM users WHERE email LIKE 'bulk%' RETURNING 1)
		UPDATE campaigns SET persisted_count = (SELECT count(*) FROM ins) WHERE id = $1`, id)
	if err := srv.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	before := count(t, pool, "SELECT count(*) FROM campaign_events WHERE campaign_id = $1 AND kind = 'rebuild'", id)
	acquiredBefore := pool.Stat().AcquireCount()

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		start   = make(chan struct{})
		results = map[string]int{}
	)
	for i, u := range shoppers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			o, err := s.Claim(context.Background(), id, u)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errs.Is(err, errs.Busy):
				results["busy"]++
			case err != nil:
				t.Errorf("claim: %v", err)
			default:
				results[string(o.Result)]++
			}
		})
	}
	close(start)
	wg.Wait()
	if n := count(t, pool, "SELECT count(*) FROM campaign_events WHERE campaign_id = $1 AND kind = 'rebuild'", id) - before; n != 1 {
		t.Fatalf("%d rebuilds for one wipe (results %v)", n, results)
	}
	if results["claimed"] != 300-results["busy"] || results["busy"] >= 150 {
		t.Fatalf("results %v", results)
	}
	// The instance's 150 claims waited for one restore; they did not each
	// take a PostgreSQL connection to queue for the lock.
	if n := pool.Stat().AcquireCount() - acquiredBefore; n > 5 {
		t.Fatalf("instance a took %d PostgreSQL connections for one restore", n)
	}
	agree(t, pool, srv.Client(), id, "after the crowd")
	if _, _, claimed, _ := redisFigures(t, srv.Client(), id); claimed != 2200+int64(results["claimed"]) {
		t.Fatalf("Redis holds %d claimed, want %d", claimed, 2200+results["claimed"])
	}
}

// A Redis that came back behind PostgreSQL (an older snapshot: keys present,
// some persisted claims missing from the claimed hash, the stock counted
// from what is left) is rebuilt by the next sync, before those shoppers can
// claim again and the stock is offered twice.
func TestARedisBehindPostgresIsRebuilt(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	startFlusher(t, s)
	shoppers := users(t, pool, 5)
	id := activeCampaign(t, s, 5)
	for _, u := range shoppers[:3] {
		if _, err := s.Claim(t.Context(), id, u); err != nil {
			t.Fatal(err)
		}
	}
	waitPersisted(t, pool, id, 3, 5*time.Second)
	k := fmt.Sprintf("coupon:{%d}:", id)
	rdb.HDel(t.Context(), k+"claimed", strconv.FormatInt(shoppers[0], 10), strconv.FormatInt(shoppers[1], 10))
	rdb.Set(t.Context(), k+"stock", 4, 0)
	if _, err := s.SyncAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	agree(t, pool, rdb, id, "after the sync")
	for _, u := range shoppers[:2] {
		if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != coupon.AlreadyClaimed {
			t.Fatalf("a shopper whose claim Redis had lost: %v %v", o, err)
		}
	}
	if _, _, claimed, stock := redisFigures(t, rdb, id); claimed != 3 || stock != 2 {
		t.Fatalf("Redis holds %d claimed and %d in stock, want 3 and 2", claimed, stock)
	}
}

// A PostgreSQL error that passes (here a serialization failure, five times)
// keeps the claims pending and retried; nothing is dead-lettered.
func TestTransientPostgresErrorsAreRetriedNotDeadLettered(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 20)
	id := activeCampaign(t, s, 100)
	// A sequence counts the failures: it is not rolled back with them.
	exec(t, pool, `CREATE SEQUENCE failures`)
	exec(t, pool, `CREATE FUNCTION fail_five_times() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('failures') <= 5 THEN RAISE EXCEPTION 'try again' USING ERRCODE = 'serialization_failure'; END IF;
			RETURN NEW;
		END $$`)
	exec(t, pool, `CREATE TRIGGER fail_five_times BEFORE INSERT ON coupons FOR EACH ROW EXECUTE FUNCTION fail_five_times()`)
	for _, u := range shoppers {
		if _, err := s.Claim(t.Context(), id, u); err != nil {
			t.Fatal(err)
		}
	}
	startFlusher(t, s)
	waitPersisted(t, pool, id, 20, 5*time.Second)
	if n := count(t, pool, "SELECT count(*) FROM coupon_dead_letters"); n != 0 {
		t.Fatalf("%d claims dead-lettered for an error that passes", n)
	}
	if n := count(t, pool, "SELECT last_value FROM failures"); n < 6 {
		t.Fatalf("the trigger ran %d times; it should have failed five inserts first", n)
	}
}

// A claim on a campaign that does not exist answers "not found" and writes
// nothing to Redis.
func TestAClaimOnAnUnknownCampaignTouchesNothingInRedis(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	u := users(t, pool, 1)[0]
	if _, err := s.Claim(t.Context(), 999999999, u); !errs.Is(err, errs.NotFound) {
		t.Fatalf("want not found, got %v", err)
	}
	if keys := rdb.Keys(t.Context(), "*").Val(); len(keys) != 0 {
		t.Fatalf("Redis now holds %v", keys)
	}
}

// A dead-lettered claim is still a claim: after Redis loses the campaign,
// its stock is not offered again, and the re-drive persists it once the
// cause is gone.
func TestARebuildCountsDeadLettersAsClaimed(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	startFlusher(t, s)
	shoppers := users(t, pool, 3)
	id := activeCampaign(t, s, 2)
	// PostgreSQL refuses the first shopper's coupon as data, for now.
	exec(t, pool, fmt.Sprintf(`CREATE FUNCTION refuse_coupon() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.user_id = %d THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$`, shoppers[0]))
	exec(t, pool, `CREATE TRIGGER refuse_coupon BEFORE INSERT ON coupons FOR EACH ROW EXECUTE FUNCTION refuse_coupon()`)
	if o, err := s.Claim(t.Context(), id, shoppers[0]); err != nil || o.Result != coupon.Claimed {
		t.Fatalf("first claim: %v %v", o, err)
	}
	waitFor(t, 5*time.Second, "the refused claim to be dead-lettered", func() bool {
		return count(t, pool, "SELECT count(*) FROM coupon_dead_letters WHERE campaign_id = $1", id) == 1
	})
	if err := rdb.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	got := map[coupon.Result]int{}
	for _, u := range shoppers[1:] {
		o, err := s.Claim(t.Context(), id, u)
		if err != nil {
			t.Fatal(err)
		}
		got[o.Result]++
	}
	if got[coupon.Claimed] != 1 || got[coupon.SoldOut] != 1 {
		t.Fatalf("two coupons left to three shoppers: %v", got)
	}
	exec(t, pool, `DROP TRIGGER refuse_coupon ON coupons`)
	r, err := s.RedriveDeadLetters(t.Context(), id)
	if err != nil || r.Persisted != 1 || r.Failed != 0 {
		t.Fatalf("redrive: %+v %v", r, err)
	}
	waitPersisted(t, pool, id, 2, 5*time.Second)
}

// PostgreSQL stopped far longer than a few flush attempts: claims go on, no
// claim is dead-lettered, the oldest-pending metric shows the backlog, and
// once PostgreSQL is back the backlog drains within 5 s.
func TestAPostgresOutageNeverDeadLettersAndDrainsQuickly(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pool, _ := pg.DB(t)
	rdb := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	s := coupon.NewService(pool, rdb, coupon.Options{Metrics: coupon.NewMetrics(reg), Flush: coupon.FlushOptions{Batch: 100, Interval: 20 * time.Millisecond, ReclaimIdle: 100 * time.Millisecond}})
	startFlusher(t, s)
	shoppers := users(t, pool, 600)
	id := activeCampaign(t, s, 1000)
	time.Sleep(200 * time.Millisecond) // the flusher has seen the campaign

	pg.Stop()
	for _, u := range shoppers {
		if o, err := s.Claim(t.Context(), id, u); err != nil || o.Result != coupon.Claimed {
			t.Fatalf("claim while PostgreSQL is down: %v %v", o, err)
		}
	}
	time.Sleep(3 * time.Second) // many times the old retry budget at this reclaim idle
	if age := gauge(t, reg, "market_coupon_flush_oldest_pending_seconds"); age < 2 {
		t.Fatalf("oldest pending claim is %.1f s old by the metric; the backlog is older", age)
	}
	pg.Start()
	back := time.Now()
	waitPersisted(t, pool, id, 600, 5*time.Second)
	t.Logf("600 claims persisted %v after PostgreSQL came back", time.Since(back).Round(time.Millisecond))
	if n := count(t, pool, "SELECT count(*) FROM coupon_dead_letters"); n != 0 {
		t.Fatalf("%d claims dead-lettered during an outage", n)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A rebuild writes a campaign's claimed hash in chunks and its stock last.
// Keys lost between those steps (a FLUSHALL, a failover, a key deleted by
// hand) must make the rebuild fail and run again, never leave stock beside a
// hash that forgot shoppers: they would be told "claimed" a second time.
// The keys are deleted at random moments within a rebuild's measured span.
func TestKeysLostDuringARebuildAreNeverTrusted(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	const holders = 5000
	shoppers := users(t, pool, holders)
	for _, k := range []int64{1, 3} {
		t.Run(fmt.Sprintf("stripes=%d", k), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(k)))
			id := stripedCampaign(t, s, holders+1000, k)
			ats := make([]time.Time, len(shoppers))
			for i := range ats {
				ats[i] = time.Now()
			}
			if err := db.WithTx(t.Context(), pool, func(q *db.Queries) error {
				_, err := q.InsertClaims(t.Context(), db.InsertClaimsParams{CampaignID: id, UserIds: shoppers, ClaimedAts: ats})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			keys := coupon.StripeKeys(id, int(k))
			lose := func(stripe int) {
				if err := rdb.Del(context.Background(), keys[stripe][:3]...).Err(); err != nil {
					t.Error(err)
				}
			}
			loseAll := func() {
				for i := range keys {
					lose(i)
				}
			}
			// warmClaims is the claims Redis holds when every stripe can take
			// claims (stock and state present), else -1.
			warmClaims := func() int64 {
				var sum int64
				for _, sk := range keys {
					n, err := rdb.Exists(t.Context(), sk[0], sk[1]).Result()
					if err != nil {
						t.Fatal(err)
					}
					if n != 2 {
						return -1
					}
					sum += rdb.HLen(t.Context(), sk[2]).Val()
				}
				return sum
			}
			refused := 0
			rebuild := func() {
				if err := s.SyncPass(t.Context()); err != nil {
					refused++ // keys lost mid-rebuild: it runs again
				}
			}
			loseAll()
			began := time.Now()
			rebuild()
			span := time.Since(began)
			if got := warmClaims(); got != holders {
				t.Fatalf("after a rebuild without faults Redis holds %d claims, want %d", got, holders)
			}
			trusted := 0
			for range 40 {
				loseAll()
				var lost sync.WaitGroup
				lost.Go(func() {
					time.Sleep(time.Duration(rng.Int64N(int64(span) * 5 / 4)))
					lose(rng.IntN(int(k)))
				})
				rebuild()
				lost.Wait()
				switch got := warmClaims(); got {
				case -1: // the rebuild failed, or the keys went after it: claims wait for the next one
				case holders:
					trusted++
				default:
					t.Fatalf("Redis takes claims holding %d of %d claims: the rest could claim again", got, holders)
				}
			}
			rebuild()
			if got := warmClaims(); got != holders {
				t.Fatalf("after the faults a rebuild left %d claims, want %d", got, holders)
			}
			t.Logf("a rebuild takes %v; of 40 faulted rebuilds %d failed, %d ended warm and whole", span, refused, trusted)
		})
	}
}

// A claimed hash deleted alone (its stock and meta kept) is rebuilt, not
// trusted: a claim on it would let every holder claim again, and stock
// recomputed from it would offer every claimed coupon again.
func TestAClaimedHashLostAloneIsRebuiltNotTrusted(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	startFlusher(t, s)
	shoppers := users(t, pool, 60)
	for _, k := range []int64{1, 3} {
		t.Run(fmt.Sprintf("stripes=%d", k), func(t *testing.T) {
			id := stripedCampaign(t, s, 50, k)
			first, _, failures := storm(t, s, id, shoppers[:40], 0)
			if failures != 0 || len(first) != 40 {
				t.Fatalf("before: %d winners, %d failures", len(first), failures)
			}
			keys := coupon.StripeKeys(id, int(k))
			if err := rdb.Del(t.Context(), keys[len(keys)-1][2]).Err(); err != nil { // the last stripe's claimed hash
				t.Fatal(err)
			}
			// The next claims find it before any sync pass: nobody claims twice.
			claimAgain(t, s, id, shoppers, first, 10, 10)
			waitPersisted(t, pool, id, 50, 10*time.Second)
			agreeSummed(t, pool, s, id, "after the storm")
		})
	}
}

// Redis wiped while the flusher holds a batch it read but has not written:
// the rebuild cannot see that batch (gone from the stream, not yet in
// PostgreSQL) and offers its stock again, so the batch must not be written
// after it (the campaign's epoch). Those shoppers lose their claim, as a
// wipe loses every claim not yet persisted; nothing is issued twice or over
// the total, and nothing is dead-lettered.
func TestABatchReadBeforeAWipeIsNotWrittenAfterTheRebuild(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	startFlusher(t, s)
	shoppers := users(t, pool, 170)
	id := activeCampaign(t, s, 100)
	if _, _, failures := storm(t, s, id, shoppers[:50], 0); failures != 0 {
		t.Fatalf("%d failures", failures)
	}
	waitPersisted(t, pool, id, 50, 10*time.Second)

	// Inserts into coupons wait while this transaction holds the table.
	hold, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(context.Background())
	if _, err := hold.Exec(t.Context(), "LOCK TABLE coupons IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	inFlight, _, failures := storm(t, s, id, shoppers[50:90], 0)
	if failures != 0 || len(inFlight) != 40 {
		t.Fatalf("in flight: %d claimed, %d failures", len(inFlight), failures)
	}
	waitFor(t, 10*time.Second, "the flusher to read the 40 claims", func() bool {
		p, err := rdb.XPending(t.Context(), fmt.Sprintf("coupon:{%d}:claims", id), "flusher").Result()
		return err == nil && p.Count == 40
	})
	if err := rdb.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	// The rebuild counts the 50 persisted claims; 80 more shoppers find 50 left.
	after, results, failures := storm(t, s, id, shoppers[90:], 0)
	if failures != 0 || results[coupon.Claimed] != 50 || results[coupon.SoldOut] != 30 {
		t.Fatalf("after the wipe: %v, %d failures", results, failures)
	}
	if err := hold.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitPersisted(t, pool, id, 100, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // a pass or two more of the flusher
	if n := count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND user_id = ANY($2)", id, slices.Collect(maps.Keys(after))); n != 50 {
		t.Fatalf("%d of the 50 claimed after the wipe hold a coupon", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM coupon_dead_letters"); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	agree(t, pool, rdb, id, "after the wipe")
}

// Claims that go into a stream without the flusher's group (the stream lost
// after a rebuild created the group: a wipe mid-rebuild, a key deleted) are
// persisted all the same: the flusher creates the group from the stream's
// first entry.
func TestClaimsInAStreamThatLostItsGroupArePersisted(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 30)
	id := activeCampaign(t, s, 100)
	first, _, _ := storm(t, s, id, shoppers[:10], 0)
	if err := rdb.Del(t.Context(), fmt.Sprintf("coupon:{%d}:claims", id)).Err(); err != nil {
		t.Fatal(err)
	}
	second, _, failures := storm(t, s, id, shoppers[10:], 0)
	if failures != 0 || len(first) != 10 || len(second) != 20 {
		t.Fatalf("claims: %d and %d, %d failures", len(first), len(second), failures)
	}
	startFlusher(t, s)
	// The first ten went with the stream they were in (as claims do when
	// Redis loses them); the twenty after it are persisted.
	waitPersisted(t, pool, id, 20, 10*time.Second)
	if n := count(t, pool, "SELECT count(*) FROM coupons WHERE campaign_id = $1 AND user_id = ANY($2)", id, slices.Collect(maps.Keys(second))); n != 20 {
		t.Fatalf("%d of the 20 claims after the loss persisted", n)
	}
}

// Redis holding more claims than the total (which claims cannot do, but an
// outage can leave) is as settled as it can be: nothing left to offer, and
// the background sync leaves it be instead of spreading it again each pass.
func TestMoreClaimsThanTheTotalSettle(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.Redis(t)
	s := newService(t, pool, rdb, fastFlush)
	shoppers := users(t, pool, 12)
	for _, k := range []int64{1, 3} {
		t.Run(fmt.Sprintf("stripes=%d", k), func(t *testing.T) {
			id := stripedCampaign(t, s, 10, k)
			if _, results, failures := storm(t, s, id, shoppers, 0); failures != 0 || results[coupon.Claimed] != 10 {
				t.Fatalf("%v, %d failures", results, failures)
			}
			// Two claims too many on stripe 0, its share (or total) grown to match.
			sk := coupon.StripeKeys(id, int(k))[0]
			if err := rdb.HSet(t.Context(), sk[2], "999001", 1, "999002", 1).Err(); err != nil {
				t.Fatal(err)
			}
			field := "total"
			if k > 1 {
				field = "share"
			}
			if err := rdb.HIncrBy(t.Context(), sk[0], field, 2).Err(); err != nil {
				t.Fatal(err)
			}
			events := func() int64 {
				return count(t, pool, "SELECT count(*) FROM campaign_events WHERE campaign_id = $1", id)
			}
			for range 2 {
				if err := s.SyncPass(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			before := events()
			for range 3 {
				if err := s.SyncPass(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if after := events(); after != before {
				t.Fatalf("three more sync passes wrote %d events", after-before)
			}
			st, err := s.RedisStates(t.Context(), []int64{id})
			if err != nil || st[0].Remaining != 0 || st[0].Claimed != 12 {
				t.Fatalf("Redis: %+v, %v", st, err)
			}
		})
	}
}
