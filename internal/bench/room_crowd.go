package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// roomAnswer is what a claim through the waiting room answers (docs/HTTP.md).
type roomAnswer struct {
	Result  string `json:"result"`
	Code    string `json:"code"`
	Ticket  string `json:"ticket"`
	Number  int64  `json:"number"`
	AdmitAt string `json:"admit_at"`
}

// visit is one shopper's way through the room.
type visit struct {
	due        time.Duration // when the arrival was scheduled, from the start
	sent       time.Time     // when the arrival went out on a connection
	skipped    bool          // claimed at arrival: the room was skipped
	number     int64         // the ticket's number (0: skipped)
	admitAt    time.Time
	arrival    time.Duration // the arrival's answer, from its due time
	claim      time.Duration // the admitted claim's answer, from its turn
	claimed    bool
	atTurn     bool     // claimed by its early try, answered after its turn (no timed claim)
	violations []string // claims answered "claimed" without passing the room
	tries      int      // claims tried around the room
	err        string
}

// roomTally gathers the visits.
type roomTally struct {
	mu      sync.Mutex
	visits  []visit
	claimed int64
	elapsed time.Duration
	cpu     time.Duration // the server's CPU over the crowd
}

// crowdAtTheRoom sends a new shopper every Poisson gap at rate offered for
// o.duration, each on its own way through the room, and waits for the last.
func crowdAtTheRoom(ctx context.Context, o roomOptions, srv *child, id int64, cookies []*http.Cookie, offered float64) *roomTally {
	rng := rand.New(rand.NewPCG(o.seed, 0x200a))
	due := poissonSchedule(rng, offered, len(cookies))
	free := make(chan *claimConn, o.conns)
	for range o.conns {
		free <- &claimConn{addr: srv.addr}
	}
	t := &roomTally{}
	cpu0 := srv.cpuTime()
	defer func() { t.cpu = srv.cpuTime() - cpu0 }()
	var wg sync.WaitGroup
	var lastTicket sync.Map // one waiting shopper's ticket, for the next to try
	start := time.Now()
	for i, d := range due {
		if d > o.duration || ctx.Err() != nil {
			break
		}
		if wait := time.Until(start.Add(d)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Go(func() {
			v := walkThrough(free, id, cookies[i], start, d, i%10 == 0, &lastTicket)
			t.mu.Lock()
			t.visits = append(t.visits, v)
			if v.claimed {
				t.claimed++
			}
			t.mu.Unlock()
		})
	}
	wg.Wait()
	t.elapsed = time.Since(start)
	close(free)
	for c := range free {
		c.close()
	}
	return t
}

// walkThrough is one shopper: arrive, and either claim at once (skipped) or
// wait for the ticket's turn and claim with it; a tester also tries the
// ways around the room, each of which must fail.
func walkThrough(free chan *claimConn, id int64, cookie *http.Cookie, start time.Time, d time.Duration, tester bool, last *sync.Map) visit {
	v := visit{due: d}
	scheduled := start.Add(d)
	status, a, err := roomClaim(free, id, cookie, "", &v.sent)
	v.arrival = time.Since(scheduled)
	switch {
	case err != nil:
		v.err = err.Error()
		return v
	case status == http.StatusOK && a.Result == "claimed":
		v.skipped, v.claimed = true, true
		return v
	case status != http.StatusTooManyRequests || a.Code != "waiting_room":
		v.err = fmt.Sprintf("arrival: status %d %+v", status, a)
		return v
	}
	v.number = a.Number
	if v.admitAt, err = time.Parse(time.RFC3339Nano, a.AdmitAt); err != nil {
		v.err = "admit_at: " + err.Error()
		return v
	}
	if tester {
		var claimedAtTurn bool
		v.violations, v.tries, claimedAtTurn = tryAroundTheRoom(free, id, cookie, a.Ticket, v.admitAt, last)
		if claimedAtTurn {
			v.claimed, v.atTurn = true, true // the early try reached the server at its turn: that was its claim
			return v
		}
	}
	turn := v.admitAt
	if now := time.Now(); now.After(turn) {
		turn = now
	}
	time.Sleep(time.Until(turn))
	status, b, err := roomClaim(free, id, cookie, a.Ticket, nil)
	v.claim = time.Since(turn)
	if err != nil || status != http.StatusOK || b.Result != "claimed" {
		v.err = fmt.Sprintf("admitted claim: status %d %+v %v", status, b, err)
		return v
	}
	v.claimed = true
	return v
}

// tryAroundTheRoom claims with a tampered ticket, with another waiting
// shopper's, and before the turn with the shopper's own: any "claimed" is a
// way around the room, except an early try whose answer came after the turn
// (the server may have decided it at the turn; then it was the shopper's
// claim, and claimedAtTurn says so).
func tryAroundTheRoom(free chan *claimConn, id int64, cookie *http.Cookie, ticket string, admitAt time.Time, last *sync.Map) (bad []string, tried int, claimedAtTurn bool) {
	tampered := []byte(ticket)
	tampered[len(tampered)/2] ^= 1
	tries := map[string]string{"tampered": string(tampered)}
	if time.Until(admitAt) > 100*time.Millisecond {
		tries["early, own"] = ticket
	}
	if other, ok := last.Swap("t", ticket); ok {
		tries["another shopper's"] = other.(string)
	}
	for name, tk := range tries {
		tried++
		status, a, err := roomClaim(free, id, cookie, tk, nil)
		if err != nil || (status != http.StatusOK && a.Result != "claimed") {
			continue
		}
		if name == "early, own" && !time.Now().Before(admitAt) {
			claimedAtTurn = true
			continue
		}
		bad = append(bad, fmt.Sprintf("%s ticket claimed (status %d)", name, status))
	}
	return bad, tried, claimedAtTurn
}

// roomClaim POSTs a claim, with the ticket when there is one, on a free
// connection; sent (when not nil) is when it went out.
func roomClaim(free chan *claimConn, id int64, cookie *http.Cookie, ticket string, sent *time.Time) (int, roomAnswer, error) {
	c := <-free
	defer func() { free <- c }()
	if sent != nil {
		*sent = time.Now()
	}
	body := ""
	if ticket != "" {
		body = url.Values{"ticket": {ticket}}.Encode()
	}
	var a roomAnswer
	var status int
	var err error
	for attempt := range 2 {
		if status, err = c.postJSON("/coupons/"+strconv.FormatInt(id, 10)+"/claim", body, cookie, &a); err == nil || attempt == 1 {
			break
		}
		c.close()
	}
	return status, a, err
}

// postJSON POSTs a form body as the cookie's shopper and decodes the JSON answer into out.
func (c *claimConn) postJSON(path, body string, cookie *http.Cookie, out any) (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return 0, err
		}
		c.conn, c.r = conn, bufio.NewReader(conn)
	}
	_ = c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	b := append(c.buf[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.addr...)
	b = append(b, "\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nCookie: "...)
	b = append(b, cookie.Name+"="+cookie.Value...)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.buf = b
	if _, err := c.conn.Write(b); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	err = json.NewDecoder(res.Body).Decode(out)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.Close {
		c.close()
	}
	return res.StatusCode, err
}

// quantiles are p50, p99 and max of ds (sorted in place).
func quantiles(ds []time.Duration) (p50, p99, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1]
}
