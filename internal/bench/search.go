package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"market/internal/account"
	"market/internal/catalog"
	"market/internal/config"
	"market/internal/db"
	"market/internal/redisdb"
	"market/internal/replica"
	"market/internal/search"
	"market/web"
)

// The search bars (docs/PERFORMANCE.md, Search), shown beside the figures.
const (
	searchBarRate  = 400 // searches per second at the highest in-flight level
	searchBarRatio = 30  // times the naive baseline's rate
)

var searchBarP95 = map[int]time.Duration{2: 20 * time.Millisecond, 8: 40 * time.Millisecond}

// searcher answers one page of a search: page n (0-based), after the
// previous page's next (a cursor, or the naive baseline's offset).
type searcher interface {
	page(ctx context.Context, q searchQuery, n int, after string) (searchPage, error)
}

// searchBench: `market bench search [-seed N] [-queries N] [-inflight 2,8] …`.
//
// It reads the catalogue, draws queries at random from its words (see the
// shape classes in search_queries.go), sends them through the shop's HTTP
// handler as a JSON client would, closed loop, each in-flight worker its
// own stream of queries, first at 2 and then at 8 in flight, then the same
// streams against the naive baseline for a while, and checks every answer
// against the catalogue (checker). Any error or wrong answer fails it.
func searchBench(ctx context.Context, log *slog.Logger, cfg config.Config, args []string) error {
	o, err := parseSearchFlags(args)
	if err != nil {
		return err
	}
	top := o.top()

	// The bench's own pool reads the catalogue and runs the baseline, without
	// the requests' statement budget (a naive page takes seconds at a million).
	tools, err := db.Open(ctx, cfg.DatabaseURL, int32(top)+2)
	if err != nil {
		return err
	}
	defer tools.Close()
	if err := db.Migrate(ctx, tools, log); err != nil {
		return err
	}
	fmt.Printf("search bench: seed %d (replay with -seed %d); %d cores, shared; load average %s\n", o.seed, o.seed, runtime.NumCPU(), loadAverage())
	cat, voc, err := readCatalogue(ctx, tools)
	if err != nil {
		return err
	}
	if o.classes, err = dropRareClasses(voc, o.classes); err != nil {
		return err
	}
	if o.naiveFor > 0 {
		if err := ensureNaiveCopy(ctx, tools); err != nil {
			return err
		}
	}

	// The shop: its handler and catalogue service on a pool like serve's
	// (default size, the requests' statement budget), over loopback HTTP.
	pool, err := db.OpenWithBudget(ctx, cfg.DatabaseURL, 0, cfg.RequestBudget())
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := redisdb.Open(ctx, cfg.RedisURL, cfg.RedisAddrs)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reads, closeReads, err := benchReads(ctx, cfg, pool)
	if err != nil {
		return err
	}
	defer closeReads()
	shop, closeShop := shopSearch(cfg, reads, rdb, top)
	defer closeShop()

	runs, err := runSearchPhases(ctx, o, voc, shop, naiveSearch{pool: tools, pageSize: search.PageSize})
	if err != nil {
		return err
	}
	wrong, err := checkSearches(ctx, tools, cat, voc, runs)
	if err != nil {
		return err
	}
	reportSearch(o.levels, runs.levels, runs.naive, o.classes, o.slowest)
	return reportWrong(wrong, len(runs.checked)+len(runs.naive.walks))
}

// searchOptions are the bench's flags, parsed and checked.
type searchOptions struct {
	seed     uint64
	queries  int
	levels   []int // in-flight levels; the last is the one of the rate and the baseline
	warmup   int
	naiveFor time.Duration
	classes  []string
	slowest  int
}

func (o searchOptions) top() int { return o.levels[len(o.levels)-1] }

