package coupon_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/testenv"
)

func TestShopperStatusFollowsTheWindowStateAndStock(t *testing.T) {
	start := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	c := func(state string) coupon.Campaign {
		return coupon.Campaign{State: state, StartsAt: start, EndsAt: end, TotalQuantity: 10}
	}
	tests := []struct {
		name      string
		c         coupon.Campaign
		remaining int64
		now       time.Time
		want      coupon.Status
	}{
		{"before the opening second", c(coupon.StateActive), 10, start.Add(-time.Nanosecond), coupon.Upcoming},
		{"at the opening second", c(coupon.StateActive), 10, start, coupon.Open},
		{"open with one left", c(coupon.StateActive), 1, end.Add(-time.Second), coupon.Open},
		{"open with none left", c(coupon.StateActive), 0, start.Add(time.Minute), coupon.SoldOutSale},
		{"upcoming even when stock reads zero", c(coupon.StateActive), 0, start.Add(-time.Minute), coupon.Upcoming},
		{"at the closing second", c(coupon.StateActive), 5, end, coupon.Closed},
		{"after the window, not yet ended by the job", c(coupon.StateActive), 5, end.Add(time.Minute), coupon.Closed},
		{"paused in its window", c(coupon.StatePaused), 5, start.Add(time.Minute), coupon.Closed},
		{"ended early by an admin", c(coupon.StateEnded), 5, start.Add(time.Minute), coupon.Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coupon.StatusAt(tt.c, tt.remaining, tt.now); got != tt.want {
				t.Fatalf("StatusAt = %s, want %s", got, tt.want)
			}
		})
	}
}

