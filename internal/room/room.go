// Package room is the waiting room in front of coupon claims (docs/HTTP.md,
// "Waiting room"). When a campaign's arrivals exceed the admission rate,
// each session gets a signed ticket for the moment its turn comes, in the
// order the sessions arrived; below the rate the room is skipped. The line
// lives in Redis under the campaign's hash tag, so every app instance (and a
// Redis Cluster) shares it; a ticket carries its own admission time and is
// checked by its signature alone, so an admitted claim costs no extra
// round trip.
package room

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/redisdb"
)

// Options configure a room (ROOM_ADMIT_PER_SECOND, ROOM_BURST,
// ROOM_ADMIT_WINDOW, ROOM_MAX_STREAMS in README.md).
type Options struct {
	// Rate is the admissions per second of each campaign; 0 turns the room off.
	Rate float64
	// Burst is how many arrivals beyond the rate may pass at once before a
	// line forms; 0 is one second's worth (at least 1).
	Burst int
	// Window is how long an admitted ticket may claim; default 2 minutes.
	Window time.Duration
	// MaxStreams bounds the waiting pages' live streams on this instance; default 5,000.
	MaxStreams int
	// Key signs tickets (at least 32 bytes).
	Key []byte
	// Metrics registers the room's series (market_room_*) when not nil.
	Metrics prometheus.Registerer
}

// Room is the waiting room of every campaign; nil or a zero rate is no room.
type Room struct {
	rdb      redis.UniversalClient
	pipe     *redisdb.Pipe // arrivals at the same moment share one round trip
	o        Options
	interval time.Duration
	streams  atomic.Int64
	m        metrics
	ended    chan struct{} // closed by EndStreams
	endOnce  sync.Once
}

