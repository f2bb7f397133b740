package search

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/catalog"
	"market/internal/errs"
	"market/internal/replica"
	"market/internal/seed"
	"market/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

// seeded is one database with generated products, shared by the tests here.
var seeded struct {
	once sync.Once
	pool *pgxpool.Pool
}

func catalogDB(t *testing.T, n int) *pgxpool.Pool {
	t.Helper()
	pool := testenv.DB(t)
	if err := seed.Products(t.Context(), pool, n, nil); err != nil {
		t.Fatal(err)
	}
	return pool
}

type captured struct {
	sql  string
	args []any
}

// recorder is a pgx tracer: it sees the SQL and arguments of every query a
// pool runs, so a test can EXPLAIN exactly what a search ran.
type recorder struct {
	mu   sync.Mutex
	seen []captured
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, captured{d.SQL, slices.Clone(d.Args)})
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns what was run since the last take.
func (r *recorder) take() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// names are the sqlc names of the queries, in the order they ran.
func names(cs []captured) []string {
	var out []string
	for _, c := range cs {
		if name, ok := strings.CutPrefix(c.sql, "-- name: "); ok {
			out = append(out, strings.Fields(name)[0])
		}
	}
	return out
}

// traced is a second pool on pool's database whose queries rec sees.
func traced(t *testing.T, pool *pgxpool.Pool) (*pgxpool.Pool, *recorder) {
	t.Helper()
	cfg := pool.Config().Copy()
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	p, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, rec
}

