package coupon_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/consistency"
	"market/internal/coupon"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// Random histories: shoppers claim, admins resize, pause, resume and end, on
// two instances sharing Redis and PostgreSQL, while faults strike at random
// moments: Redis wiped, Redis killed with -9 and restarted, a flusher that
// dies between its commit and its XACK, PostgreSQL stopped for seconds.
// Afterwards every "claimed" answer is exactly one coupon, no shopper has two,
// no campaign issued more than its total, Redis and PostgreSQL agree on
// state and total, and the consistency report is green without repairs.
//
// HISTORY_SEEDS=N runs N seeds (make soak runs many); HISTORY_SEED=S replays
// one: each subtest is named after its seed.
func TestRandomHistoriesKeepOneTruth(t *testing.T) {
	pg := testenv.StartPostgres(t)
	for _, seed := range historySeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("replay with: HISTORY_SEED=%d make soak", seed)
			runHistory(t, pg, seed)
		})
	}
}

func historySeeds(t *testing.T) []uint64 {
	if s := os.Getenv("HISTORY_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HISTORY_SEED: %v", err)
		}
		return []uint64{seed}
	}
	n := 3
	if s := os.Getenv("HISTORY_SEEDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("HISTORY_SEEDS: %q", s)
		}
	}
	base := uint64(time.Now().UnixNano())
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

// history is what the shoppers were told, per campaign and shopper.
type history struct {
	mu      sync.Mutex
	answers map[[2]int64][]string // result, or "error" when the outcome is unknown
}

func (h *history) add(campaign, user int64, answer string) {
	h.mu.Lock()
	h.answers[[2]int64{campaign, user}] = append(h.answers[[2]int64{campaign, user}], answer)
	h.mu.Unlock()
}

const (
	historyLength  = 3 * time.Second
	historyShopper = 10
	historyAdmins  = 3
)

