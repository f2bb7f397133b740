package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/errs"
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

// TestEveryShapeUsesAnIndexAfterManyExecutions runs each filter shape more
// than ten times through the real pool (past the point where PostgreSQL may
// switch a prepared statement to a generic plan), then EXPLAINs the prepared
// statements exactly as they ran: no sequential scan over products, and an
// equality filter must be an index condition, not a row filter. Searches
// without a keyword run with the planner's own choices (see searchSettings),
// so the table must be big enough for an index to be the right choice: at
// 20,000 rows a sequential scan that stops at the 10,001st in-stock row is
// honestly cheaper; from 100,000 rows on the planner picks the same indexes
// as at a million. Keyword searches run with sequential scans off; for them
// this proves that the GIN index serves every shape.
func TestEveryShapeUsesAnIndexAfterManyExecutions(t *testing.T) {
	pool := catalogDB(t, 100_000)
	s := NewService(pool)
	var mu sync.Mutex
	var seen []captured
	s.observe = func(sql string, args []any) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, captured{sql, slices.Clone(args)})
	}
	shapes := []Filter{
		{Q: "wireless"}, {Q: "head"}, {Q: "robot vacuum", Sort: SortPriceAsc}, {Q: "pro", Category: "audio", Sort: SortNewest},
		{Q: "camera", InStock: true, Sort: SortPopular},
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
	checked := map[string]bool{}
	countsWithin := 0
	for i, c := range seen {
		key := c.sql + fmt.Sprint(c.args)
		catalogue := strings.Contains(c.sql, "products") || strings.Contains(c.sql, "search_docs")
		if checked[key] || !catalogue || strings.Contains(c.sql, "products_match_estimate") {
			continue
		}
		checked[key] = true
		plan := explainPrepared(t, conn.Conn(), fmt.Sprintf("shape_%d", i), c)
		scans := scanned(plan)
		if slices.ContainsFunc(scans, func(s string) bool { return s == "Seq Scan products" || strings.HasPrefix(s, "Seq Scan search_docs") }) {
			t.Errorf("sequential scan over the catalogue for %v:\n%s\n%s", c.args, c.sql, plan)
		}
		// A count within categories reads their partitions only.
		if cats, ok := c.args[1].([]int64); ok && strings.HasPrefix(c.sql, "-- name: CountKeywordMatches ") && cats != nil {
			countsWithin++
			var want []string
			for _, id := range cats {
				want = append(want, fmt.Sprintf("Bitmap Heap Scan search_docs_%d", id))
			}
			slices.Sort(want)
			slices.Sort(scans)
			if !slices.Equal(scans, want) {
				t.Errorf("counting within categories %v scans %v, want %v", cats, scans, want)
			}
		}
		for _, col := range equalityFilters(c.sql, c.args) {
			if !strings.Contains(indexConds(plan), col) {
				t.Errorf("%s is filtered row by row, not by an index condition, for %v:\n%s", col, c.args, plan)
			}
		}
	}
	if len(checked) < len(shapes) || countsWithin == 0 {
		t.Fatalf("checked only %d queries, %d counts within a category", len(checked), countsWithin)
	}
}

