package web

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"market/internal/coupon"
)

// sseEvents reads a stream's events (name and data) into a channel.
func sseEvents(t *testing.T, res *http.Response) <-chan [2]string {
	out := make(chan [2]string, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && name != "":
				out <- [2]string{name, data}
				name, data = "", ""
			}
		}
	}()
	return out
}

func waitEvent(t *testing.T, events <-chan [2]string, name, data string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before %s: %s", name, data)
			}
			if e[0] == name && e[1] == data {
				return
			}
		case <-deadline:
			t.Fatalf("no event %s: %s within %v", name, data, within)
		}
	}
}

// The stream sends a campaign's remaining count as it falls, outlives the
// request timeout, and ends when the shop shuts down.
func TestTheLiveStreamSendsCountsPastTheRequestTimeoutUntilShutdown(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("5")
	d := h.s.Deps
	d.Config.RequestTimeout = 300 * time.Millisecond
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/coupons/live?ids="+id, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := sseEvents(t, res)
	waitEvent(t, events, "remaining-"+id, "5 left", 3*time.Second)

	time.Sleep(500 * time.Millisecond) // past REQUEST_TIMEOUT
	c := h.client()
	c.signup("live@example.test", "Live", "password123")
	if r := c.json().post("/coupons/"+id+"/claim", nil); r.status != 200 {
		t.Fatalf("claim: %d %s", r.status, r.body)
	}
	waitEvent(t, events, "remaining-"+id, "4 left", 3*time.Second)

	h.coupons.EndWatches()
	select {
	case _, open := <-events:
		for open {
			_, open = <-events
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream outlived shutdown")
	}
}

func TestLiveCountsRefuseBadIdsAndAnswerThePoll(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("5")
	c := h.client().json()
	for _, bad := range []string{"", "x", "0", "-1", "1,,2", strings.Repeat("1,", 50) + "1", "99999999999999999999"} {
		if r := c.get("/coupons/live?ids=" + bad); r.status != 422 || !strings.Contains(r.body, `"code":"invalid_input"`) {
			t.Fatalf("ids=%q: %d %s", bad, r.status, r.body)
		}
	}
	r := c.get("/coupons/live?ids=" + id)
	var body struct {
		ServerTime string           `json:"server_time"`
		Remaining  map[string]int64 `json:"remaining"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 200 || body.Remaining[id] != 5 {
		t.Fatalf("poll: %d %s", r.status, r.body)
	}
	if _, err := time.Parse(time.RFC3339, body.ServerTime); err != nil {
		t.Fatalf("server_time %q", body.ServerTime)
	}
	// htmx's poll gets the counts to swap in out of band.
	if r := h.client().get("/coupons/live?ids="+id, "HX-Request", "true"); r.status != 200 ||
		!strings.Contains(r.body, `id="remaining-`+id+`" hx-swap-oob="innerHTML">5 left`) {
		t.Fatalf("htmx poll: %d %s", r.status, r.body)
	}
}

// Shoppers' campaign JSON on / and /coupons (docs/HTTP.md), and the card of
// a campaign that has not opened: its button is off until the opening second.
func TestShoppersSeeUpcomingAndOpenSalesOnHomeAndCoupons(t *testing.T) {
	h := newHarness(t)
	open := h.activeCampaign("5")
	admin := h.client()
	admin.login(adminEmail, adminPassword)
	admin = admin.json()
	r := admin.post("/admin/campaigns", campaignForm(map[string]string{"name": "Midnight sale", "total_quantity": "7",
		"starts_at": time.Now().Add(4*time.Minute + 59*time.Second + 500*time.Millisecond).Format(time.RFC3339), "ends_at": time.Now().Add(2 * time.Hour).Format(time.RFC3339)}))
	var up struct{ ID int64 }
	_ = json.Unmarshal([]byte(r.body), &up)
	upcoming := itoa(up.ID)
	if r := admin.post("/admin/campaigns/"+upcoming+"/activate", nil); r.status != 200 {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}

	type sale struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		Discount  string `json:"discount"`
		Status    string `json:"status"`
		StartsAt  string `json:"starts_at"`
		EndsAt    string `json:"ends_at"`
		Remaining int64  `json:"remaining"`
		Total     int64  `json:"total_quantity"`
	}
	for _, path := range []string{"/", "/coupons"} {
		r := h.client().json().get(path)
		var body struct {
			ServerTime string `json:"server_time"`
			Campaigns  []sale `json:"campaigns"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 200 || len(body.Campaigns) != 2 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		if _, err := time.Parse(time.RFC3339, body.ServerTime); err != nil {
			t.Fatalf("%s server_time %q", path, body.ServerTime)
		}
		o, u := body.Campaigns[0], body.Campaigns[1]
		if itoa(o.ID) != open || o.Status != "open" || o.Remaining != 5 || o.Total != 5 || o.Discount != "₩3,000 off" {
			t.Fatalf("%s open: %+v", path, o)
		}
		if itoa(u.ID) != upcoming || u.Status != "upcoming" || u.Remaining != 7 || u.Total != 7 || u.Name != "Midnight sale" {
			t.Fatalf("%s upcoming: %+v", path, u)
		}
		if _, err := time.Parse(time.RFC3339, u.StartsAt); err != nil {
			t.Fatalf("starts_at %q", u.StartsAt)
		}
	}

	shopper := h.client()
	shopper.signup("early@example.test", "Early", "password123")
	for _, path := range []string{"/", "/coupons"} {
		page := shopper.get(path).body
		card := page[strings.Index(page, `data-campaign="`+upcoming+`"`):]
		card = card[:strings.Index(card, "</article>")]
		if !regexp.MustCompile(`Opens in 0[45]:[0-5][0-9]<`).MatchString(card) {
			t.Fatalf("%s upcoming card without its countdown:\n%s", path, card)
		}
		for _, want := range []string{"Upcoming", `data-claim disabled`, "7 left", `sse-swap="remaining-` + upcoming + `"`} {
			if !strings.Contains(card, want) {
				t.Fatalf("%s upcoming card lacks %q:\n%s", path, want, card)
			}
		}
		openCard := page[strings.Index(page, `data-campaign="`+open+`"`):]
		openCard = openCard[:strings.Index(openCard, "</article>")]
		if !strings.Contains(openCard, "Open now") || !strings.Contains(openCard, "Ends in 1 h 0 min") || strings.Contains(openCard, "data-claim disabled") || !strings.Contains(openCard, "data-claim>") {
			t.Fatalf("%s open card:\n%s", path, openCard)
		}
		for _, c := range []string{card, openCard} {
			if n := strings.Count(c, `aria-live`) + strings.Count(c, `role="status"`) + strings.Count(c, `role="alert"`); n != 1 {
				t.Fatalf("%s: a card with %d live regions, want its one message area:\n%s", path, n, c)
			}
		}
	}
	// The claim script decides on Redis's clock: early is not_active.
	if r := shopper.json().post("/coupons/"+upcoming+"/claim", nil); r.status != 403 || !strings.Contains(r.body, "not_active") {
		t.Fatalf("early claim: %d %s", r.status, r.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A claim the shop cannot take (Redis unreachable) answers htmx beside the
// button with "Try again", 503 and Retry-After; nothing is claimed.
func TestABusyClaimOffersToTryAgainBesideTheButton(t *testing.T) {
	h := newHarness(t)
	id := h.activeCampaign("5")
	d := h.s.Deps
	unreachable := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { unreachable.Close() })
	d.Coupons = coupon.NewService(h.pool, unreachable, coupon.Options{})
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	c := h.client()
	c.signup("busy@example.test", "Busy", "password123")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/coupons/"+id+"/claim", nil)
	req.Header.Set("HX-Request", "true")
	for _, ck := range c.hc.Jar.Cookies(mustURL(t, h.srv.URL)) {
		req.AddCookie(ck)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	body := string(b)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Try again") ||
		!strings.Contains(body, `hx-target="#claim-`+id+`"`) || strings.Contains(body, "<html") || strings.Contains(body, "role=") {
		t.Fatalf("%d Retry-After %q:\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if n := h.count("SELECT count(*) FROM coupons"); n != 0 {
		t.Fatalf("%d coupons", n)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