// TestEveryShapeUsesAnIndexAfterManyExecutions runs each filter shape more
// than ten times through the real pool (past the point where PostgreSQL may
// switch a prepared statement to a generic plan), then EXPLAINs the prepared
// statements exactly as they ran: no sequential scan over products, and an
// equality filter must be an index condition, not a row filter. Searches run
// with sequential scans off (settings), but which index serves a filter is
// still the planner's choice, so the table is big enough for the choice to
// be the one it makes at a million rows.
func TestEveryShapeUsesAnIndexAfterManyExecutions(t *testing.T) {
	pool := catalogDB(t, 100_000)
	if _, err := pool.Exec(t.Context(), `ANALYZE products`); err != nil { // as autovacuum would
		t.Fatal(err)
	}
	tp, rec := traced(t, pool)
	s := NewService(replica.PrimaryOnly(tp))
	shapes := []Filter{
		{Q: "wireless"}, {Q: "head"}, {Q: "robot vacuum", Sort: SortPriceAsc}, {Q: "pro", Category: "audio", Sort: SortNewest},
		{Q: "camera", InStock: true, Sort: SortPopular},
		// Words half the products hold: counted by walking the index of prices.
		{Q: "free", InStock: true}, {Q: "free", Category: "audio", MinPrice: ptr[int64](10000), MaxPrice: ptr[int64](90000)},
		{Category: "computers", MinPrice: ptr[int64](100000), MaxPrice: ptr[int64](500000), Sort: SortPriceAsc},
		{Category: "kitchen", Sort: SortNewest}, {Category: "books", Sort: SortPopular},
		{Brand: "Sonora", InStock: true, Sort: SortPriceAsc}, {Brand: "Kestrel", Sort: SortPriceDesc},
		{Category: "shoes", Brand: "Stride", MinPrice: ptr[int64](50000), Sort: SortPriceDesc},
		{MinPrice: ptr[int64](10000), MaxPrice: ptr[int64](20000), Sort: SortPriceAsc},
		{InStock: true, Sort: SortNewest}, {Sort: SortPopular},
	}
	for _, f := range shapes {
		for i := range 12 {
			p, err := s.Search(t.Context(), f)
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			if i == 0 && p.NextCursor != "" { // and the second page's shape
				g := f
				g.After = p.NextCursor
				if _, err := s.Search(t.Context(), g); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	taken := rec.take()
	checked := map[string]bool{}
	for i, c := range taken {
		key := c.sql + fmt.Sprint(c.args)
		if checked[key] || !strings.Contains(c.sql, "products") {
			continue
		}
		checked[key] = true
		plan := explainPrepared(t, conn.Conn(), fmt.Sprintf("shape_%d", i), c)
		if slices.Contains(scanned(plan), "Seq Scan products") {
			t.Errorf("sequential scan over the catalogue for %v:\n%s\n%s", c.args, c.sql, plan)
		}
		for _, col := range equalityFilters(c.sql, c.args) {
			if !strings.Contains(indexConds(plan), col) {
				t.Errorf("%s is filtered row by row, not by an index condition, for %v:\n%s", col, c.args, plan)
			}
		}
	}
	if walked := slices.Contains(names(taken), "CountByWalk"); len(checked) < len(shapes) || !walked {
		t.Fatalf("checked only %d queries (a count by walking among them: %v)", len(checked), walked)
	}
}

// equalityFilters: the category and brand arguments that are set, by column,
// for the walks and counts (category_id and brand are their first two
// arguments; CountByWalk has no brand). KeywordMatches is led by a GIN index
// and may check them on its candidates row by row.
func equalityFilters(sql string, args []any) []string {
	filtered := false
	for _, name := range []string{"WalkPriceAsc", "WalkPriceDesc", "WalkNewest", "WalkPopular", "CountMatches", "CountByWalk"} {
		filtered = filtered || strings.HasPrefix(sql, "-- name: "+name+" ")
	}
	if !filtered || len(args) < 2 {
		return nil
	}
	var cols []string
	if v, ok := args[0].(*int64); ok && v != nil {
		cols = append(cols, "category_id")
	}
	if v, ok := args[1].(*string); ok && v != nil {
		cols = append(cols, "brand")
	}
	return cols
}

// scanned lists the plan's scans of tables, as "<node type> <table>".
func scanned(plan string) []string {
	var root []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(plan), &root); err != nil || len(root) == 0 {
		return []string{"unreadable plan"}
	}
	var out []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Relation != "" {
			out = append(out, n.NodeType+" "+n.Relation)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(root[0].Plan)
	return out
}

type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Plans    []planNode `json:"Plans"`
}

func indexConds(plan string) string {
	var b strings.Builder
	for _, line := range strings.Split(plan, "\n") {
		if strings.Contains(line, `"Index Cond"`) || strings.Contains(line, `"Recheck Cond"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// explainPrepared prepares the query under a name, executes it 11 times in
// the search's own settings, and returns EXPLAIN of the prepared statement
// (which shows a generic plan if PostgreSQL switched to one).
func explainPrepared(t *testing.T, conn *pgx.Conn, name string, c captured) string {
	t.Helper()
	ctx := t.Context()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Prepare(ctx, name, c.sql); err != nil {
		t.Fatal(err)
	}
	for range 11 {
		rows, err := tx.Query(ctx, name, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	lits := make([]string, len(c.args))
	for i, a := range c.args {
		lits[i] = literal(a)
	}
	var plan []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE "+name+"("+strings.Join(lits, ", ")+")").Scan(&plan); err != nil {
		t.Fatalf("%v: %s", err, c.sql)
	}
	var pretty any
	_ = json.Unmarshal(plan, &pretty)
	out, _ := json.MarshalIndent(pretty, "", " ")
	return string(out)
}

func literal(a any) string {
	switch v := a.(type) {
	case nil:
		return "NULL"
	case *int64:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprint(*v)
	case *int32:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprint(*v)
	case *string:
		if v == nil {
			return "NULL"
		}
		return literal(*v)
	case *float64:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprintf("%v::float8", *v)
	case *time.Time:
		if v == nil {
			return "NULL"
		}
		return "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case []string:
		q := make([]string, len(v))
		for i, w := range v {
			q[i] = literal(w)
		}
		return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
	case []int64:
		return "'{" + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(v)), ","), "[]") + "}'::bigint[]"
	default:
		return fmt.Sprint(v)
	}
}

// TestKeysetPagesNeverRepeatOrSkip walks every sort to the end over a
// catalogue with many equal prices and compares with one big ordered read.
func TestKeysetPagesNeverRepeatOrSkip(t *testing.T) {
	pool := testenv.DB(t)
	s, products := NewService(replica.PrimaryOnly(pool)), catalog.NewService(replica.PrimaryOnly(pool))
	for i := range 95 {
		_, err := products.Create(t.Context(), catalog.ProductInput{SKU: fmt.Sprintf("EQ-%03d", i), Name: fmt.Sprintf("Same Price Lamp %d", i), Brand: []string{"Acme", "Bolt"}[i%2],
			Category: "Lighting", Description: "A lamp.", Price: int64(1000 * (1 + i%3)), Stock: int64(i % 4)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Filter{{Sort: SortPriceAsc}, {Sort: SortPriceDesc}, {Sort: SortNewest}, {Sort: SortPopular}, {Q: "lamp"},
		{Sort: SortPriceAsc, InStock: true}, {Brand: "Bolt", Sort: SortPriceDesc}, {Q: "lamp", MinPrice: ptr[int64](2000), MaxPrice: ptr[int64](2000)}} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			var got []catalog.Item
			first := true
			for pages := 0; ; pages++ {
				p, err := s.Search(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				if first && p.Total > CountCap {
					t.Fatal("total over cap")
				}
				first = false
				got = append(got, p.Items...)
				if p.NextCursor == "" {
					if int64(len(got)) != p.Total {
						t.Fatalf("walked %d items, total says %d", len(got), p.Total)
					}
					break
				}
				if len(p.Items) != PageSize || pages > 10 {
					t.Fatalf("page %d has %d items", pages, len(p.Items))
				}
				f.After = p.NextCursor
			}
			ids := map[int64]bool{}
			for i, it := range got {
				if ids[it.ID] {
					t.Fatalf("item %d repeated", it.ID)
				}
				ids[it.ID] = true
				if f.InStock && it.Stock == 0 {
					t.Fatalf("sold-out item %d with in_stock", it.ID)
				}
				if f.Brand != "" && it.Brand != f.Brand {
					t.Fatalf("brand %q", it.Brand)
				}
				if f.MinPrice != nil && (it.Price < *f.MinPrice || it.Price > *f.MaxPrice) {
					t.Fatalf("price %d outside range", it.Price)
				}
				if i > 0 {
					prev := got[i-1]
					switch f.EffectiveSort() {
					case SortPriceAsc:
						if prev.Price > it.Price || (prev.Price == it.Price && prev.ID > it.ID) {
							t.Fatalf("order broken at %d", i)
						}
					case SortPriceDesc:
						if prev.Price < it.Price || (prev.Price == it.Price && prev.ID < it.ID) {
							t.Fatalf("order broken at %d", i)
						}
					}
				}
			}
		})
	}
}

func TestBadSearchInputIsRefusedNotFailed(t *testing.T) {
	s := NewService(replica.PrimaryOnly(testenv.DB(t)))
	good, err := s.Search(t.Context(), Filter{Sort: SortPriceAsc})
	if err != nil {
		t.Fatal(err)
	}
	_ = good
	// at gives f a cursor of f's own search (c.of), so that each case is
	// refused for its own reason.
	at := func(f Filter, c cursor) Filter {
		c.of = f.digest()
		f.After = c.encode()
		return f
	}
	priceCursor := at(Filter{Sort: SortPriceAsc}, cursor{sort: SortPriceAsc, key: 1, id: 1}).After
	lampCursor := at(Filter{Q: "lamp"}, cursor{sort: SortRelevance, tier: 1, key: 1, id: 1}).After
	if _, err := s.Search(t.Context(), Filter{Q: "lamp", After: lampCursor}); err != nil {
		t.Fatalf("a cursor with its own search: %v", err)
	}
	for name, f := range map[string]Filter{
		"min above max":              {MinPrice: ptr[int64](5), MaxPrice: ptr[int64](4)},
		"negative price":             {MinPrice: ptr[int64](-1)},
		"unknown sort":               {Sort: "cheapest"},
		"garbage cursor":             {After: "%%%not-base64"},
		"cursor of another sort":     {After: priceCursor, Sort: SortNewest},
		"cursor of another keyword":  {After: lampCursor, Q: "desk"},
		"cursor of other filters":    {After: lampCursor, Q: "lamp", InStock: true},
		"cursor of another category": {After: priceCursor, Sort: SortPriceAsc, Category: "shoes"},
		"forged cursor zero id":      at(Filter{Sort: SortPriceAsc}, cursor{sort: SortPriceAsc, key: 1, id: 0}),
		"relevance cursor tier 0":    at(Filter{Q: "lamp"}, cursor{sort: SortRelevance, key: 1, id: 1}),
		"relevance cursor tier 3":    at(Filter{Q: "lamp"}, cursor{sort: SortRelevance, tier: 3, key: 1, id: 1}),
		"price cursor with a tier":   at(Filter{Sort: SortPriceAsc}, cursor{sort: SortPriceAsc, tier: 1, key: 1, id: 1}),
		"cursor of the old format":   {After: "djEucHJpY2VfYXNjLjEuMS4w", Sort: SortPriceAsc},
		"10 KB keyword":              {Q: strings.Repeat("a", 10_000)},
		"broken utf-8":               {Q: "\xff\xfe"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Search(t.Context(), f)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid_input, got %v", err)
			}
		})
	}
}

// prefixQuery is what a keyword search means, written the plain way for
// to_tsquery: the words ANDed, the last one a prefix.
func prefixQuery(q string) string {
	w := words(q)
	for i := range w {
		w[i] = "'" + w[i] + "'"
	}
	if len(w) > 0 {
		w[len(w)-1] += ":*"
	}
	return strings.Join(w, " & ")
}

// prefixQueryAB is prefixQuery in the name or brand: relevance's first tier.
func prefixQueryAB(q string) string {
	w := words(q)
	for i := range w {
		w[i] = "'" + w[i] + "':AB"
	}
	if len(w) > 0 {
		w[len(w)-1] = strings.Replace(w[len(w)-1], ":AB", ":*AB", 1)
	}
	return strings.Join(w, " & ")
}

// FuzzWordsAndLexemesAreAlwaysSafe: words are letters and digits only, and
// a lexeme, whatever it holds, is quoted so that tsquery reads back exactly it.
func FuzzWordsAndLexemesAreAlwaysSafe(f *testing.F) {
	for _, s := range []string{"head", "a & b | !c", "'; DROP TABLE products; --", "<script>", "헤드폰 무선", ":*:*", `it\'s`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, w := range words(q) {
			if strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
				t.Fatalf("word %q of %q holds more than letters and digits", w, q)
			}
		}
		// A lexeme is quoted so that tsquery's input reads back exactly it.
		quoted := quoteLexeme(q)
		if len(quoted) < 2 || quoted[0] != '\'' || quoted[len(quoted)-1] != '\'' {
			t.Fatalf("%q is not quoted", quoted)
		}
		var back strings.Builder
		for in := quoted[1 : len(quoted)-1]; in != ""; in = in[1:] {
			switch {
			case in[0] == '\\' && len(in) > 1, in[0] == '\'' && len(in) > 1 && in[1] == '\'':
				in = in[1:]
			case in[0] == '\\', in[0] == '\'':
				t.Fatalf("%q ends the operand early", quoted)
			}
			back.WriteByte(in[0])
		}
		if back.String() != q {
			t.Fatalf("%q reads back as %q", quoted, back.String())
		}
	})
}

