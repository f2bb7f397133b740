package coupon

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// claimBatcher coalesces concurrent claims into pipelined EVALSHA batches:
// under a storm, one round trip (one write and one read on each side, one
// AOF write in Redis) carries many claims instead of one. There is no timer:
// a claim that finds a sender free is sent at once, alone; claims that
// arrive while every sender is busy queue up and leave together with the
// next free sender. Each claim is still its own script call, so atomicity
// and the answers are exactly those of claim.lua called one by one.
//
// Senders are goroutines started on demand (at most maxSenders at a time)
// that exit when the queue is empty: they live only as long as the claims
// they carry, so the batcher needs no start or stop of its own.
type claimBatcher struct {
	rdb        redis.UniversalClient
	maxSenders int
	maxBatch   int
	observe    func(size int) // batch sizes, for the metrics

	mu      sync.Mutex
	queue   []*claimCall
	senders int
}

// Defaults measured on the 2-core machine (docs/PERFORMANCE.md, Coupons):
// a few pipelines in flight keep Redis busy while the next batch gathers.
const (
	claimSenders  = 4
	claimMaxBatch = 256
)

// claimCall is one caller's claim waiting for its answer.
type claimCall struct {
	ctx    context.Context
	keys   []string
	userID int64
	out    Outcome
	err    error
	done   chan struct{}
}

func newClaimBatcher(rdb redis.UniversalClient, observe func(int)) *claimBatcher {
	return &claimBatcher{rdb: rdb, maxSenders: claimSenders, maxBatch: claimMaxBatch, observe: observe}
}

// claim runs claim.lua for one shopper in the next batch. A cancelled ctx
// returns at once; the claim is then dropped if it has not been sent yet.
func (b *claimBatcher) claim(ctx context.Context, campaignID, userID int64) (Outcome, error) {
	c := &claimCall{ctx: ctx, keys: keysOf(campaignID).forClaim(), userID: userID, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.senders < b.maxSenders {
		b.senders++
		go b.send()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
}

// send takes whatever is queued, runs it as one pipeline, and repeats until
// the queue is empty.
func (b *claimBatcher) send() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.maxBatch)
		if n == 0 {
			b.senders--
			b.mu.Unlock()
			return
		}
		batch := make([]*claimCall, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()
		b.run(batch)
	}
}

// run sends one batch. The pipeline's context is not any caller's: one
// shopper giving up must not fail the claims of the others; the client's
// own dial, read and write timeouts bound it.
func (b *claimBatcher) run(batch []*claimCall) {
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.finish(Outcome{}, err) // never sent: nothing happened
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	if b.observe != nil {
		b.observe(len(live))
	}
	ctx := context.Background()
	cmds := make([]*redis.Cmd, len(live))
	pipe := b.rdb.Pipeline()
	for i, c := range live {
		cmds[i] = claimScript.EvalSha(ctx, pipe, c.keys, c.userID)
	}
	// Exec's error is the first command's error; each command keeps its own,
	// so one failing claim (a broken key, a node down in a cluster) fails
	// only the claims it concerns.
	_, _ = pipe.Exec(ctx)

	// A Redis that restarted (or a cluster node new to this script) has an
	// empty script cache: EVAL loads it, and those claims run again. NOSCRIPT
	// means the script did not run, so running it again claims nothing twice.
	var again []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe = b.rdb.Pipeline()
		for _, i := range again {
			cmds[i] = claimScript.Eval(ctx, pipe, live[i].keys, live[i].userID)
		}
		_, _ = pipe.Exec(ctx)
	}
	for i, c := range live {
		v, err := cmds[i].Slice()
		if err != nil {
			c.finish(Outcome{}, err)
			continue
		}
		c.finish(pairOf(v))
	}
}

func (c *claimCall) finish(o Outcome, err error) {
	c.out, c.err = o, err
	close(c.done)
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
