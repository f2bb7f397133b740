package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"market/internal/replica"
	"market/internal/testenv"
)

// TestReadsOnTheReplica proves where catalogue and search reads go when a
// replica is configured (docs/HTTP.md, "Where reads go"), against a real
// streaming replica of the test server: one for the whole package, since
// making one takes about a second. Each case has its own router, so each
// sets its own bounds.
func TestReadsOnTheReplica(t *testing.T) {
	rep := testenv.StartReplica(t)
	primary, dbURL := testenv.DBWithURL(t)
	rep.CatchUp(t)
	e := replicaEnv{rep: rep, primary: primary, standby: testenv.OpenPool(t, rep.URL(dbURL)),
		patient: replica.Options{Wait: 100 * time.Millisecond, MaxLag: time.Hour, Probe: 20 * time.Millisecond}}
	t.Run("another shopper reads the replica, stale while replay is paused; the admin who wrote reads the primary", e.staleForOthersFreshForTheWriter)
	t.Run("the admin's next page waits for the replica to replay their write, and reads it there", e.writerWaitsForReplay)
	t.Run("a replica that stops: reads go to the primary, answers stay right, and the replica is used again once back", e.stopped)
	t.Run("a replica lagging past the bound: reads go to the primary until it catches up", e.lagging)
}

// replicaEnv is the test database on the primary and on its replica;
// patient is a router that waits briefly and never finds the replica lagging.
type replicaEnv struct {
	rep              *testenv.Replica
	primary, standby *pgxpool.Pool
	patient          replica.Options
}

func (e replicaEnv) staleForOthersFreshForTheWriter(t *testing.T) {
	rig := newReplicaRig(t, e.primary, e.standby, e.patient)
	id := rig.createProduct("ZAN-1", "Zanzibar Lantern")
	e.rep.CatchUp(t)
	shopper := rig.h.client().json()
	if got := rig.productName(shopper, id); got != "Zanzibar Lantern" {
		t.Fatalf("before: shopper sees %q", got)
	}
	e.rep.PauseReplay(t)
	defer e.rep.ResumeReplay(t)
	rig.renameProduct(id, "ZAN-1", "Quokka Lantern")
	if r := rig.admin.postPicture(id, &upload{"photo.png", "image/png", pngOf(testPicture(40, 30, false))}, ptr("A lantern")); r.status != http.StatusSeeOther {
		t.Fatalf("picture: %d %s", r.status, r.body)
	}

	// The replica has not replayed the rename: another shopper's
	// reads, served there, do not see it yet.
	replicaReads := rig.metric("market_replica_reads_total")
	if got := rig.productName(shopper, id); got != "Zanzibar Lantern" {
		t.Fatalf("shopper's product page while replay is paused: %q, want the replica's stale name", got)
	}
	if n := rig.searchCount(shopper, "quokka"); n != 0 {
		t.Fatalf("shopper's search while replay is paused found %d, want the replica's stale 0", n)
	}
	if rig.metric("market_replica_reads_total") <= replicaReads {
		t.Fatal("the shopper's reads were not counted as the replica's")
	}
	// The admin waited for the replica, in vain, and read the primary.
	ownWrite := rig.metric(`market_replica_fallbacks_total{reason="own_write"}`)
	if got := rig.productName(rig.admin.json(), id); got != "Quokka Lantern" {
		t.Fatalf("the admin's product page after their rename: %q", got)
	}
	if n := rig.searchCount(rig.admin.json(), "quokka"); n != 1 {
		t.Fatalf("the admin's search after their rename found %d, want 1", n)
	}
	if !strings.Contains(rig.admin.json().get("/products/"+strconv.FormatInt(id, 10)).body, `"image_url":"/images/`) {
		t.Fatal("the admin's product page does not show the picture they uploaded")
	}
	if got := rig.metric(`market_replica_fallbacks_total{reason="own_write"}`); got < ownWrite+2 {
		t.Fatalf("own_write fallbacks went from %v to %v, want the admin's reads counted", ownWrite, got)
	}

	// Admin pages read the primary whoever asks: their forms edit what
	// they show. (A second login has no write of its own to wait for.)
	colleague := rig.h.client()
	colleague.login(adminEmail, adminPassword)
	if got := rig.productName(colleague.json(), id); got != "Zanzibar Lantern" {
		t.Fatalf("a second admin session's shop page: %q, want the replica's stale name", got)
	}
	r := colleague.json().get("/admin/products/" + strconv.FormatInt(id, 10))
	if r.status != http.StatusOK || !strings.Contains(r.body, `"name":"Quokka Lantern"`) {
		t.Fatalf("a second admin session's admin page of the product: %d %s", r.status, r.body)
	}

	e.rep.ResumeReplay(t)
	eventually(t, "the shopper sees the rename once replay resumes", func() bool { return rig.searchCount(shopper, "quokka") == 1 })
}

