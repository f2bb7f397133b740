package coupon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/testenv"
)

// batchedService is a service whose claim pipelines are counted.
func batchedService(t *testing.T, rdb redis.UniversalClient) (*coupon.Service, *pgxpool.Pool, func() (pipelines, claims uint64)) {
	return serviceWith(t, rdb, coupon.Options{})
}

// checkBatched fails unless the claims so far went out in fewer pipelines
// than there were claims.
func checkBatched(t *testing.T, batches func() (pipelines, claims uint64)) {
	t.Helper()
	if p, n := batches(); n <= p {
		t.Fatalf("%d claims in %d pipelines: the crowd was not batched", n, p)
	}
}

func serviceWith(t *testing.T, rdb redis.UniversalClient, o coupon.Options) (*coupon.Service, *pgxpool.Pool, func() (pipelines, claims uint64)) {
	t.Helper()
	reg := prometheus.NewRegistry()
	pool := testenv.DB(t)
	o.Flush, o.Metrics = fastFlush, coupon.NewMetrics(reg)
	s := coupon.NewService(pool, rdb, o)
	return s, pool, func() (uint64, uint64) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "market_coupon_claim_batch_size" {
				h := mf.GetMetric()[0].GetHistogram()
				return h.GetSampleCount(), uint64(h.GetSampleSum())
			}
		}
		t.Fatal("no market_coupon_claim_batch_size series")
		return 0, 0
	}
}

// outcome is one shopper's answer to one claim.
type outcome struct {
	user int64
	o    coupon.Outcome
	err  error
}

// crowd has every (campaign, shopper) pair claim at once behind a start barrier.
func crowd(s *coupon.Service, claims [][2]int64) []outcome {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		out   = make([]outcome, len(claims))
	)
	for i, c := range claims {
		wg.Go(func() {
			<-start
			o, err := s.Claim(context.Background(), c[0], c[1])
			out[i] = outcome{c[1], o, err}
		})
	}
	close(start)
	wg.Wait()
	return out
}