// TestKeywordSearchIsExactInEveryOrder walks every page of keyword searches
// in every order and compares them with one plain ORDER BY over all
// matches, for each way a page is served: a rare word and a word with up to
// sortCap matches (all its matches sorted at once), a common word (over
// sortCap matches: a walk of the order's index), and a word with over
// sortCap matches that all sit at the far end of the order (the walk gives
// up and they are sorted) — the same rows in the same order either way, no
// repeats, no gaps, the right total.
func TestKeywordSearchIsExactInEveryOrder(t *testing.T) {
	pool := catalogDB(t, 20_000)
	tp, rec := traced(t, pool)
	s := NewService(replica.PrimaryOnly(tp))
	count := func(q string) (n int) {
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM products p WHERE p.search @@ to_tsquery('english', $1)`, prefixQuery(q)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var common, medium, rare string
	for _, w := range []string{"free", "gift", "pro", "black", "wireless", "pine", "petal", "echo", "lane", "field", "brew", "mono"} {
		switch n := count(w); {
		case common == "" && n > sortCap:
			common = w
		case medium == "" && n > CountCap && n <= sortCap:
			medium = w
		case rare == "" && n > 2*PageSize && n < CountCap:
			rare = w
		}
	}
	if common == "" || medium == "" || rare == "" {
		t.Fatalf("the generated catalogue has no common (%q), medium (%q) or rare (%q) word", common, medium, rare)
	}
	// 3,200 whose two words are in their names only, among the least
	// popular and older than those below: relevance's first tier holds
	// every match of "vorpal quenby".
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, description, price, popularity)
			SELECT 'VQ-' || i, 'Vorpal Quenby Lamp ' || i, 'Glowlab', (SELECT min(id) FROM categories), 'A lamp.', 2000 + i, i % 3
			FROM generate_series(1, 3200) AS i
			RETURNING id, price)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, price % 2, 1 FROM p`); err != nil {
		t.Fatal(err)
	}
	// 3,100 products called Zephyr (more than sortCap), all cheaper than
	// anything else: sorted by price from the top, a walk meets none of them
	// in walkRows rows.
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, description, price, popularity)
			SELECT 'ZEPHYR-' || i, 'Zephyr Tea Light ' || i, 'Glowlab', (SELECT min(id) FROM categories), 'A small candle.', 1 + i % 7, i % 50
			FROM generate_series(1, 3100) AS i
			RETURNING id, price)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, price % 3, price % 3 FROM p`); err != nil {
		t.Fatal(err)
	}
	// Fifty with "zephyr" only in the description, the least popular and
	// stored after the Zephyrs: relevance's second tier, which neither the
	// walk from the most popular nor the first 3,001 matches read meet.
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, description, price, popularity)
			SELECT 'ZEPHYR-D-' || i, 'Plain Shade ' || i, 'Potter', (SELECT min(id) FROM categories), 'Sways in a zephyr.', 100 + i, 0
			FROM generate_series(1, 50) AS i
			RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p`); err != nil {
		t.Fatal(err)
	}
	// Twenty rare words that sort before "zephyr".
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, price)
			SELECT 'ZEA-' || i, 'Zea' || chr(97 + i) || ' Vase', 'Potter', (SELECT min(id) FROM categories), 500 + i
			FROM generate_series(0, 19) AS i
			RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p`); err != nil {
		t.Fatal(err)
	}
	// Its brand in a tag that a parser reading name and brand joined would
	// swallow: relevance's first tier all the same.
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, price, popularity)
			VALUES ('ZEPHYR-TAG', 'Reel lamp <b', 'Zephyr>', (SELECT min(id) FROM categories), 3, 1) RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p`); err != nil {
		t.Fatal(err)
	}
	// The planner's count of products, as autovacuum keeps it.
	if _, err := pool.Exec(t.Context(), `ANALYZE products`); err != nil {
		t.Fatal(err)
	}
	orders := map[Sort]string{
		SortPriceAsc:  "p.price, p.id",
		SortPriceDesc: "p.price DESC, p.id DESC",
		SortNewest:    "p.created_at DESC, p.id DESC",
		SortPopular:   "p.popularity DESC, p.id DESC",
		SortRelevance: "p.search @@ to_tsquery('english', $4) DESC, p.popularity DESC, p.id DESC",
	}
	for _, tc := range []struct {
		q, category string
		brand       string
		sort        Sort
		inStock     bool
		minPrice    int64 // with maxPrice, a price range when not 0
		maxPrice    int64
		first       []string // the queries of the first page
		textQuery   string   // the first page's query of the text index, when it matters
	}{
		{q: rare, sort: SortPopular, first: []string{"KeywordWords", "KeywordMatches"}},
		{q: rare, sort: SortPriceDesc, first: []string{"KeywordWords", "KeywordMatches"}},
		{q: rare, sort: SortRelevance, first: []string{"KeywordWords", "KeywordMatches"}},
		// Over CountCap matches ("1,000+") but few enough to sort at once.
		{q: medium, sort: SortPriceAsc, first: []string{"KeywordWords", "KeywordMatches"}},
		{q: medium, sort: SortRelevance, first: []string{"KeywordWords", "KeywordMatches"}},
		// One word that search_words says over sortCap products hold: no count.
		// From the cheapest and the newest, the walk meets the Zephyrs first:
		// by price, any sortCap matches bound the page's price; by date, the
		// walk goes on past them.
		{q: common, sort: SortPriceAsc, first: []string{"KeywordWords", "WalkPriceAsc", "KeywordMatches", "KeywordMatches"}},
		{q: common, sort: SortPriceDesc, first: []string{"KeywordWords", "WalkPriceDesc"}},
		{q: common, sort: SortNewest, first: []string{"KeywordWords", "WalkNewest", "WalkNewest"}},
		{q: common, sort: SortRelevance, first: []string{"KeywordWords", "WalkPopular"}},
		// With a filter it is counted first (TestADenseKeywordIsCountedByWalking
		// for a word nearly every product holds).
		{q: common, sort: SortPopular, inStock: true, first: []string{"KeywordWords", "KeywordMatches", "WalkPopular"}},
		{q: common, sort: SortNewest, minPrice: 10_000, maxPrice: 100_000},
		{q: common[:2], category: "audio", sort: SortNewest},
		// "ze" begins more words than are listed, the first of them rare and
		// "zephyr" past them held by over CountCap products: still no count.
		{q: "ze", sort: SortNewest, first: []string{"KeywordWords", "WalkNewest"}},
		{q: "ze", sort: SortRelevance}, // its first tier from the index of names and brands
		// By price: the matches up to the price where any sortCap of them end a page.
		{q: "zephyr", sort: SortPriceDesc, first: []string{"KeywordWords", "WalkPriceDesc", "KeywordMatches", "KeywordMatches"}},
		// Few enough to sort: the walk meets none, so all of them are read.
		{q: "zephyr tea light 12", sort: SortPriceDesc, first: []string{"KeywordWords", "KeywordMatches"}},
		{q: "zephyr", sort: SortNewest},
		{q: "zephyr tea", sort: SortPriceAsc, first: []string{"KeywordWords", "KeywordMatches", "WalkPriceAsc"}},
		{q: "zephyr", sort: SortRelevance},
		// A last word that begins many words after rarer ones: the text index
		// finds the rarer words' products, each then checked for the prefix
		// (splitPrefix): fifty shades by Potter, one vase, none.
		{q: "shade p", sort: SortRelevance},
		{q: "zeab p", sort: SortRelevance},
		{q: "plain shade c", sort: SortPriceAsc},
		{q: "zephyr ca", sort: SortNewest}, // "ca" begins few enough words to list
		// A prefix of many words alone, in a brand: the brand's products are
		// found, each checked for the prefix (brandFirst): Potter's seventy.
		{q: "ze", brand: "Potter", sort: SortRelevance, first: []string{"KeywordWords", "BrandProducts", "KeywordMatches"}, textQuery: "'#b Potter'"},
		{q: "ze", brand: "Potter", sort: SortPriceDesc, inStock: true},
		{q: "ze", brand: "Glowlab", sort: SortNewest}, // 3,100 Zephyrs and more: the index reads the prefix
		// More than sortCap matches, all in the first tier (their words are
		// held in names only): walked, not read again from the index of
		// names and brands, and no second tier is looked for.
		{q: "vorpal quenby", sort: SortRelevance, first: []string{"KeywordWords", "KeywordMatches", "WalkPopular", "WalkPopular"}},
		{q: "quenby vorpal", sort: SortRelevance, inStock: true},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tc.q, tc.category, tc.sort), func(t *testing.T) {
			want := queryIDs(t, pool, `SELECT p.id FROM products p JOIN categories c ON c.id = p.category_id
				WHERE p.search @@ to_tsquery('english', $1) AND ($2 = '' OR c.slug = $2) AND (NOT $3 OR p.in_stock) AND $4::text <> ''
				  AND ($5 = 0 OR p.price BETWEEN $5 AND $6) AND ($7 = '' OR p.brand = $7)
				ORDER BY `+orders[tc.sort], prefixQuery(tc.q), tc.category, tc.inStock, prefixQueryAB(tc.q), tc.minPrice, tc.maxPrice, tc.brand)
			f := Filter{Q: tc.q, Category: tc.category, Brand: tc.brand, Sort: tc.sort, InStock: tc.inStock}
			if tc.minPrice != 0 {
				f.MinPrice, f.MaxPrice = &tc.minPrice, &tc.maxPrice
			}
			var got []int64
			rec.take()
			for pages := 0; ; pages++ {
				p, err := s.Search(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				cs := rec.take()
				ran := slices.DeleteFunc(names(cs), func(n string) bool { return n == "CategoryIDBySlug" })
				if pages == 0 && tc.textQuery != "" && !slices.ContainsFunc(cs, func(c captured) bool {
					return strings.HasPrefix(c.sql, "-- name: KeywordMatches") && slices.Contains(c.args, any(tc.textQuery))
				}) {
					t.Fatalf("no KeywordMatches asked the text index for %s alone", tc.textQuery)
				}
				if pages == 0 && tc.first != nil && !slices.Equal(ran, tc.first) {
					t.Fatalf("the first page ran %v, want %v", ran, tc.first)
				}
				if pages == 0 && (p.Total != int64(min(len(want), CountCap)) || p.Capped != (len(want) > CountCap)) {
					t.Fatalf("total %d (capped %v), want %d", p.Total, p.Capped, len(want))
				}
				for _, it := range p.Items {
					got = append(got, it.ID)
				}
				if p.NextCursor == "" || pages > len(want)/PageSize+1 {
					break
				}
				f.After = p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %d items, want %d; first difference at %d", len(got), len(want), firstDifference(got, want))
			}
		})
	}
}