func (e replicaEnv) writerWaitsForReplay(t *testing.T) {
	rig := newReplicaRig(t, e.primary, e.standby, replica.Options{Wait: 10 * time.Second, MaxLag: time.Hour, Probe: 20 * time.Millisecond})
	id := rig.createProduct("WAIT-1", "Wombat Kettle")
	e.rep.PauseReplay(t)
	rig.renameProduct(id, "WAIT-1", "Walrus Kettle")
	replicaReads, ownWrite := rig.metric("market_replica_reads_total"), rig.metric(`market_replica_fallbacks_total{reason="own_write"}`)
	type answer struct {
		name   string
		waited time.Duration
		err    error
	}
	answered := make(chan answer, 1)
	go func() { // the admin's next page, while replay is still paused
		began := time.Now()
		name, err := rig.admin.productNameOrErr(id)
		answered <- answer{name, time.Since(began), err}
	}()
	time.Sleep(300 * time.Millisecond)
	e.rep.ResumeReplay(t)
	a := <-answered
	got, waited := a.name, a.waited
	if a.err != nil {
		t.Fatal(a.err)
	}
	if got != "Walrus Kettle" {
		t.Fatalf("the admin's page after their rename: %q", got)
	}
	if waited < 250*time.Millisecond {
		t.Fatalf("the page took %v: it did not wait for the paused replica", waited)
	}
	if rig.metric("market_replica_reads_total") <= replicaReads || rig.metric(`market_replica_fallbacks_total{reason="own_write"}`) != ownWrite {
		t.Fatal("the admin's read did not go to the replica once it had replayed their write")
	}
}

func (e replicaEnv) stopped(t *testing.T) {
	// slow probes once, at its start: only its reads can find the
	// replica gone. fast probes as the shop does.
	slow := newReplicaRig(t, e.primary, e.standby, replica.Options{Wait: 100 * time.Millisecond, MaxLag: time.Hour, Probe: time.Hour})
	fast := newReplicaRig(t, e.primary, e.standby, e.patient)
	id := slow.createProduct("DOWN-1", "Dingo Blanket")
	e.rep.CatchUp(t)
	shopper, other := slow.h.client().json(), fast.h.client().json()
	if n := slow.searchCount(shopper, "dingo"); n != 1 {
		t.Fatalf("before: %d", n)
	}
	down := slow.metric(`market_replica_fallbacks_total{reason="down"}`)
	e.rep.Stop(t)
	slow.renameProduct(id, "DOWN-1", "Dingo Duvet")
	// The read that meets the dead replica is retried on the primary.
	for _, q := range []string{"duvet", "dingo"} {
		if n := slow.searchCount(shopper, q); n != 1 {
			t.Fatalf("search %q with the replica down found %d, want 1", q, n)
		}
	}
	if got := slow.productName(shopper, id); got != "Dingo Duvet" {
		t.Fatalf("product page with the replica down: %q", got)
	}
	if slow.metric(`market_replica_fallbacks_total{reason="down"}`) <= down || slow.metric("market_replica_up") != 0 {
		t.Fatal("the reads that found the replica down did not mark it down")
	}
	// The probe finds it down without a read paying for it.
	eventually(t, "the probe sets market_replica_up to 0", func() bool { return fast.metric("market_replica_up") == 0 })
	down = fast.metric(`market_replica_fallbacks_total{reason="down"}`)
	if got := fast.productName(other, id); got != "Dingo Duvet" || fast.metric(`market_replica_fallbacks_total{reason="down"}`) <= down {
		t.Fatalf("product page with the replica known down: %q", got)
	}

	e.rep.Start(t)
	eventually(t, "the replica serves reads again", func() bool {
		before := fast.metric("market_replica_reads_total")
		return fast.searchCount(other, "duvet") == 1 && fast.metric("market_replica_up") == 1 &&
			fast.metric("market_replica_reads_total") > before
	})
}