// checkExactlyOnce proves a crowd's answers are those of claims run one by
// one: exactly `total` shoppers told "claimed", each once, each with a
// different remaining count (every DECR answered exactly one caller); a
// shopper told "already_claimed" is one of them; everyone else sold out;
// and the shoppers told "claimed" are exactly those Redis recorded.
func checkExactlyOnce(t *testing.T, rdb redis.UniversalClient, id, total int64, out []outcome) {
	t.Helper()
	winners := map[int64]bool{}
	var remaining []int64
	var already []int64
	for _, r := range out {
		if r.err != nil {
			t.Fatalf("shopper %d: %v", r.user, r.err)
		}
		switch r.o.Result {
		case coupon.Claimed:
			if winners[r.user] {
				t.Fatalf("shopper %d was told claimed twice", r.user)
			}
			winners[r.user] = true
			remaining = append(remaining, r.o.Remaining)
		case coupon.AlreadyClaimed:
			already = append(already, r.user)
		case coupon.SoldOut:
		default:
			t.Fatalf("shopper %d: unexpected %v", r.user, r.o)
		}
	}
	if int64(len(winners)) != total {
		t.Fatalf("%d shoppers told claimed, want %d", len(winners), total)
	}
	slices.Sort(remaining)
	for i, n := range remaining {
		if n != int64(i) {
			t.Fatalf("remaining counts told to winners are not 0..%d once each: %v", total-1, remaining)
		}
	}
	for _, u := range already {
		if !winners[u] {
			t.Fatalf("shopper %d was told already_claimed but never claimed", u)
		}
	}
	inRedis, err := rdb.HKeys(t.Context(), fmt.Sprintf("coupon:{%d}:claimed", id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(inRedis) != len(winners) {
		t.Fatalf("Redis holds %d claims, %d shoppers were told claimed", len(inRedis), len(winners))
	}
	for _, u := range inRedis {
		var uid int64
		fmt.Sscan(u, &uid)
		if !winners[uid] {
			t.Fatalf("Redis holds a claim of shopper %s, who was not told claimed", u)
		}
	}
}

func TestBatchedClaimsAnswerEachShopperAsOneByOne(t *testing.T) {
	rdb := testenv.Redis(t)
	s, pool, batches := batchedService(t, rdb)
	shoppers := users(t, pool, 2000)
	id := activeCampaign(t, s, 500)
	var claims [][2]int64
	for i, u := range shoppers {
		claims = append(claims, [2]int64{id, u})
		if i%5 == 0 {
			claims = append(claims, [2]int64{id, u}) // some shoppers press twice
		}
	}
	before, _ := batches()
	out := crowd(s, claims)
	checkExactlyOnce(t, rdb, id, 500, out)
	pipelines, sent := batches()
	pipelines -= before
	// The claims must have travelled several to a pipeline, or this test
	// proved nothing.
	if pipelines == 0 || sent/pipelines < 2 {
		t.Fatalf("%d claims in %d pipelines: the crowd was not batched", sent, pipelines)
	}
}

func TestClaimsAfterScriptCacheFlushRunOnceEach(t *testing.T) {
	rdb := testenv.Redis(t)
	s, pool, batches := batchedService(t, rdb)
	shoppers := users(t, pool, 600)
	id := activeCampaign(t, s, 300)
	if err := rdb.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	var claims [][2]int64
	for _, u := range shoppers {
		claims = append(claims, [2]int64{id, u})
	}
	out := crowd(s, claims)
	checkExactlyOnce(t, rdb, id, 300, out)
	// The batches hit NOSCRIPT and were run again with EVAL, which loaded the script.
	src, err := os.ReadFile("claim.lua")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := rdb.ScriptExists(t.Context(), redis.NewScript(string(src)).Hash()).Result()
	if err != nil || !loaded[0] {
		t.Fatalf("claim script not loaded after the storm: %v %v", loaded, err)
	}
	checkBatched(t, batches)
}

func TestOneFailingClaimInABatchDoesNotFailTheOthers(t *testing.T) {
	rdb := testenv.Redis(t)
	s, pool, batches := batchedService(t, rdb)
	shoppers := users(t, pool, 1000)
	good := activeCampaign(t, s, 400)
	broken := activeCampaign(t, s, 400)
	// The broken campaign's meta is no longer a hash: its script call fails
	// with WRONGTYPE inside Redis, in the same pipelines as the good claims.
	if err := rdb.Set(t.Context(), fmt.Sprintf("coupon:{%d}:meta", broken), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var claims [][2]int64
	for i, u := range shoppers {
		claims = append(claims, [2]int64{good, u})
		if i%2 == 0 {
			claims = append(claims, [2]int64{broken, u})
		}
	}
	out := crowd(s, claims)
	var onGood []outcome
	for i, r := range out {
		if claims[i][0] == broken {
			if r.err == nil {
				t.Fatalf("a claim on the broken campaign answered %v", r.o)
			}
			continue
		}
		onGood = append(onGood, r)
	}
	checkExactlyOnce(t, rdb, good, 400, onGood)
	checkBatched(t, batches)
}

func TestAClaimWhoseShopperLeftIsNotSent(t *testing.T) {
	rdb := testenv.Redis(t)
	s, pool, _ := batchedService(t, rdb)
	shoppers := users(t, pool, 1)
	id := activeCampaign(t, s, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Claim(ctx, id, shoppers[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("claim with a cancelled context: %v", err)
	}
	if n, err := rdb.HLen(t.Context(), fmt.Sprintf("coupon:{%d}:claimed", id)).Result(); err != nil || n != 0 {
		t.Fatalf("a cancelled claim reached Redis: %d claimed (%v)", n, err)
	}
}

// A claim whose reply never came (Redis frozen past the read timeout) is not
// sent again: a second run would answer "already claimed" to the shopper
// whose first run took the coupon. The shopper is told to try again, or
// "claimed" if the one run answered in time, never "already claimed".
func TestAClaimThatTimedOutIsNotSentAgain(t *testing.T) {
	pool := testenv.DB(t)
	rs := testenv.StartRedis(t, testenv.RedisOptions{})
	// Retries on, and a short read timeout, as a REDIS_URL may set them.
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ReadTimeout: 150 * time.Millisecond, MaxRetries: 2})
	t.Cleanup(func() { rdb.Close() })
	s := newService(t, pool, rdb, fastFlush)
	id := activeCampaign(t, s, 100)
	shoppers := users(t, pool, 10)
	for _, u := range shoppers {
		rs.Pause()
		type answer struct {
			o   coupon.Outcome
			err error
		}
		got := make(chan answer, 1)
		go func() {
			o, err := s.Claim(context.Background(), id, u)
			got <- answer{o, err}
		}()
		time.Sleep(400 * time.Millisecond) // past the read timeout and a retry's backoff
		rs.Resume()
		a := <-got
		if a.err == nil && a.o.Result != coupon.Claimed {
			t.Fatalf("shopper %d, claiming once, was told %q", u, a.o.Result)
		}
		// Told to try again, the claim ran once or not at all; told
		// "claimed", it ran.
		o, err := s.Claim(t.Context(), id, u)
		if err != nil || (o.Result != coupon.AlreadyClaimed && (a.err == nil || o.Result != coupon.Claimed)) {
			t.Fatalf("shopper %d, told %+v (%v), claiming again: %+v, %v", u, a.o, a.err, o, err)
		}
	}
}
