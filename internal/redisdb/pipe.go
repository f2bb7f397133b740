package redisdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pipe coalesces concurrent calls into pipelined round trips: under a storm,
// one round trip (one write and one read on each side, one AOF write in
// Redis) carries many calls instead of one. There is no timer: a call that
// finds a sender free goes out at once, alone; calls that arrive while every
// sender is busy leave together with the next free sender. Each call's
// commands keep their own replies and errors, so one failing call fails
// only itself.
//
// Senders are goroutines started on demand (at most pipeSenders at a time)
// that exit when the queue is empty: they live only as long as the calls
// they carry, so a Pipe needs no start or stop.
type Pipe struct {
	rdb     redis.UniversalClient
	observe func(calls int) // batch sizes, for metrics; may be nil
	wait    Wait
	// attached is how many replicas the node had at its last pipeline
	// (ROLE): WAIT asks for no more than that.
	attached atomic.Int64

	mu      sync.Mutex
	queue   []*pipeCall
	senders int
}

// Measured on the 2-core machine (docs/PERFORMANCE.md, Coupons): a few
// pipelines in flight keep Redis busy while the next batch gathers.
const (
	pipeSenders  = 4
	pipeMaxBatch = 256
)

type pipeCall struct {
	ctx  context.Context
	add  func(redis.Pipeliner)
	err  error
	done chan struct{}
}

// NewPipe batches calls to rdb; observe (or nil) hears each batch's size.
func NewPipe(rdb redis.UniversalClient, observe func(calls int)) *Pipe {
	return &Pipe{rdb: rdb, observe: observe}
}

// Wait is how many replicas must hold a pipeline's writes before its calls
// are answered, and how long to wait for them (Redis's WAIT).
type Wait struct {
	Replicas int
	Timeout  time.Duration
}

// ErrNotReplicated is Do's answer when the pipeline ran but fewer replicas
// than asked acknowledged its writes within the timeout: the writes are in
// the primary (and its AOF), not yet in enough replicas to survive a failover.
var ErrNotReplicated = errors.New("redis: writes not acknowledged by enough replicas in time")

// NewWaitPipe batches calls to one Redis node and ends every pipeline with
// WAIT. WAIT counts the writes of its own connection, so it must follow them
// on the same one: node is a single node's client (a pipeline on it is one
// connection), never a Cluster client, which would send WAIT to any node.
//
// A node with fewer replicas attached than asked (its replica died, or it is
// a replica just promoted) is waited on for those it has: no failover can
// promote a replica that is not there, and its AOF keeps what it acknowledged.
// Each pipeline asks the node (ROLE) how many it has now.
func NewWaitPipe(node *redis.Client, w Wait, observe func(calls int)) *Pipe {
	p := &Pipe{rdb: node, observe: observe, wait: w}
	p.attached.Store(int64(w.Replicas))
	return p
}

// Do has add queue its commands into the next pipeline, and returns once
// the pipeline is answered; the caller then reads the commands add made.
// On a wait pipe, ErrNotReplicated says the commands ran but their writes
// are not (yet) in enough replicas.
// A ctx that ends first returns at once; commands not sent by then never
// are. The pipeline itself runs under the client's own timeouts, not any
// one caller's context: one shopper giving up must not fail the others.
func (p *Pipe) Do(ctx context.Context, add func(redis.Pipeliner)) error {
	c := &pipeCall{ctx: ctx, add: add, done: make(chan struct{})}
	p.mu.Lock()
	p.queue = append(p.queue, c)
	if p.senders < pipeSenders {
		p.senders++
		go p.send()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send takes whatever is queued, runs it as one pipeline, and repeats until
// the queue is empty.
func (p *Pipe) send() {
	for {
		p.mu.Lock()
		n := min(len(p.queue), pipeMaxBatch)
		if n == 0 {
			p.senders--
			p.mu.Unlock()
			return
		}
		batch := make([]*pipeCall, n)
		copy(batch, p.queue)
		rest := copy(p.queue, p.queue[n:])
		clear(p.queue[rest:])
		p.queue = p.queue[:rest]
		p.mu.Unlock()
		p.run(batch)
	}
}

func (p *Pipe) run(batch []*pipeCall) {
	pipe := p.rdb.Pipeline()
	sent := batch[:0]
	for _, c := range batch {
		if c.err = c.ctx.Err(); c.err != nil {
			close(c.done) // never sent: nothing happened
			continue
		}
		c.add(pipe)
		sent = append(sent, c)
	}
	if len(sent) == 0 {
		return
	}
	if p.observe != nil {
		p.observe(len(sent))
	}
	var (
		wait *redis.IntCmd
		role *redis.Cmd
		want = min(int64(p.wait.Replicas), p.attached.Load())
	)
	if p.wait.Replicas > 0 {
		role = redis.NewCmd(context.Background(), "role")
		_ = pipe.Process(context.Background(), role)
	}
	if want > 0 {
		wait = redis.NewIntCmd(context.Background(), "wait", want, p.wait.Timeout.Milliseconds())
		_ = pipe.Process(context.Background(), wait)
	}
	// Exec's error is the first command's; each command keeps its own.
	_, _ = pipe.Exec(context.Background())
	if n, ok := replicasOf(role); ok {
		// Judged by the replicas attached when these writes ran: the first
		// pipeline on a node without any waited in vain, but is answered.
		p.attached.Store(n)
		want = min(want, n)
	}
	short := p.shortOf(wait, want)
	for _, c := range sent {
		c.err = short
		close(c.done)
	}
}

// shortOf is nil when WAIT was not asked for or was answered by enough
// replicas, else why not.
func (p *Pipe) shortOf(wait *redis.IntCmd, want int64) error {
	if wait == nil || want == 0 {
		return nil
	}
	n, err := wait.Result()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %w", ErrNotReplicated, err)
	}
	if n < want {
		return fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, want, p.wait.Timeout)
	}
	return nil
}

// replicasOf reads a primary's ROLE answer: "master", offset, [replicas].
func replicasOf(role *redis.Cmd) (int64, bool) {
	if role == nil {
		return 0, false
	}
	v, err := role.Slice()
	if err != nil || len(v) < 3 || v[0] != "master" {
		return 0, false
	}
	list, ok := v[2].([]any)
	return int64(len(list)), ok
}