func (e replicaEnv) lagging(t *testing.T) {
	rig := newReplicaRig(t, e.primary, e.standby, replica.Options{Wait: 100 * time.Millisecond, MaxLag: 300 * time.Millisecond, Probe: 20 * time.Millisecond})
	id := rig.createProduct("LAG-1", "Lynx Mug")
	e.rep.CatchUp(t)
	shopper := rig.h.client().json()
	e.rep.PauseReplay(t)
	defer e.rep.ResumeReplay(t)
	rig.renameProduct(id, "LAG-1", "Lynx Tumbler")
	eventually(t, "the lag passes 300 ms", func() bool { return rig.metric("market_replica_lag_seconds") > 0.3 })
	lagging := rig.metric(`market_replica_fallbacks_total{reason="lagging"}`)
	if n := rig.searchCount(shopper, "tumbler"); n != 1 {
		t.Fatalf("a shopper's search with the replica lagging found %d, want the primary's 1", n)
	}
	if rig.metric(`market_replica_fallbacks_total{reason="lagging"}`) <= lagging {
		t.Fatal("reads sent to the primary for a lagging replica were not counted")
	}

	e.rep.ResumeReplay(t)
	eventually(t, "the replica serves reads again", func() bool {
		before := rig.metric("market_replica_reads_total")
		return rig.searchCount(shopper, "tumbler") == 1 && rig.metric("market_replica_lag_seconds") < 0.3 &&
			rig.metric("market_replica_reads_total") > before
	})
}

// replicaRig is the shop over a primary and its replica, with its own read
// router (probing while the test runs), metrics and a signed-in admin.
type replicaRig struct {
	t     *testing.T
	h     *harness
	reg   *prometheus.Registry
	admin *client
}

func newReplicaRig(t *testing.T, primary, standby *pgxpool.Pool, o replica.Options) *replicaRig {
	t.Helper()
	reg := prometheus.NewRegistry()
	reads := replica.New(primary, standby, o, replica.NewMetrics(reg))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { reads.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	rig := &replicaRig{t: t, h: newHarnessReading(t, primary, reads), reg: reg}
	rig.admin = rig.h.client()
	rig.admin.login(adminEmail, adminPassword)
	eventually(t, "the replica is probed healthy", func() bool { return rig.metric("market_replica_up") == 1 })
	return rig
}

func (rig *replicaRig) createProduct(sku, name string) int64 {
	rig.t.Helper()
	r := rig.admin.json().post("/admin/products", url.Values{"sku": {sku}, "name": {name}, "brand": {"Nomad"},
		"category": {"Home"}, "description": {"Plain and sturdy."}, "price": {"19900"}, "stock": {"4"}})
	if r.status != http.StatusCreated {
		rig.t.Fatalf("create %s: %d %s", sku, r.status, r.body)
	}
	var p struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.ID == 0 {
		rig.t.Fatalf("create %s: %v %s", sku, err, r.body)
	}
	return p.ID
}

// renameProduct saves the product's details through the admin's form.
func (rig *replicaRig) renameProduct(id int64, sku, name string) {
	rig.t.Helper()
	r := rig.admin.post("/admin/products/"+strconv.FormatInt(id, 10), url.Values{"sku": {sku}, "name": {name}, "brand": {"Nomad"},
		"category": {"home"}, "description": {"Plain and sturdy."}, "price": {"19900"}})
	if r.status != http.StatusSeeOther {
		rig.t.Fatalf("rename %d: %d %s", id, r.status, r.body)
	}
}

func (rig *replicaRig) productName(c *client, id int64) string {
	rig.t.Helper()
	r := c.get("/products/" + strconv.FormatInt(id, 10))
	var p struct {
		Name string `json:"name"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &p) != nil {
		rig.t.Fatalf("product %d: %d %s", id, r.status, r.body)
	}
	return p.Name
}

// productNameOrErr is GET /products/{id} as JSON without failing the test,
// for a request made off the test's goroutine.
func (c *client) productNameOrErr(id int64) (string, error) {
	req, err := http.NewRequest(http.MethodGet, c.h.srv.URL+"/products/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var p struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("product %d: status %d, %v", id, res.StatusCode, err)
	}
	return p.Name, nil
}

func (rig *replicaRig) searchCount(c *client, q string) int {
	rig.t.Helper()
	r := c.get("/products?q=" + url.QueryEscape(q))
	var page struct {
		Items []struct{} `json:"items"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &page) != nil {
		rig.t.Fatalf("search %q: %d %s", q, r.status, r.body)
	}
	return len(page.Items)
}

// metric reads one series as /metrics shows it, e.g.
// `market_replica_fallbacks_total{reason="down"}`; -1 when it is absent.
func (rig *replicaRig) metric(series string) float64 {
	rig.t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(rig.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				rig.t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return -1
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
	}
}