func parseSearchFlags(args []string) (searchOptions, error) {
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the query streams: the same seed on the same catalogue sends the same queries")
	queries := fs.Int("queries", 3000, "queries per in-flight level, shared among its workers (a deep-paging query is several searches)")
	inflight := fs.String("inflight", "2,8", "in-flight levels, closed loop; the last is the one of the rate and the baseline")
	warmup := fs.Int("warmup", 200, "queries sent first at the last level and checked, not measured")
	naiveFor := fs.Duration("naive-time", time.Minute, "how long the naive baseline runs (0: not at all)")
	only := fs.String("classes", "", "comma-separated shape classes to draw from (default: all)")
	slowest := fs.Int("slowest", 10, "list this many of the slowest searches at the last level")
	if err := fs.Parse(args); err != nil {
		return searchOptions{}, err
	}
	o := searchOptions{seed: *seed, queries: *queries, warmup: *warmup, naiveFor: *naiveFor, classes: searchClasses, slowest: *slowest}
	for f := range strings.SplitSeq(*inflight, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return searchOptions{}, fmt.Errorf("-inflight: %q is not a number of workers", f)
		}
		o.levels = append(o.levels, n)
	}
	if *only != "" {
		o.classes = nil
		for c := range strings.SplitSeq(*only, ",") {
			c = strings.TrimSpace(c)
			if !slices.Contains(searchClasses, c) {
				return searchOptions{}, fmt.Errorf("-classes: no class %q (%s)", c, strings.Join(searchClasses, ", "))
			}
			o.classes = append(o.classes, c)
		}
	}
	return o, nil
}

// readCatalogue reads the catalogue the answers are checked against and the
// vocabulary the queries are drawn from, and says what it found.
func readCatalogue(ctx context.Context, tools *pgxpool.Pool) (*catalogue, *vocabulary, error) {
	t := time.Now()
	cat, err := loadCatalogue(ctx, tools)
	if err != nil {
		return nil, nil, err
	}
	if cat.size() == 0 {
		return nil, nil, errors.New("the catalogue is empty: seed it first (market seed -products N)")
	}
	voc, err := buildVocabulary(ctx, tools, cat)
	if err != nil {
		return nil, nil, err
	}
	fmt.Printf("catalogue: %d products, %d lexemes, read in %s; vocabulary: %d common words, %d rare words (held by ≤ %d products)\n",
		cat.size(), len(cat.lexemes), time.Since(t).Round(time.Millisecond), len(voc.common), len(voc.rare), rareAt)
	if len(voc.rare) > 0 && len(voc.rare) <= 12 {
		fmt.Printf("rare words: %s\n", strings.Join(voc.rare, ", "))
	}
	return cat, voc, nil
}

// dropRareClasses leaves out the rare-word classes when the catalogue has no
// rare word to draw them from.
func dropRareClasses(voc *vocabulary, classes []string) ([]string, error) {
	if len(voc.rare) > 0 {
		return classes, nil
	}
	fmt.Println("no word of a name or brand is rare in this catalogue: the rare-word classes are left out")
	classes = slices.DeleteFunc(slices.Clone(classes), func(c string) bool { return c == classRare || c == classRareFiltered })
	if len(classes) == 0 {
		return nil, errors.New("-classes: nothing left to draw")
	}
	return classes, nil
}

// searchRuns is every walk of a bench: the warm-up's and the levels' (all to
// be checked), each level's run, and the naive baseline's.
type searchRuns struct {
	checked []searchWalk
	levels  map[int]searchRun
	naive   searchRun
}

// runSearchPhases runs the warm-up, each in-flight level against the shop, and
// then the naive baseline on the last level's streams.
func runSearchPhases(ctx context.Context, o searchOptions, voc *vocabulary, shop, naive searcher) (searchRuns, error) {
	top := o.top()
	streams := func(phase string, n int) []*queryStream {
		out := make([]*queryStream, n)
		for w := range out {
			out[w] = voc.newStream(o.seed, phase, w, o.classes)
		}
		return out
	}
	runs := searchRuns{levels: map[int]searchRun{}}
	if o.warmup > 0 {
		fmt.Printf("warm-up: %d queries at %d in flight\n", o.warmup, top)
		r, err := runSearches(ctx, "warm-up", shop, streams("warmup", top), o.warmup, time.Time{})
		runs.checked = append(runs.checked, r.walks...)
		if err != nil {
			return runs, err
		}
	}
	for _, c := range o.levels {
		fmt.Printf("%d in flight: %d queries; load average %s\n", c, o.queries, loadAverage())
		r, err := runSearches(ctx, strconv.Itoa(c)+" in flight", shop, streams("inflight-"+strconv.Itoa(c), c), o.queries, time.Time{})
		runs.checked = append(runs.checked, r.walks...)
		if err != nil {
			return runs, err
		}
		runs.levels[c] = r
		fmt.Printf("  %d searches in %s: %.1f searches/s\n", r.searches(), r.elapsed.Round(time.Millisecond), r.rate())
	}
	if o.naiveFor > 0 {
		fmt.Printf("naive baseline, %d in flight, the same streams for %s; load average %s\n", top, o.naiveFor, loadAverage())
		r, err := runSearches(ctx, "naive", naive, streams("inflight-"+strconv.Itoa(top), top), o.queries, time.Now().Add(o.naiveFor))
		if err != nil {
			return runs, fmt.Errorf("naive baseline: %w", err)
		}
		runs.naive = r
		fmt.Printf("  %d searches in %s: %.2f searches/s\n", r.searches(), r.elapsed.Round(time.Millisecond), r.rate())
	}
	return runs, nil
}