// TestADenseKeywordIsCountedByWalking: a filtered word that nearly every
// product holds is counted by walking the index of prices, which finds
// CountCap+1 matches within as many rows; when the walk meets too few (most
// of them out of stock), the text index counts them exactly.
func TestADenseKeywordIsCountedByWalking(t *testing.T) {
	pool := catalogDB(t, 100)
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, price, popularity)
			SELECT 'QL-' || i, 'Quokka Lamp ' || i, 'Glowlab', (SELECT min(id) FROM categories), 1000 + i, i % 97
			FROM generate_series(1, 12000) AS i RETURNING id, price)
		INSERT INTO product_stock (product_id, stock, opening_stock)
		SELECT id, (price % 20 = 0)::int, 1 FROM p`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `ANALYZE products`); err != nil {
		t.Fatal(err)
	}
	tp, rec := traced(t, pool)
	s := NewService(replica.PrimaryOnly(tp))
	lo, hi, inStock := int64(2_000), int64(11_000), true
	for _, tc := range []struct {
		f      Filter
		ran    []string
		total  int64
		capped bool
	}{
		{Filter{Q: "quokka", MinPrice: &lo, MaxPrice: &hi, Sort: SortPopular}, []string{"KeywordWords", "CountByWalk", "WalkPopular"}, CountCap, true},
		{Filter{Q: "quokka", InStock: inStock, Sort: SortPopular}, []string{"KeywordWords", "CountByWalk", "KeywordMatches"}, 600, false},
	} {
		rec.take()
		p, err := s.Search(t.Context(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if ran := names(rec.take()); !slices.Equal(ran, tc.ran) || p.Total != tc.total || p.Capped != tc.capped {
			t.Fatalf("%+v: ran %v, total %d (capped %v); want %v, %d (%v)", tc.f, ran, p.Total, p.Capped, tc.ran, tc.total, tc.capped)
		}
		want := queryIDs(t, pool, `SELECT p.id FROM products p WHERE p.name LIKE 'Quokka Lamp %'
			AND ($1::bigint IS NULL OR p.price BETWEEN $1 AND $2) AND (NOT $3 OR p.in_stock)
			ORDER BY p.popularity DESC, p.id DESC LIMIT $4`, tc.f.MinPrice, tc.f.MaxPrice, tc.f.InStock, PageSize)
		var got []int64
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: the first page differs at %d", tc.f, firstDifference(got, want))
		}
	}
}

// TestAWalkThatKeepsSomeGoesOn: a broad keyword whose matches are thin at
// the start of the order and dense after it. The first walk keeps a third
// of a page, so the walk goes on through the order's index, rather than
// reading the matches from the text index to learn they are too many to
// sort.
func TestAWalkThatKeepsSomeGoesOn(t *testing.T) {
	pool := catalogDB(t, 100)
	// 6,000 Yonder kites, the most popular products: of the first 3,000 one
	// in 150 costs ₩1,000, then every one does.
	if _, err := pool.Exec(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, price, popularity)
			SELECT 'YK-' || i, 'Yonder Kite ' || i, 'Glowlab', (SELECT min(id) FROM categories),
			       CASE WHEN i > 3000 OR i % 150 = 0 THEN 1000 ELSE 2000 END, 1000000 - i
			FROM generate_series(1, 6000) AS i RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p;
		ANALYZE products`); err != nil {
		t.Fatal(err)
	}
	tp, rec := traced(t, pool)
	s := NewService(replica.PrimaryOnly(tp))
	price := int64(1_000)
	p, err := s.Search(t.Context(), Filter{Q: "yonder", MinPrice: &price, MaxPrice: &price, Sort: SortPopular})
	if err != nil {
		t.Fatal(err)
	}
	if ran, want := names(rec.take()), []string{"KeywordWords", "KeywordMatches", "WalkPopular", "WalkPopular"}; !slices.Equal(ran, want) || !p.Capped {
		t.Fatalf("ran %v, capped %v; want %v, capped", ran, p.Capped, want)
	}
	// Ten pages on, across the thin start and into the dense rest: none
	// repeated or skipped.
	const pages = 10
	want := queryIDs(t, pool, `SELECT id FROM products WHERE name LIKE 'Yonder Kite %' AND price = 1000
		ORDER BY popularity DESC, id DESC LIMIT $1`, pages*PageSize)
	var got []int64
	for n := 1; ; n++ {
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if n == pages || p.NextCursor == "" {
			break
		}
		if p, err = s.Search(t.Context(), Filter{Q: "yonder", MinPrice: &price, MaxPrice: &price, Sort: SortPopular, After: p.NextCursor}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d items, want %d; first difference at %d", len(got), len(want), firstDifference(got, want))
	}
}

