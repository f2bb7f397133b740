package account

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"market/internal/errs"
	"market/internal/testenv"
)

const hashBytes = argonMemory * 1024 // what one argon2id hash holds while it runs

// heapInUse is the runtime's HeapInuse, read without stopping the world.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// peakHeap samples heapInUse until stop is called, which returns the highest value seen.
func peakHeap() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapInUse())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func TestHashingStaysWithinItsMemoryUnderASignupStorm(t *testing.T) {
	// The production pool (one slot per core, the 2 s wait) with the sign-up
	// limit raised, as a load test would.
	s := NewService(testenv.DB(t), testenv.Redis(t), Limits{PerEmail: 10, PerAddr: 100, Window: time.Minute, SignupPerAddr: 1_000_000})
	slots := cap(s.hashes.slots)
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // the bound below assumes the default pacing

	before, err := s.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	base := heapInUse()
	stop := peakHeap()
	const n = 200
	results := crowd(n, func(i int) error {
		_, err := s.Signup(t.Context(), SignupInput{Email: fmt.Sprintf("storm%d@example.test", i), Name: "Storm", Password: "password123"}, "203.0.113.10")
		return err
	})
	peak := stop()

	// At most slots hashes (plus a couple just finished, not yet collected)
	// are live at once, and the collector lets the heap grow to twice what
	// was live when it last ran. Without the pool all 200 would hash at
	// once: 200 × 19 MiB ≈ 3.7 GiB.
	bound := 2*(base+uint64(slots+2)*hashBytes) + 32<<20
	t.Logf("%d slots: heap in use %d MiB before, peak %d MiB, bound %d MiB; %v", slots, base>>20, peak>>20, bound>>20, outcomes(results))
	if peak > bound {
		t.Errorf("heap in use peaked at %d MiB, above the bound of %d MiB", peak>>20, bound>>20)
	}

	// Every answer is an account or "busy, try again": never anything else.
	var busy []int
	created := 0
	for i, err := range results {
		switch e, _ := errs.As(err); {
		case err == nil:
			created++
		case e != nil && e.Code == errs.Busy && e.RetryAfter > 0:
			busy = append(busy, i)
		default:
			t.Errorf("sign-up %d: %v", i, err)
		}
	}
	if created < slots {
		t.Fatalf("only %d of %d sign-ups got through", created, n)
	}
	// Those told to come back can: a few of them, one at a time (each costs a hash).
	for _, i := range busy[:min(len(busy), 5)] {
		if _, err := s.Signup(t.Context(), SignupInput{Email: fmt.Sprintf("storm%d@example.test", i), Name: "Storm", Password: "password123"}, "203.0.113.10"); err != nil {
			t.Fatalf("sign-up %d again: %v", i, err)
		}
		created++
	}
	if got, err := s.Count(t.Context()); err != nil || got-before != int64(created) {
		t.Fatalf("%d accounts created (%v), want %d", got-before, err, created)
	}
}

func TestHashingWaitsAreBoundedAndFollowTheContext(t *testing.T) {
	h := newHashSlots(1)
	h.wait = 50 * time.Millisecond
	h.slots <- struct{}{} // the only slot is taken

	start := time.Now()
	if _, err := h.hash(t.Context(), "password123"); !errs.Is(err, errs.Busy) {
		t.Fatalf("full pool: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v for a slot", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.check(ctx, dummyHash, "password123"); err != context.Canceled {
		t.Fatalf("cancelled request: %v", err)
	}

	<-h.slots
	if ok, err := h.check(t.Context(), dummyHash, "password123"); err != nil || ok {
		t.Fatalf("a free slot: %v %v", ok, err)
	}
}
