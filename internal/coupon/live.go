package coupon

import (
	"context"
	"slices"
	"sync"
	"time"

	"market/internal/errs"
)

// LiveOptions bound the live remaining counts (LIVE_INTERVAL, LIVE_MAX_STREAMS).
type LiveOptions struct {
	Interval time.Duration // how often the counts are read; default 1 s
	Max      int           // watchers at once on this instance; default 2,000
}

// Counts are campaigns' remaining coupons, by campaign id.
type Counts map[int64]int64

// hub reads the remaining counts of every campaign someone watches, once
// per tick however many watch it, and hands each watcher its share. It
// reads only while someone watches: the loop starts with the first watcher
// and stops after the last has gone.
type hub struct {
	s    *Service
	opts LiveOptions

	mu      sync.Mutex
	watches map[*Watch]struct{}
	running bool
	ended   bool
	stop    chan struct{} // closed by EndWatches
	loop    sync.WaitGroup
}

func newHub(s *Service, o LiveOptions) *hub {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Max <= 0 {
		o.Max = 2000
	}
	return &hub{s: s, opts: o, watches: map[*Watch]struct{}{}, stop: make(chan struct{})}
}

// Watch is one watcher's subscription: Counts delivers the newest counts of
// its campaigns (a slow reader skips to the newest, it never holds the hub
// up), Done closes when the shop shuts down.
type Watch struct {
	h    *hub
	ids  []int64
	c    chan Counts
	done chan struct{}
	once sync.Once
}

// Counts delivers the watched campaigns' remaining counts after each read.
func (w *Watch) Counts() <-chan Counts { return w.c }

// Done is closed when the hub ends this watch (shutdown).
func (w *Watch) Done() <-chan struct{} { return w.done }

// Close ends the watch; the hub stops reading once nobody watches.
func (w *Watch) Close() {
	w.h.mu.Lock()
	delete(w.h.watches, w)
	w.h.s.m.watchers.Set(float64(len(w.h.watches)))
	w.h.mu.Unlock()
	w.end()
}

func (w *Watch) end() { w.once.Do(func() { close(w.done) }) }

var (
	errTooManyWatchers = errs.New(errs.Busy, "Too many shoppers are watching live counts right now; the page refreshes them itself.")
	errShuttingDown    = errs.New(errs.Unavailable, "The shop is restarting; live counts come back in a moment.")
)

// Watch subscribes to the remaining counts of campaigns ids. It is refused
// (busy) past LiveOptions.Max watchers, and once the shop shuts down.
func (s *Service) Watch(ids []int64) (*Watch, error) {
	h := s.live
	w := &Watch{h: h, ids: slices.Clone(ids), c: make(chan Counts, 1), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.ended:
		return nil, errShuttingDown
	case len(h.watches) >= h.opts.Max:
		return nil, errTooManyWatchers
	}
	h.watches[w] = struct{}{}
	s.m.watchers.Set(float64(len(h.watches)))
	if !h.running {
		h.running = true
		h.loop.Go(h.run)
	}
	return w, nil
}

// EndWatches ends every watch and refuses new ones, and waits for the
// reading loop to stop: serve calls it when shutdown begins, so that
// long-lived streams do not hold the server's grace period.
func (s *Service) EndWatches() {
	h := s.live
	h.mu.Lock()
	if !h.ended {
		h.ended = true
		close(h.stop)
	}
	for w := range h.watches {
		delete(h.watches, w)
		w.end()
	}
	s.m.watchers.Set(0)
	h.mu.Unlock()
	h.loop.Wait()
}

// Watchers is how many watch now.
func (s *Service) Watchers() int {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	return len(s.live.watches)
}

func (h *hub) run() {
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for {
		ids, ok := h.watched()
		if !ok {
			return
		}
		h.read(ids)
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
	}
}

// watched is the union of the campaigns watched; false (and the loop marked
// stopped, under the same lock as Watch) when nobody watches.
func (h *hub) watched() ([]int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.watches) == 0 || h.ended {
		h.running = false
		return nil, false
	}
	var ids []int64
	for w := range h.watches {
		ids = append(ids, w.ids...)
	}
	slices.Sort(ids)
	return slices.Compact(ids), true
}

// read is the one Redis read of a tick: one pipeline, one GET per campaign.
func (h *hub) read(ids []int64) {
	ctx, cancel := context.WithTimeout(context.Background(), max(h.opts.Interval, 500*time.Millisecond))
	defer cancel()
	counts, err := h.s.remaining(ctx, ids)
	h.s.m.liveReads.Inc()
	if err != nil {
		// Watchers keep the counts they have; the next tick tries again.
		h.s.log.Warn("live remaining counts not read", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watches {
		share := make(Counts, len(w.ids))
		for _, id := range w.ids {
			if n, ok := counts[id]; ok {
				share[id] = n
			}
		}
		// Replace an undelivered older value rather than wait for the reader.
		select {
		case <-w.c:
		default:
		}
		w.c <- share
	}
}
