package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"market/internal/room"
	"market/internal/testenv"
)

// newRoomHarness is the harness with a waiting room in front of claims.
func newRoomHarness(t *testing.T, o room.Options) *harness {
	t.Helper()
	return newHarnessOn(t, testenv.DB(t), func(d *Deps) {
		o.Key = room.KeyFrom(d.Config.SessionSecret)
		r, err := room.New(d.Redis, o)
		if err != nil {
			t.Fatal(err)
		}
		d.Room = r
	})
}

// waitingAnswer is the claim's 429 waiting_room body.
type waitingAnswer struct {
	Code        string  `json:"code"`
	Error       string  `json:"error"`
	Ticket      string  `json:"ticket"`
	Number      int64   `json:"number"`
	Place       int64   `json:"place"`
	WaitSeconds float64 `json:"wait_seconds"`
	AdmitAt     string  `json:"admit_at"`
	Admitted    bool    `json:"admitted"`
	RoomURL     string  `json:"room_url"`
}

func (c *client) claimJSON(id, ticket string) (reply, waitingAnswer) {
	c.h.t.Helper()
	var form url.Values
	if ticket != "" {
		form = url.Values{"ticket": {ticket}}
	}
	r := c.post("/coupons/"+id+"/claim", form)
	var w waitingAnswer
	if r.status == http.StatusTooManyRequests {
		if err := json.Unmarshal([]byte(r.body), &w); err != nil || w.Code != "waiting_room" || w.Ticket == "" {
			c.h.t.Fatalf("waiting answer: %s (%v)", r.body, err)
		}
	}
	return r, w
}

func shoppers(h *harness, n int) []*client {
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = h.client()
		cs[i].signup(fmt.Sprintf("s%d@example.test", i), "Shopper", "password123")
		cs[i] = cs[i].json()
	}
	return cs
}

