package room_test

import (
	"context"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
	"market/internal/errs"
	"market/internal/room"
	"market/internal/testenv"
)

var key = []byte("a-test-key-of-thirty-two-bytes-or-more")

func newRoom(t *testing.T, rdb redis.UniversalClient, o room.Options) *room.Room {
	t.Helper()
	if o.Key == nil {
		o.Key = key
	}
	r, err := room.New(rdb, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// openCampaign puts a campaign's key in Redis: the room engages only for a
// campaign Redis holds.
func openCampaign(t *testing.T, rdb redis.UniversalClient, id int64) {
	t.Helper()
	if err := rdb.HSet(t.Context(), coupon.MetaKey(id), "state", "active").Err(); err != nil {
		t.Fatal(err)
	}
}

// seedOf is the crowd's random seed: ROOM_SEED to replay a run, else the clock.
func seedOf(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if v := os.Getenv("ROOM_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	t.Logf("seed %d (replay with ROOM_SEED=%d)", seed, seed)
	return seed
}

func session(i int) string { return "sess-" + strconv.Itoa(i) }

type arrival struct {
	i    int
	pass room.Pass
}

// crowd sends n sessions into the room at once, each after a random pause
// (0–jitter), through the rooms in turn, and returns their passes.
func crowd(t *testing.T, rooms []*room.Room, campaign int64, n int, jitter time.Duration, rng *rand.Rand) []arrival {
	t.Helper()
	pauses := make([]time.Duration, n)
	for i := range pauses {
		pauses[i] = time.Duration(rng.Int64N(int64(jitter) + 1))
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		out   []arrival
	)
	for i := range n {
		r := rooms[i%len(rooms)]
		wg.Go(func() {
			<-start
			time.Sleep(pauses[i])
			p, err := r.Enter(context.Background(), campaign, int64(i+1), session(i))
			if err != nil {
				t.Errorf("enter %d: %v", i, err)
				return
			}
			mu.Lock()
			out = append(out, arrival{i, p})
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return out
}

// checkLine asserts first come, first served: tickets are numbered 1..k
// without a gap, in the order Redis saw the arrivals, and each ticket's turn
// comes one interval after the one before it.
func checkLine(t *testing.T, r *room.Room, as []arrival, burst int) []room.Ticket {
	t.Helper()
	var tickets []room.Ticket
	var skipped []time.Time
	first, last := as[0].pass.Now, as[0].pass.Now
	for _, a := range as {
		first, last = minTime(first, a.pass.Now), maxTime(last, a.pass.Now)
		if a.pass.Skipped {
			skipped = append(skipped, a.pass.Now)
			continue
		}
		tk := a.pass.Ticket
		tickets = append(tickets, tk)
		if tk.User != int64(a.i+1) || tk.Session != session(a.i) {
			t.Errorf("arrival %d got a ticket for user %d session %q", a.i, tk.User, tk.Session)
		}
	}
	sort.Slice(tickets, func(i, j int) bool { return tickets[i].Seq < tickets[j].Seq })
	// Only the burst, and what the rate admits while the crowd arrives, may
	// pass without a ticket.
	if allowed := burst + int(last.Sub(first)/r.Interval()) + 1; len(skipped) > allowed {
		t.Errorf("%d arrivals skipped the room over %v, at most %d may", len(skipped), last.Sub(first), allowed)
	}
	for i, tk := range tickets {
		if tk.Seq != int64(i+1) {
			t.Fatalf("ticket %d has number %d: numbers must be 1..%d without gaps", i, tk.Seq, len(tickets))
		}
		if i == 0 {
			continue
		}
		prev := tickets[i-1]
		if d := tk.AdmitAt.Sub(prev.AdmitAt); d < r.Interval()-time.Microsecond || d > r.Interval()+time.Microsecond {
			t.Errorf("ticket %d is admitted %v after ticket %d; the interval is %v", tk.Seq, d, prev.Seq, r.Interval())
		}
	}
	return tickets
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestCrowdIsAdmittedFirstComeFirstServed(t *testing.T) {
	seed := seedOf(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	rdb := testenv.Redis(t)
	r := newRoom(t, rdb, room.Options{Rate: 50, Burst: 5})
	openCampaign(t, rdb, 7)

	as := crowd(t, []*room.Room{r}, 7, 600, 30*time.Millisecond, rng)
	tickets := checkLine(t, r, as, 5)
	if len(tickets) < 550 {
		t.Fatalf("only %d of 600 arrivals got tickets at 50/s", len(tickets))
	}
	// Redis's clock at each arrival follows the ticket numbers: the
	// numbers are the arrival order.
	seen := map[int64]time.Time{}
	for _, a := range as {
		if !a.pass.Skipped {
			seen[a.pass.Ticket.Seq] = a.pass.Now
		}
	}
	for n := int64(2); n <= int64(len(tickets)); n++ {
		if seen[n].Before(seen[n-1]) {
			t.Fatalf("ticket %d arrived at %v, before ticket %d at %v", n, seen[n], n-1, seen[n-1])
		}
	}
	// Nobody is admitted before their turn, everyone at it, in number order.
	first, last := tickets[0], tickets[len(tickets)-1]
	if first.AdmittedAt(first.AdmitAt.Add(-time.Millisecond)) || !first.AdmittedAt(first.AdmitAt) {
		t.Error("the first ticket is admitted before its turn, or not at it")
	}
	mid := tickets[len(tickets)/2].AdmitAt
	for _, tk := range tickets {
		if tk.AdmittedAt(mid) != (tk.AdmitAt.Compare(mid) <= 0) {
			t.Fatalf("at %v ticket %d (turn %v) admitted=%v", mid, tk.Seq, tk.AdmitAt, tk.AdmittedAt(mid))
		}
	}
	if got := r.Place(last, first.AdmitAt); got != int64(len(tickets)-1) {
		t.Errorf("when the first is admitted, the last is at place %d, want %d", got, len(tickets)-1)
	}
}

func TestEnteringAgainKeepsThePlace(t *testing.T) {
	rdb := testenv.Redis(t)
	r := newRoom(t, rdb, room.Options{Rate: 1, Burst: 1})
	openCampaign(t, rdb, 3)
	ctx := t.Context()
	for i := range 3 {
		if _, err := r.Enter(ctx, 3, int64(i+1), session(i)); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := r.Enter(ctx, 3, 3, session(2))
	b, err := r.Enter(ctx, 3, 3, session(2))
	if err != nil || a.Skipped || b.Ticket.Seq != a.Ticket.Seq || !b.Ticket.AdmitAt.Equal(a.Ticket.AdmitAt) {
		t.Fatalf("the same session entering twice: %+v then %+v (%v)", a, b, err)
	}
	// One ticket per session: the fourth session is next in line, not fifth.
	c, _ := r.Enter(ctx, 3, 4, session(3))
	if c.Ticket.Seq != a.Ticket.Seq+1 {
		t.Fatalf("the next session got ticket %d after %d", c.Ticket.Seq, a.Ticket.Seq)
	}
}

func TestRoomIsSkippedBelowTheRate(t *testing.T) {
	rdb := testenv.Redis(t)
	r := newRoom(t, rdb, room.Options{Rate: 100, Burst: 2})
	openCampaign(t, rdb, 9)
	ctx := t.Context()
	enter := func(i int) room.Pass {
		p, err := r.Enter(ctx, 9, int64(i+1), session(i))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// 25 arrivals a second, a quarter of the rate: no one waits.
	for i := range 10 {
		if p := enter(i); !p.Skipped {
			t.Fatalf("arrival %d at a quarter of the rate got ticket %d", i, p.Ticket.Seq)
		}
		time.Sleep(40 * time.Millisecond)
	}
	// A burst well past it: a line forms.
	tickets := 0
	for i := 10; i < 40; i++ {
		if !enter(i).Skipped {
			tickets++
		}
	}
	if tickets < 20 {
		t.Fatalf("30 arrivals at once past a burst of 2 gave only %d tickets", tickets)
	}
	// Once the line has been served, slow arrivals pass again.
	time.Sleep(400 * time.Millisecond)
	for i := 40; i < 45; i++ {
		if p := enter(i); !p.Skipped {
			t.Fatalf("after the line cleared, arrival %d got ticket %d", i, p.Ticket.Seq)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

func TestNoRoomForACampaignRedisDoesNotHold(t *testing.T) {
	rdb := testenv.Redis(t)
	r := newRoom(t, rdb, room.Options{Rate: 1, Burst: 1})
	for i := range 5 {
		p, err := r.Enter(t.Context(), 404, int64(i+1), session(i))
		if err != nil || !p.Skipped {
			t.Fatalf("arrival %d at an unknown campaign: %+v %v", i, p, err)
		}
	}
	if n := rdb.DBSize(t.Context()).Val(); n != 0 {
		t.Fatalf("an unknown campaign's arrivals left %d keys", n)
	}
}

func TestTwoInstancesShareOneLine(t *testing.T) {
	seed := seedOf(t)
	srv := testenv.StartRedis(t, testenv.RedisOptions{})
	a := newRoom(t, srv.Client(), room.Options{Rate: 40, Burst: 4})
	b := newRoom(t, srv.Client(), room.Options{Rate: 40, Burst: 4})
	openCampaign(t, srv.Client(), 11)
	as := crowd(t, []*room.Room{a, b}, 11, 300, 20*time.Millisecond, rand.New(rand.NewPCG(uint64(seed), 1)))
	tickets := checkLine(t, a, as, 4)
	if len(tickets) < 280 {
		t.Fatalf("only %d tickets for 300 arrivals through two instances", len(tickets))
	}
	// A ticket one instance issued is good at the other.
	tk := tickets[0]
	if _, err := b.Open(tk.Token, 11, tk.User, tk.Session, tk.AdmitAt); err != nil {
		t.Fatalf("instance b refuses instance a's ticket: %v", err)
	}
}

func TestOneLineOnARedisCluster(t *testing.T) {
	c := testenv.StartCluster(t)
	rdb := c.Client(t)
	r := newRoom(t, rdb, room.Options{Rate: 40, Burst: 4})
	for _, id := range []int64{21, 22, 23} { // campaigns on different nodes
		openCampaign(t, rdb, id)
		as := crowd(t, []*room.Room{r}, id, 100, 10*time.Millisecond, rand.New(rand.NewPCG(uint64(id), 2)))
		checkLine(t, r, as, 4)
	}
}

func TestOnlyTheSessionsOwnTicketForThisCampaignPasses(t *testing.T) {
	rdb := testenv.Redis(t)
	r := newRoom(t, rdb, room.Options{Rate: 10, Burst: 1, Window: time.Minute})
	openCampaign(t, rdb, 5)
	ctx := t.Context()
	var tk room.Ticket
	for i := 0; tk.Token == ""; i++ {
		p, err := r.Enter(ctx, 5, 42, session(i))
		if err != nil {
			t.Fatal(err)
		}
		tk = p.Ticket
	}
	now := tk.AdmitAt
	other := newRoom(t, rdb, room.Options{Rate: 10, Key: []byte("another-shop's-key-thirty-two-bytes!!")})
	forged, _ := other.Enter(ctx, 5, 42, tk.Session) // same session: the held ticket, signed with the wrong key
	body, sig, _ := strings.Cut(tk.Token, ".")
	flipped := []byte(sig)
	flipped[3] ^= 1
	cases := []struct {
		name     string
		token    string
		campaign int64
		user     int64
		session  string
		at       time.Time
		code     errs.Code
	}{
		{"its own, at its turn", tk.Token, 5, 42, tk.Session, now, ""},
		{"its own, at the end of its window", tk.Token, 5, 42, tk.Session, now.Add(time.Minute), ""},
		{"its own, after its window", tk.Token, 5, 42, tk.Session, now.Add(time.Minute + time.Millisecond), room.CodeTicketExpired},
		{"another session's", tk.Token, 5, 42, "sess-other", now, room.CodeTicketInvalid},
		{"another shopper's", tk.Token, 5, 43, tk.Session, now, room.CodeTicketInvalid},
		{"another campaign's", tk.Token, 6, 42, tk.Session, now, room.CodeTicketInvalid},
		{"signed with another key", forged.Ticket.Token, 5, 42, tk.Session, now, room.CodeTicketInvalid},
		{"a changed signature", body + "." + string(flipped), 5, 42, tk.Session, now, room.CodeTicketInvalid},
		{"no signature", body, 5, 42, tk.Session, now, room.CodeTicketInvalid},
		{"empty", "", 5, 42, tk.Session, now, room.CodeTicketInvalid},
		{"garbage", "%%%.???", 5, 42, tk.Session, now, room.CodeTicketInvalid},
	}
	if forged.Ticket.Token == "" {
		t.Fatal("the other room gave no ticket to forge with")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Open(c.token, c.campaign, c.user, c.session, c.at)
			if c.code == "" {
				if err != nil || !got.AdmittedAt(c.at) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errs.Is(err, c.code) {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
	// Before its turn it opens, but does not admit.
	if got, err := r.Open(tk.Token, 5, 42, tk.Session, now.Add(-time.Millisecond)); err != nil || got.AdmittedAt(now.Add(-time.Millisecond)) {
		t.Fatalf("a ticket before its turn: admitted=%v err=%v", got.AdmittedAt(now.Add(-time.Millisecond)), err)
	}
}

func TestWaitingStreamsAreBoundedAndEndAtShutdown(t *testing.T) {
	r := newRoom(t, testenv.Redis(t), room.Options{Rate: 1, MaxStreams: 2})
	a, errA := r.Watch()
	_, errB := r.Watch()
	if errA != nil || errB != nil {
		t.Fatalf("two streams of two: %v %v", errA, errB)
	}
	if _, err := r.Watch(); !errs.Is(err, errs.Busy) {
		t.Fatalf("a third stream: %v, want busy", err)
	}
	a()
	a() // releasing twice frees one place, not two
	if _, err := r.Watch(); err != nil {
		t.Fatalf("after one ended: %v", err)
	}
	if _, err := r.Watch(); !errs.Is(err, errs.Busy) {
		t.Fatalf("a double release made room for two: %v", err)
	}
	r.EndStreams()
	select {
	case <-r.Ended():
	default:
		t.Fatal("EndStreams did not end the streams")
	}
}

func TestArrivalsAreCountedByOutcome(t *testing.T) {
	rdb := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	r := newRoom(t, rdb, room.Options{Rate: 1, Burst: 1, Metrics: reg})
	openCampaign(t, rdb, 8)
	for i := range 3 {
		if _, err := r.Enter(t.Context(), 8, int64(i+1), session(i)); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "market_room_arrivals_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["skipped"] != 1 || got["waiting"] != 2 || got["admitted"] != 0 {
		t.Fatalf("arrivals by outcome: %v, want 1 skipped and 2 waiting", got)
	}
}