// equalityFilters: the category and brand arguments that are set, by column,
// for the searches without a keyword (category_id and brand are their first
// two arguments). A keyword search is led by the GIN index and may check
// them on its few candidates row by row.
func equalityFilters(sql string, args []any) []string {
	filtered := false
	for _, name := range []string{"SearchPriceAsc", "SearchPriceDesc", "SearchNewest", "SearchPopular", "CountMatches"} {
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
	// The queries that start from a keyword's matches run with sequential scans
	// off, as in the service; the walks of the sort indexes are held to their
	// index without that help.
	keyword := strings.HasPrefix(c.sql, "-- name: SearchKeywordExact ") || strings.HasPrefix(c.sql, "-- name: CountKeywordMatches ")
	if _, err := tx.Exec(ctx, searchSettings(keyword)); err != nil {
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
	s := NewService(pool)
	for i := range 95 {
		_, err := s.Create(t.Context(), ProductInput{SKU: fmt.Sprintf("EQ-%03d", i), Name: fmt.Sprintf("Same Price Lamp %d", i), Brand: []string{"Acme", "Bolt"}[i%2],
			Category: "Lighting", Description: "A lamp.", Price: int64(1000 * (1 + i%3)), Stock: int64(i % 4)})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Filter{{Sort: SortPriceAsc}, {Sort: SortPriceDesc}, {Sort: SortNewest}, {Sort: SortPopular}, {Q: "lamp"},
		{Sort: SortPriceAsc, InStock: true}, {Brand: "Bolt", Sort: SortPriceDesc}, {Q: "lamp", MinPrice: ptr[int64](2000), MaxPrice: ptr[int64](2000)}} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			var got []Item
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
	s := NewService(testenv.DB(t))
	good, err := s.Search(t.Context(), Filter{Sort: SortPriceAsc})
	if err != nil {
		t.Fatal(err)
	}
	_ = good
	priceCursor := cursor{sort: SortPriceAsc, key: 1, id: 1}.encode()
	for name, f := range map[string]Filter{
		"min above max":            {MinPrice: ptr[int64](5), MaxPrice: ptr[int64](4)},
		"negative price":           {MinPrice: ptr[int64](-1)},
		"unknown sort":             {Sort: "cheapest"},
		"garbage cursor":           {After: "%%%not-base64"},
		"cursor of another sort":   {After: priceCursor, Sort: SortNewest},
		"forged cursor zero id":    {After: cursor{sort: SortPriceAsc, key: 1, id: 0}.encode(), Sort: SortPriceAsc},
		"relevance cursor tier 0":  {After: cursor{sort: SortRelevance, key: 1, id: 1}.encode(), Q: "lamp"},
		"relevance cursor tier 3":  {After: cursor{sort: SortRelevance, tier: 3, key: 1, id: 1}.encode(), Q: "lamp"},
		"price cursor with a tier": {After: cursor{sort: SortPriceAsc, tier: 1, key: 1, id: 1}.encode(), Sort: SortPriceAsc},
		"cursor of the old format": {After: "djEucHJpY2VfYXNjLjEuMS4w", Sort: SortPriceAsc},
		"10 KB keyword":            {Q: strings.Repeat("a", 10_000)},
		"broken utf-8":             {Q: "\xff\xfe"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Search(t.Context(), f)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid_input, got %v", err)
			}
		})
	}
}

// prefixQuery is what a keyword search means, written the plain way: the
// words ANDed for to_tsquery, the last one a prefix. The search resolves the
// prefix into lexemes and narrows the categories through search_terms; the
// tests compare what it finds with this.
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
// matches: a word common enough to fill pages by walking the sort key's
// index, and one so rare that the walk gives up and the matches are sorted
// instead (SearchKeywordExact) — the same rows in the same order either way,
// no repeats, no gaps, and the right total.
func TestKeywordSearchIsExactInEveryOrder(t *testing.T) {
	pool := catalogDB(t, 20_000)
	s := NewService(pool)
	var mu sync.Mutex
	exact := 0
	s.observe = func(sql string, _ []any) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(sql, "-- name: SearchKeywordExact ") {
			exact++
		}
	}
	count := func(q, category string) (n int) {
		err := pool.QueryRow(t.Context(), `SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id
			WHERE p.search @@ to_tsquery('english', $1) AND ($2 = '' OR c.slug = $2)`, prefixQuery(q), category).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	categories := func(w string) (n int) {
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM search_terms WHERE lexeme = $1`, w).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A common word (several percent of the rows); a rare one (under 1 in
	// 200, so that 2,000 walked rows hold fewer than a page of it), which
	// products created here add to a second category, so that no category
	// walk finds it; and a word held by one category only, which is searched
	// within that category.
	var common, rare, single string
	for _, w := range []string{"pro", "black", "wireless", "pine", "petal", "echo", "lane", "field", "brew", "mono"} {
		switch n := count(w, ""); {
		case common == "" && n > 1_000:
			common = w
		case rare == "" && n > 2*PageSize && n < 150:
			rare = w
		case single == "" && n > 2*PageSize && categories(w) == 1:
			single = w
		}
	}
	if common == "" || rare == "" || single == "" {
		t.Fatalf("the generated catalogue has no common (%q), rare (%q) or single-category (%q) word", common, rare, single)
	}
	for i := range PageSize + 5 {
		_, err := s.Create(t.Context(), ProductInput{SKU: fmt.Sprintf("RARE-%d", i), Name: "Field Guide to " + rare + " " + strconv.Itoa(i),
			Brand: "Linebook", Category: "books", Price: int64(1000 + 37*i), Stock: int64(i % 3)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if categories(rare) < 2 {
		t.Fatalf("%q is still held by one category", rare)
	}
	orders := map[Sort]string{
		SortPriceAsc:  "p.price, p.id",
		SortPriceDesc: "p.price DESC, p.id DESC",
		SortNewest:    "p.created_at DESC, p.id DESC",
		SortPopular:   "p.popularity DESC, p.id DESC",
		SortRelevance: "to_tsvector('english', p.name || ' ' || p.brand) @@ to_tsquery('english', $1) DESC, p.popularity DESC, p.id DESC",
	}
	for _, tc := range []struct {
		q, category string
		sort        Sort
		inStock     bool
		exact       bool // the walk cannot fill the first page: the matches are sorted
		anyPath     bool // either may serve it
	}{
		{q: common, sort: SortPriceAsc}, {q: common, sort: SortPriceDesc}, {q: common, sort: SortNewest},
		{q: common, sort: SortPopular, inStock: true}, {q: common, sort: SortRelevance},
		{q: common, category: "audio", sort: SortNewest},
		{q: rare, sort: SortPopular, exact: true}, {q: rare, sort: SortPriceDesc, exact: true},
		{q: rare, sort: SortRelevance, exact: true},
		{q: single, sort: SortPriceAsc}, {q: single, sort: SortRelevance}, {q: single + " " + common[:2], sort: SortNewest, anyPath: true},
	} {
		t.Run(fmt.Sprintf("%s %s %s", tc.q, tc.category, tc.sort), func(t *testing.T) {
			rows, err := pool.Query(t.Context(), `SELECT p.id FROM products p JOIN categories c ON c.id = p.category_id
				WHERE p.search @@ to_tsquery('english', $1) AND ($2 = '' OR c.slug = $2) AND (NOT $3 OR p.in_stock)
				ORDER BY `+orders[tc.sort], prefixQuery(tc.q), tc.category, tc.inStock)
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				t.Fatal(err)
			}
			exact = 0
			f := Filter{Q: tc.q, Category: tc.category, Sort: tc.sort, InStock: tc.inStock}
			var got []int64
			for pages := 0; ; pages++ {
				p, err := s.Search(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				if pages == 0 && !tc.anyPath && (exact > 0) != tc.exact { // the last page of any word may need it
					t.Fatalf("the first page ran SearchKeywordExact %d times", exact)
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
	f.Add(cursor{sort: SortRelevance, tier: 2, key: 5, id: 9, total: 30}.encode(), string(SortRelevance))
	f.Add(cursor{sort: SortNewest, key: -1, id: 1}.encode(), string(SortNewest))
	f.Add("djIucHJpY2VfYXNjLjAuMS4xLjA", string(SortPriceAsc))
	f.Fuzz(func(t *testing.T, s, sort string) {
		c, err := decodeCursor(s, Sort(sort))
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if back, err := decodeCursor(c.encode(), Sort(sort)); err != nil || back != c {
			t.Fatalf("%q decodes to %+v, which encodes to %+v (%v)", s, c, back, err)
		}
	})
}