// TestKeywordsNoProductHoldsAnswerAtOnce: a word no product holds is no
// match without a search of the index, and stop words alone are told apart.
func TestKeywordsNoProductHoldsAnswerAtOnce(t *testing.T) {
	pool := catalogDB(t, 2_000)
	tp, rec := traced(t, pool)
	s := NewService(replica.PrimaryOnly(tp))
	for q, notice := range map[string]string{"zzqxv": "No products match.", "black zzqxv": "No products match.",
		"the of": "Those words are too common to search for. Add a word that names the product."} {
		rec.take()
		p, err := s.Search(t.Context(), Filter{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		if ran := names(rec.take()); len(p.Items) != 0 || p.Total != 0 || p.Notice != notice || !slices.Equal(ran, []string{"KeywordWords"}) {
			t.Errorf("%q: %d items, total %d, notice %q, ran %v", q, len(p.Items), p.Total, p.Notice, ran)
		}
	}
}

// TestBrandAndCategoryAreInTheTextIndex: a keyword's category and brand
// filters are lexemes of the text index (search_doc), written from any brand
// a shop may have, quotes and backslashes included, and match exactly.
func TestBrandAndCategoryAreInTheTextIndex(t *testing.T) {
	pool := catalogDB(t, 500)
	s := NewService(replica.PrimaryOnly(pool))
	brands := []string{`O'Neil \ Sons`, "O'Neil", `Sons`, "#c 1"}
	for i, b := range brands {
		if _, err := pool.Exec(t.Context(), `
			WITH p AS (
				INSERT INTO products (sku, name, brand, category_id, price)
				SELECT 'QB-' || $2::int || '-' || c.id, 'Quokka Lamp', $1, c.id, 1000 FROM categories c RETURNING id)
			INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p`, b, i); err != nil {
			t.Fatal(err)
		}
	}
	var slug string
	var categories int64
	if err := pool.QueryRow(t.Context(), `SELECT (SELECT slug FROM categories ORDER BY id LIMIT 1), (SELECT count(*) FROM categories)`).Scan(&slug, &categories); err != nil {
		t.Fatal(err)
	}
	for _, b := range brands {
		for _, f := range []Filter{{Q: "quokka", Brand: b}, {Q: "quokka lamp", Brand: b, Category: slug}} {
			p, err := s.Search(t.Context(), f)
			want := categories
			if f.Category != "" {
				want = 1
			}
			if err != nil || p.Total != want || int64(len(p.Items)) != want {
				t.Fatalf("%+v: total %d, %d items, %v; want %d", f, p.Total, len(p.Items), err, want)
			}
			for _, it := range p.Items {
				if it.Brand != b || f.Category != "" && it.Category != slug {
					t.Fatalf("%+v: found %+v", f, it)
				}
			}
		}
	}
}

// TestAFailureAfterTheWordsIsAnError: the words are read, then the products
// are locked away; the search must fail (a 5xx for the shopper to retry),
// not answer "No products match".
func TestAFailureAfterTheWordsIsAnError(t *testing.T) {
	pool := catalogDB(t, 2_000)
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "200ms"
	short, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), "LOCK TABLE products IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Filter{{Q: "black"}, {Q: "pro", Sort: SortPriceAsc}, {Sort: SortNewest}} {
		if p, err := NewService(replica.PrimaryOnly(short)).Search(t.Context(), f); err == nil {
			t.Errorf("%+v with the products locked: no error, %d items, notice %q", f, len(p.Items), p.Notice)
		}
	}
}