func runHistory(t *testing.T, pg *testenv.PostgresServer, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	pool, url := pg.DB(t)
	rs := testenv.StartRedis(t, testenv.RedisOptions{AOF: true})
	rdb := rs.Client()
	// A failed history is rare and timing-bound (the seed does not replay
	// the interleaving): log what each campaign's Redis copy went through.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		rows, err := pool.Query(context.Background(), "SELECT campaign_id, kind, detail, created_at FROM campaign_events ORDER BY id")
		if err != nil {
			t.Logf("campaign events: %v", err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var kind, detail string
			var at time.Time
			if err := rows.Scan(&id, &kind, &detail, &at); err == nil {
				t.Logf("campaign %d, %s, %s: %s", id, at.Format("15:04:05.000"), kind, detail)
			}
		}
	})

	ctx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	var inst []*coupon.Service
	for _, name := range []string{"a", "b"} {
		// The pool has the budgets serve gives requests (STATEMENT_TIMEOUT,
		// IDLE_IN_TRANSACTION_TIMEOUT defaults).
		ipool, err := db.OpenWithBudget(context.Background(), url, 10, db.Budget{Statement: 5 * time.Second, IdleInTx: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ipool.Close)
		s := coupon.NewService(ipool, rs.Client(), coupon.Options{
			Flush: coupon.FlushOptions{Batch: 50, Interval: 20 * time.Millisecond, ReclaimIdle: 300 * time.Millisecond, Consumer: name},
			Sync:  coupon.SyncOptions{Interval: 100 * time.Millisecond},
		})
		background.Go(func() { s.RunFlusher(ctx) })
		background.Go(func() { s.RunSync(ctx) })
		inst = append(inst, s)
	}
	defer func() { stopBackground(); background.Wait() }()

	shoppers := users(t, pool, 120)
	// The third campaign is striped (stripes.go): three stripes that borrow
	// from each other under the same shoppers, admins and faults.
	campaigns := []int64{activeCampaign(t, inst[0], int64(10+rng.IntN(40))), activeCampaign(t, inst[1], int64(10+rng.IntN(40))),
		stripedCampaign(t, inst[rng.IntN(2)], int64(10+rng.IntN(40)), 3)}
	h := &history{answers: map[[2]int64][]string{}}

	// Shoppers hold gate while they claim; a wipe of Redis takes it (see below).
	var gate sync.RWMutex
	stop := make(chan struct{})
	var crowd sync.WaitGroup
	for range historyShopper {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		crowd.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, u, s := campaigns[r.IntN(len(campaigns))], shoppers[r.IntN(len(shoppers))], inst[r.IntN(2)]
				cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				gate.RLock()
				o, err := s.Claim(cctx, c, u)
				gate.RUnlock()
				cancel()
				if err != nil {
					h.add(c, u, "error")
				} else {
					h.add(c, u, string(o.Result))
				}
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		})
	}
	actions := map[string]int{}
	var actionsMu sync.Mutex
	for range historyAdmins {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		crowd.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(10+r.IntN(60)) * time.Millisecond):
				}
				c, s := campaigns[r.IntN(len(campaigns))], inst[r.IntN(2)]
				var err error
				action := "resize"
				switch p := r.IntN(100); {
				case p < 60:
					_, err = s.Update(context.Background(), c, coupon.Input{TotalQuantity: int64(1 + r.IntN(120))})
				case p < 80:
					action = "pause"
				default:
					action = "activate"
				}
				if action != "resize" {
					_, err = s.Transition(context.Background(), c, action)
				}
				outcome := "ok"
				if e, ok := errs.As(err); ok {
					outcome = string(e.Code)
				} else if err != nil {
					outcome = "error"
					if os.Getenv("HISTORY_DEBUG") != "" {
						t.Logf("%s: %v", action, err)
					}
				}
				actionsMu.Lock()
				actions[action+" "+outcome]++
				actionsMu.Unlock()
			}
		})
	}

	// Faults, one at a time, at random moments, from this goroutine (the
	// PostgreSQL server is stopped and started from the test's goroutine).
	// One campaign ends at a random moment of the second half.
	faults := map[string]int{}
	start := time.Now()
	deadline := start.Add(historyLength)
	endAt, ended := start.Add(historyLength/2+time.Duration(rng.Int64N(int64(historyLength/2)))), false
	for time.Now().Before(deadline) {
		if !ended && time.Now().After(endAt) {
			ended = true
			_, err := inst[rng.IntN(2)].Transition(context.Background(), campaigns[0], "end")
			actionsMu.Lock()
			actions[fmt.Sprintf("end %v", err)]++
			actionsMu.Unlock()
		}
		time.Sleep(time.Duration(150+rng.IntN(400)) * time.Millisecond)
		switch f := rng.IntN(5); f {
		case 0:
			// A Redis that comes back empty can only be rebuilt from what
			// PostgreSQL holds: claims stop until the backlog is persisted,
			// as after a failover that replicated everything but the keys.
			faults["flushall"]++
			gate.Lock()
			waitStreamsEmpty(t, campaigns, 10*time.Second, inst[0])
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			gate.Unlock()
		case 1:
			faults["keys lost"]++
			k := fmt.Sprintf("coupon:{%d}:", campaigns[rng.IntN(len(campaigns))])
			rdb.Del(context.Background(), k+"meta", k+"stock", k+"claimed")
		case 2:
			faults["redis kill -9"]++
			rs.Restart()
		case 3:
			faults["flusher died after commit"]++
			ghostFlush(t, rdb, pool, campaigns[rng.IntN(len(campaigns))])
		case 4:
			faults["postgres stopped"]++
			pg.Stop()
			time.Sleep(time.Duration(800+rng.IntN(1500)) * time.Millisecond)
			pg.Start()
		}
	}
	// On a slow machine the faults may fill the whole history (PostgreSQL
	// stopped for most of it): shoppers and admins go on, without faults,
	// until every admin action has succeeded once, for a bounded time.
	needed := []string{"resize ok", "pause ok", "activate ok"}
	covered := func() bool {
		actionsMu.Lock()
		defer actionsMu.Unlock()
		for _, a := range needed {
			if actions[a] == 0 {
				return false
			}
		}
		return true
	}
	for end := time.Now().Add(3 * historyLength); !covered() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	crowd.Wait()
	t.Logf("faults %v; admin actions %v", faults, actions)
	if len(faults) == 0 {
		t.Fatal("no fault struck: the history proves nothing about faults")
	}
	for _, a := range needed {
		if actions[a] == 0 {
			t.Fatalf("no %q in the history: %v", a, actions)
		}
	}

	// Settle: the backlog persisted, no change pending, Redis in line.
	waitFor(t, 20*time.Second, "the stores to settle", func() bool {
		if count(t, pool, "SELECT count(*) FROM campaigns WHERE redis_pending_since IS NOT NULL") != 0 {
			return false
		}
		for _, c := range campaigns {
			var state string
			var total int64
			if err := pool.QueryRow(context.Background(), "SELECT state, total_quantity FROM campaigns WHERE id = $1", c).Scan(&state, &total); err != nil {
				t.Fatal(err)
			}
			st, err := inst[0].RedisStates(context.Background(), []int64{c})
			if err != nil || len(st) != 1 || st[0].Pending != 0 {
				return false
			}
			if r := st[0]; r.State != state || r.Total != total || r.Claimed+r.Remaining != total {
				return false
			}
		}
		return true
	})
	checkHistory(t, pool, h, campaigns)
	for _, c := range campaigns {
		agreeSummed(t, pool, inst[0], c, "after the history")
	}
	report, err := consistency.NewService(pool, slog.New(slog.DiscardHandler), inst[0]).Run(t.Context(), "manual", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		if !c.OK {
			t.Errorf("consistency: %s: %s: %s", c.Name, c.Subject, c.Detail)
		}
	}
}

