package coupon_test

import (
	"sync"
	"testing"
	"time"

	"market/internal/coupon"
	"market/internal/testenv"
)

// Two instances run the auto-end job at the same moment: every overdue
// campaign is ended exactly once, in PostgreSQL and in Redis; campaigns
// still in their window are left alone.
func TestTheAutoEndJobEndsOverdueCampaignsOnceAcrossInstances(t *testing.T) {
	pool, url := testenv.DBWithURL(t)
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	clock := &settableClock{now: time.Now()}
	a := coupon.NewService(pool, rdb, coupon.Options{Flush: fastFlush, Now: clock.Now})
	b := coupon.NewService(testenv.OpenPool(t, url), rdb, coupon.Options{Flush: fastFlush, Now: clock.Now})
	var overdue []int64
	for range 6 {
		overdue = append(overdue, activeCampaign(t, a, 10)) // windows end in an hour
	}
	if _, err := a.Transition(t.Context(), overdue[0], "pause"); err != nil {
		t.Fatal(err)
	}
	later := input(10)
	later.EndsAt = time.Now().Add(3 * time.Hour)
	still, err := a.Create(t.Context(), later)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Transition(t.Context(), still.ID, "activate"); err != nil {
		t.Fatal(err)
	}

	// On time: nothing to end.
	if n, _, err := a.EndOverdue(t.Context()); err != nil || n != 0 {
		t.Fatalf("before the close: ended %d, err %v", n, err)
	}
	// Two hours on, both instances at once.
	clock.Set(time.Now().Add(2 * time.Hour))
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		total   int
		leaders int
	)
	for _, s := range []*coupon.Service{a, b} {
		wg.Go(func() {
			<-start
			n, leader, err := s.EndOverdue(t.Context())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			total += n
			if leader {
				leaders++
			}
		})
	}
	close(start)
	wg.Wait()
	if total != len(overdue) || leaders < 1 {
		t.Fatalf("ended %d (want %d) with %d leaders", total, len(overdue), leaders)
	}
	for _, id := range overdue {
		c, err := a.Get(t.Context(), id)
		if err != nil || c.State != coupon.StateEnded {
			t.Fatalf("campaign %d: %s, %v", id, c.State, err)
		}
		var ends int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM campaign_events WHERE campaign_id = $1 AND detail LIKE '%window closed%'`, id).Scan(&ends); err != nil || ends != 1 {
			t.Fatalf("campaign %d ended %d times by the job (%v)", id, ends, err)
		}
		// The audit trail has it as the shop's own step: no admin.
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE subject = 'campaign ' || $1::bigint AND action = 'end' AND admin_id IS NULL`, id).Scan(&ends); err != nil || ends != 1 {
			t.Fatalf("campaign %d: %d audit rows of the shop ending it (%v)", id, ends, err)
		}
	}
	rs, err := a.RedisStates(t.Context(), overdue)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.State != coupon.StateEnded {
			t.Fatalf("Redis answers campaign %d as %q", r.CampaignID, r.State)
		}
	}
	if c, _ := a.Get(t.Context(), still.ID); c.State != coupon.StateActive {
		t.Fatalf("a campaign still in its window was %s", c.State)
	}
}

// While another instance holds the lock, a pass does nothing.
func TestAnAutoEndPassWaitsForTheInstanceHoldingTheLock(t *testing.T) {
	pool := testenv.DB(t)
	rdb := testenv.StartRedis(t, testenv.RedisOptions{}).Client()
	clock := &settableClock{now: time.Now().Add(2 * time.Hour)}
	s := coupon.NewService(pool, rdb, coupon.Options{Flush: fastFlush, Now: clock.Now})
	id := activeCampaign(t, s, 10)
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_lock(7401002)"); err != nil {
		t.Fatal(err)
	}
	if n, leader, err := s.EndOverdue(t.Context()); err != nil || leader || n != 0 {
		t.Fatalf("under another's lock: ended %d, leader %v, err %v", n, leader, err)
	}
	if _, err := conn.Exec(t.Context(), "SELECT pg_advisory_unlock(7401002)"); err != nil {
		t.Fatal(err)
	}
	if n, leader, err := s.EndOverdue(t.Context()); err != nil || !leader || n != 1 {
		t.Fatalf("with the lock free: ended %d, leader %v, err %v", n, leader, err)
	}
	if c, _ := s.Get(t.Context(), id); c.State != coupon.StateEnded {
		t.Fatalf("state %s", c.State)
	}
}