// checkSearches checks every answer against the catalogue as it was read; a
// catalogue that changed meanwhile cannot tell right from wrong.
func checkSearches(ctx context.Context, tools *pgxpool.Pool, cat *catalogue, voc *vocabulary, runs searchRuns) ([]wrongAnswer, error) {
	var now string
	if err := tools.QueryRow(ctx, catalogueFingerprint).Scan(&now); err != nil {
		return nil, err
	}
	if now != cat.fingerprint {
		return nil, errors.New("the catalogue changed during the run (a product, price or stock was written): its answers cannot be checked; run again on a quiet database")
	}
	t := time.Now()
	ch := &checker{cat: cat, stems: voc.stems, pageSize: search.PageSize}
	wrong := ch.check(runs.checked, false)
	if len(runs.naive.walks) > 0 {
		var err error
		if ch.descriptions, err = naiveDescriptions(ctx, tools, runs.naive.walks); err != nil {
			return nil, err
		}
		wrong = append(wrong, ch.check(runs.naive.walks, true)...)
	}
	answers := 0
	for _, w := range append(slices.Clip(runs.checked), runs.naive.walks...) {
		answers += len(w.pages)
	}
	fmt.Printf("checked %d answers in %s\n\n", answers, time.Since(t).Round(time.Millisecond))
	return wrong, nil
}

// reportWrong lists the first wrong answers, and fails the bench on any.
func reportWrong(wrong []wrongAnswer, queries int) error {
	if len(wrong) == 0 {
		fmt.Println("\nevery answer checked: right")
		return nil
	}
	failed := 0
	for _, w := range wrong {
		if w.failed {
			failed++
		}
	}
	fmt.Printf("\nFAILED: %d queries without an answer (status other than 200), %d answered wrong; the first fault of each:\n", failed, len(wrong)-failed)
	for k, w := range wrong {
		if k == 30 {
			fmt.Printf("  … and %d more\n", len(wrong)-k)
			break
		}
		fmt.Println("  " + w.String())
	}
	return fmt.Errorf("search bench: %d of %d queries failed or were answered wrong", len(wrong), queries)
}

// searchRun is one in-flight level's walks and how long they took.
type searchRun struct {
	walks   []searchWalk
	elapsed time.Duration
}

func (r searchRun) searches() int {
	n := 0
	for _, w := range r.walks {
		n += len(w.pages)
	}
	return n
}

func (r searchRun) rate() float64 { return float64(r.searches()) / max(r.elapsed.Seconds(), 1e-9) }

