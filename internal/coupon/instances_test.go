package coupon_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"market/internal/coupon"
	"market/internal/testenv"
)

// Two app instances share one campaign: each serves half of the
// crowd and runs its own flusher in the same consumer group. Exactly the
// stock is issued, every claim is persisted once, and the persisted count agrees.
func TestTwoInstancesShareOneCampaign(t *testing.T) {
	pool, url := testenv.DBWithURL(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	poolB := testenv.OpenPool(t, url)
	a := coupon.NewService(pool, srv.Client(), coupon.Options{Flush: withConsumer(fastFlush, "instance-a")})
	b := coupon.NewService(poolB, srv.Client(), coupon.Options{Flush: withConsumer(fastFlush, "instance-b")})
	shoppers := users(t, pool, 1000)
	id := activeCampaign(t, a, 300)
	startFlusher(t, a)
	startFlusher(t, b)

	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		start   = make(chan struct{})
		winners = map[int64]int{}
		results = map[coupon.Result]int{}
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
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			results[o.Result]++
			if o.Result == coupon.Claimed {
				winners[u]++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 300 || results[coupon.Claimed] != 300 || results[coupon.SoldOut] != 700 {
		t.Fatalf("winners %d, results %v", len(winners), results)
	}
	waitPersisted(t, pool, id, 300, 10*time.Second)
	checkPersisted(t, pool, id, winners, 300)
}

func withConsumer(f coupon.FlushOptions, name string) coupon.FlushOptions {
	f.Consumer = name
	return f
}