// New returns the room, or nil when o.Rate is 0 (no room: every claim passes).
func New(rdb redis.UniversalClient, o Options) (*Room, error) {
	if o.Rate == 0 {
		return nil, nil
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || o.Rate > 1e6 {
		return nil, fmt.Errorf("room: admission rate %v is not between 0 and 1,000,000 per second", o.Rate)
	}
	if len(o.Key) < 32 {
		return nil, fmt.Errorf("room: the ticket key must be at least 32 bytes")
	}
	if o.Burst <= 0 {
		o.Burst = max(1, int(math.Ceil(o.Rate)))
	}
	if o.Window <= 0 {
		o.Window = 2 * time.Minute
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 5000
	}
	interval := max(time.Microsecond, time.Duration(float64(time.Second)/o.Rate))
	return &Room{rdb: rdb, pipe: redisdb.NewPipe(rdb, nil), o: o, interval: interval, m: newMetrics(o.Metrics), ended: make(chan struct{})}, nil
}

// Interval is the time between two admissions of one campaign.
func (r *Room) Interval() time.Duration { return r.interval }

// Window is how long an admitted ticket may claim.
func (r *Room) Window() time.Duration { return r.o.Window }

//go:embed enter.lua
var enterSrc string

var enterScript = redis.NewScript(enterSrc)

func keysOf(campaignID int64) []string {
	p := "room:{" + strconv.FormatInt(campaignID, 10) + "}:"
	return []string{p + "tat", p + "tickets", p + "seq", coupon.MetaKey(campaignID)}
}

// Pass is what entering the room came to.
type Pass struct {
	// Skipped: the campaign's arrivals are within the rate; claim now, no ticket.
	Skipped bool
	// Ticket is the session's ticket when the room is active (zero when skipped).
	Ticket Ticket
	// Now is Redis's clock at the arrival.
	Now time.Time
}

// Admitted reports whether the pass lets its holder claim at now.
func (p Pass) Admitted(now time.Time) bool { return p.Skipped || p.Ticket.AdmittedAt(now) }

// Enter records one session's arrival at a campaign: it passes at once while
// arrivals are within the rate, and otherwise gets a ticket (the one it
// already holds, if still good, so that pressing Claim again never loses the
// place).
func (r *Room) Enter(ctx context.Context, campaignID, userID int64, session string) (Pass, error) {
	if campaignID <= 0 || userID <= 0 || session == "" {
		return Pass{}, errs.New(errs.Invalid, "A waiting room ticket needs a campaign and a signed-in shopper.")
	}
	// Burst arrivals at once fit: the first, and burst-1 more within the tolerance.
	tau := r.interval * time.Duration(r.o.Burst-1)
	keys, args := keysOf(campaignID), []any{r.interval.Microseconds(), tau.Microseconds(), session, r.o.Window.Microseconds()}
	var cmd *redis.Cmd
	err := r.pipe.Do(ctx, func(p redis.Pipeliner) { cmd = enterScript.EvalSha(context.Background(), p, keys, args...) })
	if err == nil && isNoScript(cmd.Err()) {
		// A Redis that restarted has an empty script cache: EVAL loads it
		// (NOSCRIPT means the script did not run, so nothing is counted twice).
		cmd = enterScript.Eval(ctx, r.rdb, keys, args...)
	}
	var v []any
	if err == nil {
		v, err = cmd.Slice()
	}
	if err != nil {
		return Pass{}, unavailable(err)
	}
	kind, seq, slot, now, err := parseReply(v)
	if err != nil {
		return Pass{}, err
	}
	p := Pass{Now: time.UnixMicro(now)}
	if kind == "skip" {
		p.Skipped = true
		r.m.arrivals.WithLabelValues("skipped").Inc()
		return p, nil
	}
	p.Ticket = r.sign(Ticket{Campaign: campaignID, User: userID, Session: session, Seq: seq, AdmitAt: time.UnixMicro(slot), window: r.o.Window})
	if p.Ticket.AdmittedAt(p.Now) {
		r.m.arrivals.WithLabelValues("admitted").Inc()
	} else {
		r.m.arrivals.WithLabelValues("waiting").Inc()
	}
	return p, nil
}

func parseReply(v []any) (kind string, seq, slot, now int64, err error) {
	if len(v) == 4 {
		var ok [4]bool
		kind, ok[0] = v[0].(string)
		seq, ok[1] = v[1].(int64)
		slot, ok[2] = v[2].(int64)
		now, ok[3] = v[3].(int64)
		if ok[0] && ok[1] && ok[2] && ok[3] && (kind == "skip" || kind == "ticket") {
			return kind, seq, slot, now, nil
		}
	}
	return "", 0, 0, 0, fmt.Errorf("room script: unexpected reply %v", v)
}

var errTooManyStreams = errs.New(errs.Busy, "Too many shoppers are waiting on this server right now; the page checks your place itself.")

// Watch takes one of the instance's live waiting streams; release gives it back.
func (r *Room) Watch() (release func(), err error) {
	if r.streams.Add(1) > int64(r.o.MaxStreams) {
		r.streams.Add(-1)
		return nil, errTooManyStreams
	}
	r.m.streams.Inc()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			r.streams.Add(-1)
			r.m.streams.Dec()
		}
	}, nil
}

// Ended is closed when the shop shuts down: waiting streams end, and the
// browsers reconnect to another instance.
func (r *Room) Ended() <-chan struct{} { return r.ended }

// EndStreams ends every waiting stream (registered with the server's shutdown).
func (r *Room) EndStreams() { r.endOnce.Do(func() { close(r.ended) }) }

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// unavailable turns a Redis failure into a 503 a shopper can read, keeping
// the cause for the log; a request that ended is left as it is.
func unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &wrapped{errs.New(errs.Unavailable, "The waiting room cannot be reached right now. Please try again in a moment."), err}
}

type wrapped struct {
	shown *errs.Error
	cause error
}

func (w *wrapped) Error() string   { return w.shown.Error() + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.shown, w.cause} }