func firstDifference(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// FuzzCursorIsRefusedOrRoundTrips: any text given as `after` is refused as a
// broken link or is a cursor that encodes back to an equal one; never a panic.
func FuzzCursorIsRefusedOrRoundTrips(f *testing.F) {
	f.Add(cursor{of: 7, sort: SortRelevance, tier: 2, key: 5, id: 9, total: 30}.encode(), string(SortRelevance), uint32(7))
	f.Add(cursor{sort: SortNewest, key: -1, id: 1}.encode(), string(SortNewest), uint32(0))
	f.Add("djIucHJpY2VfYXNjLjAuMS4xLjA", string(SortPriceAsc), uint32(1))
	f.Fuzz(func(t *testing.T, s, sort string, of uint32) {
		c, err := decodeCursor(s, Sort(sort), of)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if back, err := decodeCursor(c.encode(), Sort(sort), of); err != nil || back != c {
			t.Fatalf("%q decodes to %+v, which encodes to %+v (%v)", s, c, back, err)
		}
	})
}

// queryIDs runs a query of product ids, the answer a search is checked against.
func queryIDs(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := pool.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// What a shopper types in full-width letters (as East Asian keyboards may)
// finds what the same word in ASCII finds.
func TestFullWidthKeywordsFindTheirASCIIWords(t *testing.T) {
	pool := catalogDB(t, 2_000)
	s := NewService(replica.PrimaryOnly(pool))
	ascii, err := s.Search(t.Context(), Filter{Q: "black"})
	if err != nil {
		t.Fatal(err)
	}
	wide, err := s.Search(t.Context(), Filter{Q: "ＢＬＡＣＫ"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ascii.Items) == 0 || !slices.EqualFunc(ascii.Items, wide.Items, func(a, b catalog.Item) bool { return a.ID == b.ID }) || ascii.Total != wide.Total {
		t.Fatalf("black found %d (total %v), ＢＬＡＣＫ %d (total %v)", len(ascii.Items), ascii.Total, len(wide.Items), wide.Total)
	}
}

// A product's own full-width text is found too, by its ASCII words and by
// the full-width ones: the text index reads product text as NFKC, as the
// search reads a keyword.
func TestFullWidthProductTextIsFound(t *testing.T) {
	pool := catalogDB(t, 200)
	var id int64
	if err := pool.QueryRow(t.Context(), `
		WITH p AS (
			INSERT INTO products (sku, name, brand, category_id, description, price)
			SELECT 'WIDE-1', 'ＺＥＢＲＡＱＵＩＸ Desk Lamp', 'Ｗｉｄｅｃｏ', (SELECT min(id) FROM categories), 'A ｐｌｕｍｂｏｂ shade.', 5000
			RETURNING id)
		INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 1, 1 FROM p RETURNING product_id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	s := NewService(replica.PrimaryOnly(pool))
	for _, q := range []string{"zebraquix", "ＺＥＢＲＡＱＵＩＸ", "zebraq", "plumbob", "Ｐｌｕｍｂｏｂ", "widec", "zebraquix widec"} {
		p, err := s.Search(t.Context(), Filter{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 1 || p.Items[0].ID != id {
			t.Errorf("%q: %d items (total %v), want product %d", q, len(p.Items), p.Total, id)
		}
	}
}
