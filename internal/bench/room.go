package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/config"
	"market/internal/coupon"
)

// roomBench: `market bench room` — a crowd at three times what the shop can
// serve meets the waiting room (docs/PERFORMANCE.md, Waiting room).
//
// What the shop can serve is measured first, unless -serve names it: the
// highest open-loop claim rate, without a room, at which the shop answers
// with p99 under the bar and no error (the claims-open probe, on a server of
// its own). Then a server with the room admitting that rate gets arrivals
// at -factor times it (Poisson, seeded), each a new shopper: an arrival
// within the rate claims at once; the others get a ticket, wait for its
// turn, and claim with it. A tenth of the waiting shoppers also try to
// claim early with their ticket, with a tampered one and with another
// shopper's. The bench exits non-zero when any of those is answered
// "claimed", when the admitted claims miss the p99 bar or fail, when tickets
// are not numbered and admitted in arrival order, or when PostgreSQL does
// not end up holding exactly the claims answered "claimed".
func roomBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) (err error) {
	o, err := parseRoomFlags(args)
	if err != nil {
		return err
	}
	pool, rdb, closeStores, err := openStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStores()
	if err := requireFsyncAlways(ctx, rdb); err != nil {
		return err
	}
	made := &benchCampaigns{svc: coupon.NewService(pool, rdb, coupon.Options{Log: slog.New(slog.DiscardHandler)})}
	defer func() { err = errors.Join(err, made.cleanup(context.WithoutCancel(ctx), pool, rdb)) }()
	sessions := account.NewSessions(rdb, account.SessionMaxAge)
	var crowds []crowd // their sessions end with the bench
	defer func() {
		for _, c := range crowds {
			err = errors.Join(err, c.end(ctx, sessions))
		}
	}()
	if o.serve == 0 {
		if o.serve, err = probeServeRate(ctx, o, pool, rdb, made, func(n int) ([]*http.Cookie, error) {
			c, err := benchShoppers(ctx, pool, sessions, cfg.SessionSecret, n)
			crowds = append(crowds, c)
			return c.cookies, err
		}); err != nil {
			return err
		}
	}
	admit := o.admit
	if admit == 0 {
		admit = o.serve
	}
	offered := o.serve * o.factor
	n := int(offered*o.duration.Seconds()) + 1
	fmt.Printf("\nwaiting room: admits %.0f claims/s per campaign; offered %.0f arrivals/s (%.1f × %.0f) for %s, %d shoppers; creating them ...\n",
		admit, offered, o.factor, o.serve, o.duration, n)
	c, err := benchShoppers(ctx, pool, sessions, cfg.SessionSecret, n)
	crowds = append(crowds, c)
	if err != nil {
		return err
	}
	cookies := c.cookies
	srv, err := startServer("room", "", "ROOM_ADMIT_PER_SECOND="+strconv.FormatFloat(admit, 'f', -1, 64),
		"ROOM_BURST="+strconv.Itoa(o.burst), "ROOM_ADMIT_WINDOW="+o.window.String())
	if err != nil {
		return err
	}
	defer srv.stopAndKeepLog("room")
	id, err := made.open(ctx, fmt.Sprintf("Waiting room %.0f/s", offered), int64(n)+1000)
	if err != nil {
		return err
	}
	t := crowdAtTheRoom(ctx, o, srv, id, cookies, offered)
	r := t.report(o, admit)
	if err := checkPersisted(ctx, pool, rdb, openResult{campaign: id, claimed: t.claimed}); err != nil {
		return err
	}
	fmt.Printf("PostgreSQL holds exactly the %d claims answered \"claimed\"; server peak RSS %d MB\n", t.claimed, srv.peakRSS()>>20)
	return r
}

// roomOptions are the room bench's flags.
type roomOptions struct {
	serve, admit, factor float64
	probeRates           []float64
	probeTime, duration  time.Duration
	window               time.Duration
	burst, conns         int
	seed                 uint64
	target               time.Duration
}