// settableClock is the service's clock in tests.
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *settableClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func TestShoppersSeeOpenThenUpcomingThenSoldOutThenRecentlyClosed(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	now := time.Now().Truncate(time.Second)
	clock := &settableClock{now: now}
	s := coupon.NewService(pool, rdb, coupon.Options{Flush: fastFlush, Now: clock.Now})
	create := func(name string, from, to time.Duration, total int64, action string) int64 {
		t.Helper()
		in := input(total)
		in.Name, in.StartsAt, in.EndsAt = name, now.Add(from), now.Add(to)
		c, err := s.Create(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range strings.Fields(action) {
			if _, err := s.Transition(t.Context(), c.ID, a); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	upcoming := create("upcoming", time.Minute, time.Hour, 5, "activate")
	farAhead := create("next month", 30*24*time.Hour, 31*24*time.Hour, 5, "activate")
	soldOut := create("sold out", -time.Minute, time.Hour, 1, "activate")
	open := create("open", -time.Minute, time.Hour, 5, "activate")
	draft := create("draft", -time.Minute, time.Hour, 5, "")
	endedNow := create("ended now", -time.Minute, time.Hour, 5, "activate end")
	u := users(t, pool, 1)[0]
	if o, err := s.Claim(t.Context(), soldOut, u); err != nil || o.Result != coupon.Claimed {
		t.Fatalf("claim: %v %v", o, err)
	}

	got, err := s.Sales(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Now.Equal(now) {
		t.Fatalf("decided at %v, want the service clock's %v", got.Now, now)
	}
	want := []struct {
		id     int64
		status coupon.Status
		left   int64
	}{{open, coupon.Open, 5}, {upcoming, coupon.Upcoming, 5}, {soldOut, coupon.SoldOutSale, 0}, {endedNow, coupon.Closed, 5}}
	if len(got.Items) != len(want) {
		t.Fatalf("listed %d campaigns, want %d (not the draft %d nor next month's %d): %+v", len(got.Items), len(want), draft, farAhead, got.Items)
	}
	for i, w := range want {
		if it := got.Items[i]; it.ID != w.id || it.Status != w.status || it.Remaining != w.left {
			t.Errorf("item %d: id %d %s %d left, want id %d %s %d left", i, it.ID, it.Status, it.Remaining, w.id, w.status, w.left)
		}
	}

	// At the upcoming one's opening second it is open; two hours later the
	// hour-long windows are over and, past the hour closed ones are shown,
	// nothing of today is listed.
	clock.Set(now.Add(time.Minute))
	if got, _ := s.Sales(t.Context()); statusOf(got, upcoming) != coupon.Open {
		t.Fatalf("at its opening second: %s", statusOf(got, upcoming))
	}
	clock.Set(now.Add(90 * time.Minute))
	if got, _ := s.Sales(t.Context()); statusOf(got, open) != coupon.Closed {
		t.Fatalf("half an hour after its end: %s", statusOf(got, open))
	}
	clock.Set(now.Add(3 * time.Hour))
	if got, _ := s.Sales(t.Context()); len(got.Items) != 0 {
		t.Fatalf("two hours after the end still listed: %+v", got.Items)
	}
}

func statusOf(s coupon.Sales, id int64) coupon.Status {
	for _, it := range s.Items {
		if it.ID == id {
			return it.Status
		}
	}
	return "not listed"
}

// stockReads counts the GETs of campaigns' stock keys and the pipelines
// that carry them: the hub's reads.
type stockReads struct {
	mu           sync.Mutex
	gets, passes int64
}

// load is the counts so far; reset starts them again (both at once, so a
// pass is never half counted).
func (h *stockReads) load() (gets, passes int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gets, h.passes
}

func (h *stockReads) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gets, h.passes = 0, 0
}

func (h *stockReads) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stockReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}
func (h *stockReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(cmds)
		return next(ctx, cmds)
	}
}
func (h *stockReads) count(cmds []redis.Cmder) {
	n := int64(0)
	for _, c := range cmds {
		if c.Name() == "get" && strings.HasSuffix(c.Args()[1].(string), ":stock") {
			n++
		}
	}
	if n > 0 {
		h.mu.Lock()
		h.gets, h.passes = h.gets+n, h.passes+1
		h.mu.Unlock()
	}
}

func TestManyWatchersShareOneRedisReadPerCampaignPerTick(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	reads := &stockReads{}
	rdb.AddHook(reads)
	s := coupon.NewService(pool, rdb, coupon.Options{Flush: fastFlush, Live: coupon.LiveOptions{Interval: 40 * time.Millisecond, Max: 1000}})
	t.Cleanup(s.EndWatches)
	a, b, c := activeCampaign(t, s, 50), activeCampaign(t, s, 50), activeCampaign(t, s, 50)
	shoppers := users(t, pool, 1)

	// 300 watchers over three campaigns, overlapping.
	sets := [][]int64{{a}, {a, b}, {b, c}, {a, b, c}}
	watches := make([]*coupon.Watch, 300)
	for i := range watches {
		w, err := s.Watch(sets[i%len(sets)])
		if err != nil {
			t.Fatal(err)
		}
		watches[i] = w
	}
	// Every watcher sees a claim on a: 49 left.
	if o, err := s.Claim(t.Context(), a, shoppers[0]); err != nil || o.Result != coupon.Claimed {
		t.Fatalf("claim: %v %v", o, err)
	}
	for i, w := range watches {
		deadline := time.After(3 * time.Second)
		for seen := false; !seen; {
			select {
			case counts := <-w.Counts():
				// A watcher that joined while a tick was reading gets only
				// the campaigns that tick read; never another's, and all of
				// its own from the next tick on.
				all := true
				for id := range counts {
					if !contains(sets[i%len(sets)], id) {
						t.Fatalf("watcher %d got %v, with campaign %d it does not watch", i, counts, id)
					}
				}
				for _, id := range sets[i%len(sets)] {
					_, ok := counts[id]
					all = all && ok
				}
				seen = all && (counts[a] == 49 || !contains(sets[i%len(sets)], a))
			case <-deadline:
				t.Fatalf("watcher %d never saw the claim", i)
			}
		}
	}
	// Counted from here: a pass made while the watchers were still being
	// added read only the campaigns watched by then.
	reads.reset()
	time.Sleep(200 * time.Millisecond)
	gets, passes := reads.load()
	if passes < 3 || gets != 3*passes {
		t.Fatalf("%d stock reads in %d passes for 300 watchers of 3 campaigns; want exactly 3 a pass", gets, passes)
	}

	// Nobody watching: no more reads.
	for _, w := range watches {
		w.Close()
	}
	time.Sleep(100 * time.Millisecond)
	before, _ := reads.load()
	time.Sleep(300 * time.Millisecond)
	if after, _ := reads.load(); after != before {
		t.Fatalf("%d stock reads with nobody watching", after-before)
	}
	// And the next watcher starts the reads again.
	w, err := s.Watch([]int64{c})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case counts := <-w.Counts():
		if counts[c] != 50 {
			t.Fatalf("counts %v", counts)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a new watcher got no counts")
	}
	w.Close()
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestWatchersAreBoundedAndEndedAtShutdown(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	s := coupon.NewService(pool, rdb, coupon.Options{Flush: fastFlush, Live: coupon.LiveOptions{Interval: 20 * time.Millisecond, Max: 2}})
	id := activeCampaign(t, s, 5)
	w1, err1 := s.Watch([]int64{id})
	w2, err2 := s.Watch([]int64{id})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := s.Watch([]int64{id}); err == nil {
		t.Fatal("a third watcher past the bound of 2 was let in")
	}
	w1.Close()
	w3, err := s.Watch([]int64{id})
	if err != nil {
		t.Fatalf("a place freed by Close was not reused: %v", err)
	}
	s.EndWatches()
	for _, w := range []*coupon.Watch{w2, w3} {
		select {
		case <-w.Done():
		default:
			t.Fatal("a watch outlived EndWatches")
		}
	}
	if _, err := s.Watch([]int64{id}); err == nil {
		t.Fatal("a watch began after shutdown")
	}
}
