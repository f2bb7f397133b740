package coupon_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"market/internal/coupon"
	"market/internal/testenv"
)

// BenchmarkFlusherDrain measures how fast the write-back flusher moves a
// backlog of claims from a campaign's stream into PostgreSQL, with serve's
// flusher settings (docs/SCALING.md uses it): the claims are made while no
// flusher runs, then one is started and timed until PostgreSQL holds them
// all. It fails unless PostgreSQL ends up with exactly the claims made.
//
//	go test -run XXX -bench FlusherDrain -benchtime 3x ./internal/coupon/
func BenchmarkFlusherDrain(b *testing.B) {
	pool, rdb := testenv.DB(b), testenv.Redis(b)
	const claims = 20_000
	var drained time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := coupon.NewService(pool, rdb, coupon.Options{Flush: coupon.FlushOptions{Batch: 200, Interval: 10 * time.Millisecond}})
		c, err := s.Create(b.Context(), input(claims))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Transition(b.Context(), c.ID, "activate"); err != nil {
			b.Fatal(err)
		}
		rows, err := pool.Query(b.Context(), `INSERT INTO users (email, password_hash, name)
			SELECT $1 || g || '@example.test', 'x', 'Shopper ' || g FROM generate_series(1, $2::int) g RETURNING id`,
			fmt.Sprintf("fd%d-%d-", time.Now().UnixNano(), i), claims)
		if err != nil {
			b.Fatal(err)
		}
		shoppers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			b.Fatal(err)
		}
		claimAll(b, s, c.ID, shoppers)
		b.StartTimer()
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.RunFlusher(ctx); close(done) }()
		var persisted int64
		for ; persisted < claims; time.Sleep(5 * time.Millisecond) {
			if err := pool.QueryRow(b.Context(), "SELECT count(*) FROM coupons WHERE campaign_id = $1", c.ID).Scan(&persisted); err != nil {
				b.Fatal(err)
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("the flusher persisted %d of %d claims in a minute", persisted, claims)
			}
		}
		drained += time.Since(start)
		b.StopTimer()
		if persisted != claims {
			b.Fatalf("PostgreSQL holds %d coupons of %d claims", persisted, claims)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(claims*b.N)/drained.Seconds(), "claims/s")
}

// claimAll claims one coupon for each shopper, 64 at a time.
func claimAll(b *testing.B, s *coupon.Service, campaignID int64, shoppers []int64) {
	var wg sync.WaitGroup
	next := make(chan int64)
	for range 64 {
		wg.Go(func() {
			for u := range next {
				if o, err := s.Claim(context.Background(), campaignID, u); err != nil || o.Result != coupon.Claimed {
					b.Errorf("shopper %d: %v %v", u, o.Result, err)
				}
			}
		})
	}
	for _, u := range shoppers {
		next <- u
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
