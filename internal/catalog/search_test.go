package catalog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	for i, c := range seen {
		key := c.sql + fmt.Sprint(c.args)
		if checked[key] || !strings.Contains(c.sql, "products") || strings.Contains(c.sql, "products_match_estimate") {
			continue
		}
		checked[key] = true
		plan := explainPrepared(t, conn.Conn(), fmt.Sprintf("shape_%d", i), c)
		if seqScansProducts(plan) {
			t.Errorf("sequential scan over products for %v:\n%s\n%s", c.args, c.sql, plan)
		}
		for _, col := range equalityFilters(c.sql, c.args) {
			if !strings.Contains(indexConds(plan), col) {
				t.Errorf("%s is filtered row by row, not by an index condition, for %v:\n%s", col, c.args, plan)
			}
		}
	}
	if len(checked) < len(shapes) {
		t.Fatalf("checked only %d queries", len(checked))
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

// seqScansProducts: some node of the plan is a sequential scan of products
// (a scan of the dozen categories is fine).
func seqScansProducts(plan string) bool {
	var root []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(plan), &root); err != nil || len(root) == 0 {
		return true
	}
	var walk func(n planNode) bool
	walk = func(n planNode) bool {
		if n.NodeType == "Seq Scan" && n.Relation == "products" {
			return true
		}
		return slices.ContainsFunc(n.Plans, walk)
	}
	return walk(root[0].Plan)
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
	// Keyword queries (the candidate set and its count) run in a keyword search transaction.
	keyword := strings.HasPrefix(c.sql, "-- name: SearchKeyword ") || strings.HasPrefix(c.sql, "-- name: CountKeywordMatches ")
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
		"min above max":          {MinPrice: ptr[int64](5), MaxPrice: ptr[int64](4)},
		"negative price":         {MinPrice: ptr[int64](-1)},
		"unknown sort":           {Sort: "cheapest"},
		"garbage cursor":         {After: "%%%not-base64"},
		"cursor of another sort": {After: priceCursor, Sort: SortNewest},
		"forged cursor zero id":  {After: cursor{sort: SortPriceAsc, key: 1, id: 0}.encode(), Sort: SortPriceAsc},
		"10 KB keyword":          {Q: strings.Repeat("a", 10_000)},
		"broken utf-8":           {Q: "\xff\xfe"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Search(t.Context(), f)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("want invalid_input, got %v", err)
			}
		})
	}
}

func FuzzTsQueryIsAlwaysSafe(f *testing.F) {
	for _, s := range []string{"head", "a & b | !c", "'; DROP TABLE products; --", "<script>", "헤드폰 무선", ":*:*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := tsQuery(q)
		for _, r := range out {
			if strings.ContainsRune("|!()<>\\", r) {
				t.Fatalf("tsquery syntax %q leaked into %q", r, out)
			}
		}
		if strings.Count(out, "'")%2 != 0 {
			t.Fatalf("unbalanced quotes in %q", out)
		}
	})
}

// TestBroadKeywordOrdersAndCountsABoundedCandidateSet: a keyword with more
// matches than Candidates is sorted and counted over the first Candidates
// matches, and says so; a narrower one is exact. Either way the keyset pages
// walk the whole set in order, without repeats.
func TestBroadKeywordOrdersAndCountsABoundedCandidateSet(t *testing.T) {
	pool := catalogDB(t, 20_000)
	s := NewService(pool)
	matches := func(q, category string) (n int64) {
		err := pool.QueryRow(t.Context(), `SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id
			WHERE p.search @@ to_tsquery('english', $1) AND ($2 = '' OR c.slug = $2)`, tsQuery(q), category).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	broad := ""
	for _, w := range []string{"pro", "black", "warranty", "seoul", "wireless", "air"} {
		if matches(w, "") > Candidates*3/2 {
			broad = w
			break
		}
	}
	if broad == "" {
		t.Fatal("no keyword matches enough of the generated catalogue")
	}
	narrow := Filter{Q: broad, Category: "books"}
	if n := matches(broad, "books"); n == 0 || n > Candidates {
		t.Fatalf("%q in books matches %d", broad, n)
	}
	for _, tc := range []struct {
		f       Filter
		bounded bool
	}{
		{Filter{Q: broad, Sort: SortPriceAsc}, true},
		{Filter{Q: broad, Sort: SortNewest}, true},
		{Filter{Q: broad}, true},
		{narrow, false},
		{Filter{Q: broad, Category: "books", Sort: SortPriceDesc}, false},
	} {
		t.Run(fmt.Sprintf("%+v", tc.f), func(t *testing.T) {
			f := tc.f
			first, err := s.Search(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			want := matches(f.Q, f.Category)
			if tc.bounded {
				// The order covers the first Candidates matches; the count is
				// exact up to CountCap (the contract's number or "10000+").
				if first.Within != Candidates || first.Note() == "" || (first.Capped && first.Total != CountCap) || (!first.Capped && first.Total != want) {
					t.Fatalf("bounded search: total %d (matches %d) capped %v within %d note %q", first.Total, want, first.Capped, first.Within, first.Note())
				}
				want = Candidates
			} else if first.Capped || first.Within != 0 || first.Note() != "" || first.Total != want {
				t.Fatalf("exact search: total %d (want %d) capped %v within %d", first.Total, want, first.Capped, first.Within)
			}
			seen := map[int64]bool{}
			var got []Item
			for p := first; ; {
				for _, it := range p.Items {
					if seen[it.ID] {
						t.Fatalf("item %d repeated", it.ID)
					}
					seen[it.ID] = true
				}
				got = append(got, p.Items...)
				if p.NextCursor == "" {
					break
				}
				f.After = p.NextCursor
				if p, err = s.Search(t.Context(), f); err != nil {
					t.Fatal(err)
				}
				if p.Within != first.Within || p.Total != first.Total {
					t.Fatalf("a later page says total %d within %d", p.Total, p.Within)
				}
			}
			if int64(len(got)) != want {
				t.Fatalf("walked %d items, want %d", len(got), want)
			}
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				if (f.Sort == SortPriceAsc && a.Price > b.Price) || (f.Sort == SortPriceDesc && a.Price < b.Price) {
					t.Fatalf("price order broken at %d: %d then %d", i, a.Price, b.Price)
				}
			}
		})
	}
}