func TestAClaimPastTheRateWaitsItsTurnAndOnlyItsOwnTicketPasses(t *testing.T) {
	h := newRoomHarness(t, room.Options{Rate: 2, Burst: 1, Window: 3 * time.Second})
	id, other := h.activeCampaign("100"), h.activeCampaign("100")
	cs := shoppers(h, 3)
	a, b, c := cs[0], cs[1], cs[2]

	if r, _ := a.claimJSON(id, ""); r.status != http.StatusOK {
		t.Fatalf("the first arrival, within the rate: %d %s", r.status, r.body)
	}
	rb, wb := b.claimJSON(id, "")
	rc, wc := c.claimJSON(id, "")
	if rb.status != 429 || rc.status != 429 || wc.Place <= wb.Place || wc.Number != wb.Number+1 || rb.header.Get("Retry-After") == "" {
		t.Fatalf("past the rate: b %d %s, c %d %s", rb.status, rb.body, rc.status, rc.body)
	}
	refused := []struct {
		name   string
		c      *client
		campID string
		ticket string
		status int
		code   string
	}{
		{"another shopper's ticket", c, id, wb.Ticket, 403, "ticket_invalid"},
		{"another campaign's ticket", b, other, wb.Ticket, 403, "ticket_invalid"},
		{"a forged ticket", b, id, strings.Replace(wb.Ticket, ".", ".x", 1), 403, "ticket_invalid"},
		{"a made-up ticket", b, id, "abc.def", 403, "ticket_invalid"},
		{"a ticket too long", b, id, strings.Repeat("a", 600), 403, "ticket_invalid"},
	}
	for _, tt := range refused {
		r, _ := tt.c.claimJSON(tt.campID, tt.ticket)
		if r.status != tt.status || !strings.Contains(r.body, `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.body)
		}
	}
	// Before its turn, its own ticket answers the same place in line, not a new one.
	if r, w := b.claimJSON(id, wb.Ticket); r.status != 429 || w.Number != wb.Number {
		t.Fatalf("b's own ticket before its turn: %d %s", r.status, r.body)
	}
	time.Sleep(time.Duration(wc.WaitSeconds*float64(time.Second)) + 50*time.Millisecond)
	if r, _ := b.claimJSON(id, wb.Ticket); r.status != http.StatusOK {
		t.Fatalf("b at its turn, with its ticket: %d %s", r.status, r.body)
	}
	// Without the ticket in hand, the session's own ticket is found in the line.
	if r, _ := c.claimJSON(id, ""); r.status != http.StatusOK {
		t.Fatalf("c at its turn, without its ticket: %d %s", r.status, r.body)
	}
	time.Sleep(3*time.Second + 600*time.Millisecond)
	if r, _ := b.claimJSON(id, wb.Ticket); r.status != 409 || !strings.Contains(r.body, `"code":"ticket_expired"`) {
		t.Fatalf("a ticket past its window: %d %s", r.status, r.body)
	}
	if n := h.count("SELECT count(*) FROM campaigns WHERE id = $1 AND total_quantity = 100", id); n != 1 {
		t.Fatal("campaign changed")
	}
	if got := redisClaimed(t, h, id); got != 3 {
		t.Fatalf("%d claims reached the campaign, want the 3 that passed the room", got)
	}
}

// redisClaimed is how many shoppers the campaign's Redis keys hold.
func redisClaimed(t *testing.T, h *harness, id string) int64 {
	t.Helper()
	n, err := h.s.Redis.HLen(t.Context(), "coupon:{"+id+"}:claimed").Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNoClaimPassesTheActiveRoomWithoutAnAdmittedTicket(t *testing.T) {
	h := newRoomHarness(t, room.Options{Rate: 0.5, Burst: 2})
	id := h.activeCampaign("1000")
	cs := shoppers(h, 18) // sign-ups from one address are limited to 20 an hour
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		start           = make(chan struct{})
		claimed, waited int
		tickets         []string
	)
	for _, c := range cs {
		wg.Go(func() {
			<-start
			r, w := c.claimJSON(id, "")
			mu.Lock()
			defer mu.Unlock()
			switch r.status {
			case 200:
				claimed++
			case 429:
				waited++
				tickets = append(tickets, w.Ticket)
			default:
				t.Errorf("claim: %d %s", r.status, r.body)
			}
		})
	}
	close(start)
	wg.Wait()
	if claimed > 2 || claimed+waited != len(cs) {
		t.Fatalf("18 at once, burst 2: %d claimed, %d waiting", claimed, waited)
	}
	// Every shopper tries every waiting ticket: none is admitted yet, and
	// none is anyone else's.
	for _, c := range cs {
		for _, tk := range tickets {
			if r, _ := c.claimJSON(id, tk); r.status == 200 {
				t.Fatalf("a claim passed with a ticket whose turn has not come: %s", r.body)
			}
		}
	}
	if got := redisClaimed(t, h, id); got != int64(claimed) {
		t.Fatalf("the campaign holds %d claims, %d passed the room", got, claimed)
	}
}

func TestTheWaitingRoomInPagesFragmentsAndAStream(t *testing.T) {
	h := newRoomHarness(t, room.Options{Rate: 1, Burst: 1})
	id := h.activeCampaign("10")
	cs := shoppers(h, 3)
	cs[0].claimJSON(id, "")
	browser := *cs[1]
	browser.hdr = http.Header{}
	// A browser's form goes to the waiting room page.
	r := browser.post("/coupons/"+id+"/claim", nil)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/coupons/"+id+"/room?ticket=") {
		t.Fatalf("a browser's claim past the rate: %d %q", r.status, loc)
	}
	if p := browser.get(loc); p.status != 200 || !strings.Contains(p.body, "<h1>Waiting room</h1>") || !strings.Contains(p.body, "You are ") {
		t.Fatalf("the waiting room page: %d %s", p.status, p.body)
	}
	if p := cs[2].get(loc); p.status != 403 {
		t.Fatalf("another shopper opening the page: %d %s", p.status, p.body)
	}
	// htmx: the panel in place of the card's claim area, with its live stream.
	hx := *cs[2]
	hx.hdr = http.Header{"Hx-Request": {"true"}}
	f := hx.post("/coupons/"+id+"/claim", nil)
	if f.status != 429 || f.header.Get("HX-Retarget") != "#claim-area-"+id || !strings.Contains(f.body, `data-testid="waiting-room"`) ||
		!strings.Contains(f.body, `sse-connect="/coupons/`+id+`/room?ticket=`) {
		t.Fatalf("htmx claim past the rate: %d %v %s", f.status, f.header, f.body)
	}
	// The stream counts down, then hands over the Claim button with the ticket.
	events := streamEvents(t, h, &browser, loc)
	if len(events) < 2 || events[0].name != "place" || events[len(events)-1].name != "admitted" ||
		!strings.Contains(events[len(events)-1].data, `name="ticket"`) {
		t.Fatalf("stream events: %+v", events)
	}
}

type sseEventSeen struct{ name, data string }

func streamEvents(t *testing.T, h *harness, c *client, path string) []sseEventSeen {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	var out []sseEventSeen
	var cur sseEventSeen
	sc := bufio.NewScanner(res.Body)
	deadline := time.AfterFunc(10*time.Second, func() { res.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ") + "\n"
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = sseEventSeen{}
		}
	}
	return out
}

func TestTwoInstancesShareOneWaitingLine(t *testing.T) {
	h := newRoomHarness(t, room.Options{Rate: 1, Burst: 1})
	id := h.activeCampaign("100")
	// A second instance: its own handler and room, the same PostgreSQL and Redis.
	d := h.s.Deps
	other, err := room.New(d.Redis, room.Options{Rate: 1, Burst: 1, Key: room.KeyFrom(d.Config.SessionSecret)})
	if err != nil {
		t.Fatal(err)
	}
	d.Room = other
	second := httptest.NewServer(New(d))
	t.Cleanup(second.Close)

	cs := shoppers(h, 4)
	var numbers []int64
	for i, c := range cs {
		base := h.srv.URL
		if i%2 == 1 {
			base = second.URL
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/coupons/"+id+"/claim", nil)
		req.Header.Set("Accept", "application/json")
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var w waitingAnswer
		_ = json.NewDecoder(res.Body).Decode(&w)
		res.Body.Close()
		if i == 0 {
			if res.StatusCode != 200 {
				t.Fatalf("the first arrival: %d", res.StatusCode)
			}
			continue
		}
		if res.StatusCode != 429 {
			t.Fatalf("arrival %d at instance %d: %d", i, i%2+1, res.StatusCode)
		}
		numbers = append(numbers, w.Number)
	}
	// One line across both instances: tickets 1, 2, 3 in arrival order.
	if fmt.Sprint(numbers) != "[1 2 3]" {
		t.Fatalf("ticket numbers across two instances: %v", numbers)
	}
}