// runSearches sends queries from the streams, one worker per stream, each
// waiting for its answer before the next search (closed loop), until the
// workers have sent n queries between them or the deadline (when set) has
// passed. The first error stops every worker.
func runSearches(ctx context.Context, phase string, s searcher, streams []*queryStream, n int, deadline time.Time) (searchRun, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	var run searchRun
	var wg sync.WaitGroup
	start := time.Now()
	for w, stream := range streams {
		mine := n / len(streams)
		if w < n%len(streams) {
			mine++
		}
		wg.Go(func() {
			for range mine {
				q := stream.next()
				walk := searchWalk{phase: phase, query: q}
				after := ""
				for p := range q.pages {
					if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
						break
					}
					pg, err := s.page(ctx, q, p, after)
					if err != nil {
						if ctx.Err() == nil {
							cancel(fmt.Errorf("%s [%s], page %d: %w", q, q.class, p+1, err))
						}
						break
					}
					walk.pages = append(walk.pages, pg)
					if pg.next == "" {
						break
					}
					after = pg.next
				}
				if len(walk.pages) > 0 {
					mu.Lock()
					run.walks = append(run.walks, walk)
					mu.Unlock()
				}
				if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return run, err
	}
	return run, nil
}

// httpSearch is the shop's search as a JSON client sees it: GET /products.
type httpSearch struct {
	client *http.Client
	base   string
}

// benchReads routes the shop's searches as serve does: to DATABASE_READ_URL's
// replica when it is set (its probe runs until ctx ends), else the primary.
// The bench's checks and baseline read the primary.
func benchReads(ctx context.Context, cfg config.Config, primary *pgxpool.Pool) (*replica.Reads, func(), error) {
	if cfg.DatabaseReadURL == "" {
		return replica.PrimaryOnly(primary), func() {}, nil
	}
	standby, err := db.OpenReplica(ctx, cfg.DatabaseReadURL, cfg.RequestBudget())
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reads := replica.New(primary, standby, replica.Options{Wait: cfg.ReadYourWritesWait, MaxLag: cfg.ReplicaMaxLag, Probe: cfg.ReplicaProbeInterval}, replica.NewMetrics(reg))
	reads.Probe(ctx)
	probeCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { reads.Run(probeCtx); close(done) }()
	fmt.Println("search bench: the shop's searches go to the replica of DATABASE_READ_URL while it is healthy")
	return reads, func() {
		stop()
		<-done
		standby.Close()
		fmt.Printf("search bench: the shop's reads: %s\n", replicaCounts(reg))
	}, nil
}

// replicaCounts says where the shop's reads went, from its replica metrics.
func replicaCounts(reg *prometheus.Registry) string {
	families, err := reg.Gather()
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if c := m.GetCounter(); c != nil {
				name := strings.TrimPrefix(f.GetName(), "market_replica_")
				for _, l := range m.GetLabel() {
					name += " " + l.GetValue()
				}
				parts = append(parts, fmt.Sprintf("%s %.0f", name, c.GetValue()))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// shopSearch serves the shop's handler, with its catalogue and search services on the
// pool, on a loopback listener, for inflight clients at once.
func shopSearch(cfg config.Config, reads *replica.Reads, rdb redis.UniversalClient, inflight int) (httpSearch, func()) {
	pool := reads.Primary()
	handler := web.New(web.Deps{Log: slog.New(slog.DiscardHandler), Config: cfg, Pool: pool, Reads: reads, Redis: rdb,
		Accounts: account.NewService(pool, rdb, account.Limits{PerEmail: 5, PerAddr: 50, Window: time.Minute}), Catalog: catalog.NewService(reads), Search: search.NewService(reads)})
	srv := httptest.NewServer(handler)
	transport := &http.Transport{MaxIdleConns: 2 * inflight, MaxIdleConnsPerHost: 2 * inflight}
	return httpSearch{base: srv.URL, client: &http.Client{Timeout: time.Minute, Transport: transport}}, func() {
		transport.CloseIdleConnections()
		srv.Close()
	}
}

func (h httpSearch) page(ctx context.Context, q searchQuery, _ int, after string) (searchPage, error) {
	v := q.values()
	if after != "" {
		v.Set("after", after)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/products?"+v.Encode(), nil)
	if err != nil {
		return searchPage{}, err
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	res, err := h.client.Do(req)
	if err != nil {
		return searchPage{}, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		return searchPage{}, err
	}
	if res.StatusCode != http.StatusOK {
		// Measured and reported like any answer (a shopper waited for it), and a fault.
		return searchPage{status: res.StatusCode, took: took, fault: fmt.Sprintf("status %d: %.200s", res.StatusCode, bytes.TrimSpace(body))}, nil
	}
	var a struct {
		Items      []searchItem    `json:"items"`
		NextCursor *string         `json:"next_cursor"`
		Total      json.RawMessage `json:"total"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return searchPage{status: res.StatusCode, took: took, fault: fmt.Sprintf("not the JSON of a search answer (%v): %.200s", err, body)}, nil
	}
	pg := searchPage{status: res.StatusCode, items: a.Items, total: string(a.Total), took: took}
	if s, err := strconv.Unquote(pg.total); err == nil {
		pg.total = s
	}
	switch {
	case a.Items == nil:
		pg.fault = `"items" is missing or null, not a list`
	case a.NextCursor == nil:
		pg.fault = `"next_cursor" is missing`
	case len(a.Total) == 0:
		pg.fault = `"total" is missing`
	default:
		pg.next = *a.NextCursor
	}
	return pg, nil
}

// naiveDescriptions reads the descriptions of the products the baseline
// answered with a keyword, for its rule.
func naiveDescriptions(ctx context.Context, pool *pgxpool.Pool, walks []searchWalk) (map[int64]string, error) {
	var ids []int64
	for _, w := range walks {
		if w.query.q == "" {
			continue
		}
		for _, p := range w.pages {
			for _, it := range p.items {
				ids = append(ids, it.ID)
			}
		}
	}
	out := map[int64]string{}
	rows, err := pool.Query(ctx, "SELECT id, description FROM products WHERE id = ANY($1)", ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var d string
		if err := rows.Scan(&id, &d); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// reportSearch prints p50/p95/p99 per class and level, the rates and the bars.
func reportSearch(levels []int, results map[int]searchRun, naive searchRun, classes []string, slowest int) {
	top := levels[len(levels)-1]
	misses := printSearchTable(levels, results, naive, classes)
	fmt.Println("fail: answered with a status other than 200 (counted in the times: the shopper waited for it)")
	fmt.Println("!: p95 at or above the bar (the bar: under 20 ms at 2 in flight, under 40 ms at 8)")
	for _, c := range levels {
		if _, ok := searchBarP95[c]; ok {
			if len(misses[c]) == 0 {
				fmt.Printf("p95 bar at %d in flight: met by every class\n", c)
			} else {
				fmt.Printf("p95 bar at %d in flight: missed by %s\n", c, strings.Join(misses[c], ", "))
			}
		}
	}
	rate := results[top].rate()
	fmt.Printf("searches/s at %d in flight: %.1f (bar %d)", top, rate, searchBarRate)
	if len(naive.walks) > 0 {
		fmt.Printf("; naive baseline %.2f: %.1f× (bar %d×)", naive.rate(), rate/max(naive.rate(), 1e-9), searchBarRatio)
	}
	fmt.Println()
	if slowest > 0 {
		printSlowest(results[top], top, slowest)
	}
}

// classTimes is one run's search times and failures by class, and in "all".
type classTimes struct {
	took   map[string][]time.Duration
	failed map[string]int
}

func timesByClass(r searchRun) classTimes {
	ct := classTimes{took: map[string][]time.Duration{}, failed: map[string]int{}}
	for _, w := range r.walks {
		for _, p := range w.pages {
			ct.took[w.query.class] = append(ct.took[w.query.class], p.took)
			ct.took["all"] = append(ct.took["all"], p.took)
			if p.status != http.StatusOK {
				ct.failed[w.query.class]++
				ct.failed["all"]++
			}
		}
	}
	return ct
}

// printSearchTable prints a row per class (and "all") with a column per
// level and the baseline's, and returns the classes that missed each level's
// p95 bar.
func printSearchTable(levels []int, results map[int]searchRun, naive searchRun, classes []string) map[int][]string {
	top := levels[len(levels)-1]
	fmt.Printf("%-24s", "ms per search")
	for _, c := range levels {
		fmt.Printf(" | %-32s", fmt.Sprintf("%d in flight: n fail p50 p95 p99", c))
	}
	if len(naive.walks) > 0 {
		fmt.Printf(" | naive, %d: n    p50", top)
	}
	fmt.Println()
	per := map[int]classTimes{}
	for _, c := range levels {
		per[c] = timesByClass(results[c])
	}
	naivePer := timesByClass(naive)
	misses := map[int][]string{}
	for _, class := range append(slices.Clone(classes), "all") {
		fmt.Printf("%-24s", class)
		for _, c := range levels {
			ds := per[c].took[class]
			mark := " "
			if bar, ok := searchBarP95[c]; ok && len(ds) > 0 && class != "all" && pct(ds, 95) >= bar {
				mark = "!"
				misses[c] = append(misses[c], class)
			}
			fmt.Printf(" | %5d %4d %6.1f %6.1f%s %6.1f", len(ds), per[c].failed[class], ms(pct(ds, 50)), ms(pct(ds, 95)), mark, ms(pct(ds, 99)))
		}
		if len(naive.walks) > 0 {
			ds := naivePer.took[class]
			fmt.Printf(" | %9d %8.0f", len(ds), ms(pct(ds, 50)))
		}
		fmt.Println()
	}
	return misses
}

// printSlowest lists the n slowest searches of the run at top in flight.
func printSlowest(r searchRun, top, n int) {
	type slow struct {
		took  time.Duration
		query searchQuery
		page  int
	}
	var all []slow
	for _, w := range r.walks {
		for p, pg := range w.pages {
			all = append(all, slow{pg.took, w.query, p + 1})
		}
	}
	slices.SortFunc(all, func(a, b slow) int { return int(b.took - a.took) })
	fmt.Printf("\nthe %d slowest searches at %d in flight:\n", min(n, len(all)), top)
	for _, s := range all[:min(n, len(all))] {
		fmt.Printf("  %7.1f ms  %-22s page %2d  %s\n", ms(s.took), s.query.class, s.page, s.query.values().Encode())
	}
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures (the machine is shared).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the p-th percentile (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}