func parseRoomFlags(args []string) (roomOptions, error) {
	fs := flag.NewFlagSet("bench room", flag.ContinueOnError)
	serve := fs.Float64("serve", 0, "claims/s the shop can serve; 0 measures it first (-probe-rates)")
	probe := fs.String("probe-rates", "1000,2000,3000,4000", "claim rates tried, without a room, to find what the shop serves with p99 under -p99")
	probeTime := fs.Duration("probe-duration", 5*time.Second, "measured time per probe rate (after 1 s of warm-up)")
	admit := fs.Float64("admit", 0, "the room's admissions per second; 0 is what the shop can serve")
	factor := fs.Float64("factor", 3, "arrivals offered, as a multiple of what the shop can serve")
	duration := fs.Duration("duration", 10*time.Second, "how long the crowd keeps arriving")
	burst := fs.Int("burst", 0, "ROOM_BURST of the server (0: one second's worth)")
	window := fs.Duration("window", 2*time.Minute, "ROOM_ADMIT_WINDOW of the server")
	conns := fs.Int("connections", 1000, "keep-alive connections the crowd shares")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the arrival times")
	target := fs.Duration("p99", 50*time.Millisecond, "the p99 bar of admitted claims")
	if err := fs.Parse(args); err != nil {
		return roomOptions{}, err
	}
	o := roomOptions{serve: *serve, admit: *admit, factor: *factor, probeTime: *probeTime, duration: *duration, window: *window,
		burst: *burst, conns: *conns, seed: *seed, target: *target}
	for _, f := range strings.Split(*probe, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return roomOptions{}, fmt.Errorf("bench room: -probe-rates: %q is not a positive number", f)
		}
		o.probeRates = append(o.probeRates, r)
	}
	if o.serve < 0 || o.admit < 0 || o.factor <= 0 || o.duration <= 0 || o.conns < 1 || o.burst < 0 {
		return roomOptions{}, errors.New("bench room: -serve, -admit, -burst ≥ 0; -factor, -duration, -connections > 0")
	}
	return o, nil
}

// probeServeRate finds what the shop can serve: the highest probe rate whose
// claims (no room) meet the p99 bar with no error, on a server of its own.
func probeServeRate(ctx context.Context, o roomOptions, pool *pgxpool.Pool, rdb redis.UniversalClient, made *benchCampaigns, shoppers func(int) ([]*http.Cookie, error)) (float64, error) {
	need := 0
	for _, r := range o.probeRates {
		need += int(r*(o.probeTime+time.Second).Seconds()) + 1
	}
	fmt.Printf("bench room: finding what the shop can serve: open-loop claims at %v/s, %s each, no waiting room; creating %d shoppers ...\n",
		o.probeRates, o.probeTime, need)
	cookies, err := shoppers(need)
	if err != nil {
		return 0, err
	}
	srv, err := startServer("room-probe", "")
	if err != nil {
		return 0, err
	}
	defer srv.stopAndKeepLog("room-probe")
	free := make(chan *claimConn, o.conns)
	for range o.conns {
		free <- &claimConn{addr: srv.addr}
	}
	defer func() {
		close(free)
		for c := range free {
			c.close()
		}
	}()
	rng := rand.New(rand.NewPCG(o.seed, 0x9e0be))
	best := 0.0
	for _, rate := range o.probeRates {
		n := int(rate*(o.probeTime+time.Second).Seconds()) + 1
		r, err := openRun(ctx, made, free, cookies[:n], rate, time.Second, o.probeTime, rng, srv, rdb)
		if err != nil {
			return 0, err
		}
		cookies = cookies[n:]
		ok := r.errors == 0 && r.p99 < o.target
		fmt.Printf("  probe %6.0f/s: answered %6.0f/s, p50 %s, p99 %s, errors %d, CPU a claim (server / load generator / Redis) %s → %v\n", rate, r.answered,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errors, r.cpu, ok)
		if err := checkPersisted(ctx, pool, rdb, r); err != nil {
			return 0, err
		}
		if ok {
			best = max(best, rate)
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("bench room: no probe rate met p99 < %s; give -serve or lower -probe-rates", o.target)
	}
	fmt.Printf("what the shop can serve: %.0f claims/s (p99 under %s, no error; load generator on the same 2 cores)\n", best, o.target)
	return best, nil
}