// checkHistory proves what shoppers were told against PostgreSQL's coupons.
func checkHistory(t *testing.T, pool *pgxpool.Pool, h *history, campaigns []int64) {
	t.Helper()
	rows := map[[2]int64]int64{}
	r, err := pool.Query(t.Context(), "SELECT campaign_id, user_id, count(*) FROM coupons GROUP BY 1, 2")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var c, u, n int64
		if err := r.Scan(&c, &u, &n); err != nil {
			t.Fatal(err)
		}
		rows[[2]int64{c, u}] = n
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	told := 0
	for key, answers := range h.answers {
		claimed, unsure := 0, false
		for _, a := range answers {
			switch a {
			case string(coupon.Claimed):
				claimed++
			case "error", string(coupon.AlreadyClaimed):
				unsure = true // the claim may have landed; its answer was lost or came on a retry
			}
		}
		told += claimed
		switch {
		case claimed > 1:
			t.Errorf("campaign %d: shopper %d was told \"claimed\" %d times", key[0], key[1], claimed)
		case claimed == 1 && rows[key] != 1:
			t.Errorf("campaign %d: shopper %d was told \"claimed\" and holds %d coupons", key[0], key[1], rows[key])
		case claimed == 0 && rows[key] > 0 && !unsure:
			t.Errorf("campaign %d: shopper %d holds a coupon but was only told %v", key[0], key[1], answers)
		}
	}
	for key, n := range rows {
		if n != 1 {
			t.Errorf("campaign %d: shopper %d holds %d coupons", key[0], key[1], n)
		}
		if _, asked := h.answers[key]; !asked {
			t.Errorf("campaign %d: shopper %d holds a coupon without ever claiming", key[0], key[1])
		}
	}
	for _, c := range campaigns {
		var issued, total int64
		if err := pool.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM coupons WHERE campaign_id = $1), total_quantity FROM campaigns WHERE id = $1", c).Scan(&issued, &total); err != nil {
			t.Fatal(err)
		}
		if issued > total {
			t.Errorf("campaign %d: %d coupons issued of %d", c, issued, total)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM coupon_dead_letters"); n != 0 {
		t.Errorf("%d claims dead-lettered", n)
	}
	t.Logf("%d claimed answers, %d coupons", told, len(rows))
	if told == 0 {
		t.Error("no shopper was told \"claimed\": the history proves nothing")
	}
}

// waitStreamsEmpty waits until every claim in the campaigns' streams (every
// stripe's) is persisted.
func waitStreamsEmpty(t *testing.T, campaigns []int64, within time.Duration, s *coupon.Service) {
	t.Helper()
	waitFor(t, within, "the backlog to be persisted", func() bool {
		for _, c := range campaigns {
			st, err := s.RedisStates(context.Background(), []int64{c})
			if err != nil || len(st) != 1 || st[0].Pending != 0 {
				return false
			}
		}
		return true
	})
}

// agreeSummed is agree for any campaign, striped or not: Redis's figures
// summed over its stripes (units in transit counted as remaining).
func agreeSummed(t *testing.T, pool *pgxpool.Pool, s *coupon.Service, id int64, context string) {
	t.Helper()
	var pgState string
	var pgTotal int64
	if err := pool.QueryRow(t.Context(), "SELECT state, total_quantity FROM campaigns WHERE id = $1", id).Scan(&pgState, &pgTotal); err != nil {
		t.Fatal(err)
	}
	st, err := s.RedisStates(t.Context(), []int64{id})
	if err != nil {
		t.Fatal(err)
	}
	if r := st[0]; r.State != pgState || r.Total != pgTotal || r.Claimed+r.Remaining != pgTotal {
		t.Fatalf("%s: campaign %d split: Redis %s total %d (claimed %d + remaining %d), PostgreSQL %s total %d",
			context, id, r.State, r.Total, r.Claimed, r.Remaining, pgState, pgTotal)
	}
}

// ghostFlush is a flusher that dies between its commit and its XACK: it
// reads a batch as a consumer of the group, persists it with the flusher's
// own statement, and is never heard of again. Its entries stay pending until
// a live consumer takes them over.
func ghostFlush(t *testing.T, rdb redis.UniversalClient, pool *pgxpool.Pool, campaign int64) {
	t.Helper()
	// As the flusher, it reads the campaign's epoch before the entries.
	epoch := count(t, pool, "SELECT redis_epoch FROM campaigns WHERE id = $1", campaign)
	res, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: "flusher", Consumer: "ghost", Streams: []string{fmt.Sprintf("coupon:{%d}:claims", campaign), ">"}, Count: 20, Block: -1,
	}).Result()
	if err != nil || len(res) == 0 || len(res[0].Messages) == 0 {
		return // no group (Redis was wiped) or nothing new
	}
	var users []int64
	var ats []time.Time
	for _, m := range res[0].Messages {
		u, _ := strconv.ParseInt(fmt.Sprint(m.Values["user"]), 10, 64)
		ms, _ := strconv.ParseInt(fmt.Sprint(m.Values["at"]), 10, 64)
		users, ats = append(users, u), append(ats, time.UnixMilli(ms))
	}
	_ = db.WithTx(context.Background(), pool, func(q *db.Queries) error {
		_, err := q.InsertClaims(context.Background(), db.InsertClaimsParams{CampaignID: campaign, UserIds: users, ClaimedAts: ats, Epoch: &epoch})
		return err
	})
}
