package catalog

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/testenv"
)

// TestSearchTermsFollowProductsUnderConcurrency creates products from a few
// new words in a new category with 200 goroutines at once, each naming its
// words in a different order (the trigger's inserts into search_terms must
// queue, not deadlock), then moves some of them to another category: every
// product is found by its words, by the prefix of one, and within its
// category, before and after the move.
func TestSearchTermsFollowProductsUnderConcurrency(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	vocabulary := []string{"quillfeather", "zantorix", "vombleware", "glimmerhorn", "oxtrapod"}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			w := shuffled(vocabulary, i)
			_, err := s.Create(t.Context(), ProductInput{SKU: fmt.Sprintf("ODD-%03d", i), Name: strings.Join(w, " "),
				Brand: "Oddity Works", Category: "Curios", Description: "One of " + w[0] + " kind.", Price: 5000, Stock: 1})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	found := func(q, category string) int64 {
		t.Helper()
		p, err := s.Search(t.Context(), Filter{Q: q, Category: category})
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	for _, w := range vocabulary {
		if got := found(w, ""); got != n {
			t.Fatalf("%q finds %d products, want %d", w, got, n)
		}
	}
	if got := found("zantorix glimm", "curios"); got != n {
		t.Fatalf("a prefix of the last word finds %d products, want %d", got, n)
	}

	// Move a quarter to the books, with a word of their own.
	if _, err := pool.Exec(t.Context(), `INSERT INTO categories (slug, name) VALUES ('books', 'Books') ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	moved, err := pool.Exec(t.Context(), `UPDATE products SET name = name || ' paperback',
		category_id = (SELECT id FROM categories WHERE slug = 'books') WHERE sku LIKE 'ODD-%' AND id % 4 = 0`)
	if err != nil {
		t.Fatal(err)
	}
	m := moved.RowsAffected()
	if m == 0 || m == n {
		t.Fatalf("moved %d products", m)
	}
	for _, tc := range []struct {
		q, category string
		want        int64
	}{
		{"quillfeather", "", n}, {"quillfeather", "curios", n - m}, {"quillfeather", "books", m},
		{"oxtrapod paperb", "", m}, {"oxtrapod paperback", "curios", 0}, {"zantorix", "books", m},
	} {
		if got := found(tc.q, tc.category); got != tc.want {
			t.Errorf("%q in %q finds %d products, want %d", tc.q, tc.category, got, tc.want)
		}
	}
}

// shuffled returns words in an order of its own for each i.
func shuffled(words []string, i int) []string {
	w := append([]string(nil), words...)
	rand.New(rand.NewPCG(uint64(i), 7)).Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	return w
}

func TestResolveKeyword(t *testing.T) {
	type kt = db.KeywordTermsRow
	many := make([]kt, maxLexemes+1)
	for i := range many {
		many[i] = kt{Pos: 2, Stem: "s", Lexeme: fmt.Sprintf("s%02d", i), Categories: []int64{int64(i)}}
	}
	// want is the keyword as a tsquery, with weights, and within category 3.
	type want struct {
		query, title, within string
		categories           []int64
		none                 bool
	}
	for _, tc := range []struct {
		name  string
		terms []kt
		last  int32
		want  want
	}{
		{"one word, one lexeme", []kt{{Pos: 1, Stem: "jacket", Lexeme: "jacket", Categories: []int64{8}}}, 1,
			want{query: "'jacket'", title: "'jacket':AB", within: "'#3 jacket'", categories: []int64{8}}},
		{"the prefix stands for its lexemes; categories that hold every word", []kt{
			{Pos: 1, Stem: "robot", Lexeme: "robot", Categories: []int64{5, 7}},
			{Pos: 2, Stem: "vac", Lexeme: "vacuum", Categories: []int64{5}},
			{Pos: 2, Stem: "vac", Lexeme: "vacat", Categories: []int64{7, 9}}}, 2,
			want{query: "'robot' & ('vacuum' | 'vacat')", title: "'robot':AB & ('vacuum':AB | 'vacat':AB)",
				within: "'#3 robot' & ('#3 vacuum' | '#3 vacat')", categories: []int64{5, 7}}},
		{"a word no product holds", []kt{{Pos: 1, Stem: "robot", Lexeme: "robot", Categories: []int64{5}}, {Pos: 2, Stem: "zzz"}}, 2,
			want{none: true}},
		{"no category holds every word", []kt{{Pos: 1, Stem: "robot", Lexeme: "robot", Categories: []int64{5}},
			{Pos: 2, Stem: "jacket", Lexeme: "jacket", Categories: []int64{8}}}, 2, want{none: true}},
		{"a prefix of too many lexemes stays a prefix, in any category", append([]kt{{Pos: 1, Stem: "pro", Lexeme: "pro", Categories: []int64{1, 3}}}, many...), 2,
			want{query: "'pro' & 's':*", title: "'pro':AB & 's':*AB", within: "'#3 pro' & '#3 s':*", categories: []int64{1, 3}}},
		{"only stop words", nil, 1, want{}},
		{"quotes in a lexeme", []kt{{Pos: 1, Stem: `o'k\`, Lexeme: `o'k\`, Categories: []int64{1}}}, 1,
			want{query: `'o''k\\'`, title: `'o''k\\':AB`, within: `'#3 o''k\\'`, categories: []int64{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kw := resolveKeyword(tc.terms, tc.last)
			got := want{query: kw.tsquery(0, ""), title: kw.tsquery(0, "AB"), within: kw.tsquery(3, ""), categories: kw.categories, none: kw.none}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKeywordsNoProductHoldsAnswerAtOnce: stop words alone, a word no product
// holds, and words no one category holds together answer with a notice and
// nothing else.
func TestKeywordsNoProductHoldsAnswerAtOnce(t *testing.T) {
	s := NewService(catalogDB(t, 2_000))
	for _, tc := range []struct{ q, category, notice string }{
		{"the and of", "", "too common"},
		{"zzqqxxv", "", "No products match"},
		{"jacket turntable", "", "No products match"}, // fashion and audio
		{"jacket", "audio", "No products match"},
		{"jacket the", "", ""}, // a stop word at the end drops out
	} {
		p, err := s.Search(t.Context(), Filter{Q: tc.q, Category: tc.category})
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		if tc.notice == "" {
			if len(p.Items) == 0 || p.Notice != "" {
				t.Errorf("%q: %d items, notice %q", tc.q, len(p.Items), p.Notice)
			}
			continue
		}
		if len(p.Items) != 0 || p.Total != 0 || !strings.Contains(p.Notice, tc.notice) {
			t.Errorf("%q in %q: %d items, total %d, notice %q; want none and %q", tc.q, tc.category, len(p.Items), p.Total, p.Notice, tc.notice)
		}
	}
}

// TestCategoryAndBrandLexemesCannotBeForged: the searches that start from the
// GIN index find the words within a category, and the brand, as lexemes of
// their own ('#<category id> <lexeme>', '#brand <brand>'). A product in
// another category and brand whose text imitates them (this spelling and
// earlier ones) must not be found by a search filtered to them: not on the
// exact path (the second page here) and not in the count (the first).
func TestCategoryAndBrandLexemesCannotBeForged(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	create := func(sku, name, brand, category, description string) Product {
		t.Helper()
		p, err := s.Create(t.Context(), ProductInput{SKU: sku, Name: name, Brand: brand, Category: category,
			Description: description, Price: 1000, Stock: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const n = PageSize + 5
	for i := range n {
		create(fmt.Sprintf("BOOK-%d", i), fmt.Sprintf("Zantorix Atlas %d", i), "Acme", "Books", "")
	}
	var books int64
	if err := pool.QueryRow(t.Context(), `SELECT id FROM categories WHERE slug = 'books'`).Scan(&books); err != nil {
		t.Fatal(err)
	}
	forged := fmt.Sprintf("x~c%d category %d %d zantorix #%d zantorix x~bAcme brand Acme #brand Acme", books, books, books, books)
	create("LAMP-1", "Zantorix Lamp "+forged, "Glow", "Lamps", forged)
	for _, f := range []Filter{{Q: "zantorix", Category: "books"}, {Q: "zantorix", Brand: "Acme"}, {Q: "zantorix atl", Category: "books", Brand: "Acme"}} {
		var got int
		for page := 0; ; page++ {
			p, err := s.Search(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			if page == 0 && (p.Total != n || p.Capped) {
				t.Errorf("%+v: total %d, want %d", f, p.Total, n)
			}
			for _, it := range p.Items {
				if it.Brand != "Acme" || it.Category != "books" {
					t.Errorf("%+v found %q (%s, %s)", f, it.Name, it.Brand, it.Category)
				}
			}
			got += len(p.Items)
			if p.NextCursor == "" || page > 3 {
				break
			}
			f.After = p.NextCursor
		}
		if got != n {
			t.Errorf("%+v: %d items over the pages, want %d", f, got, n)
		}
	}
}

// TestAPrefixFindsOnlyWords: a last word that begins more lexemes than
// maxLexemes stays a tsquery prefix, which must match the words of products
// and not the category and brand lexemes beside them in products_match_doc
// ("bra" must not match every product's brand lexeme, nor a digit every
// product of the categories whose id begins with it).
func TestAPrefixFindsOnlyWords(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	create := func(sku, name, category, description string) {
		t.Helper()
		if _, err := s.Create(t.Context(), ProductInput{SKU: sku, Name: name, Brand: "Acme", Category: category,
			Description: description, Price: 1000, Stock: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range PageSize + 5 {
		create(fmt.Sprintf("QB-%d", i), "Quorvex Atlas", "Books", "")
		create(fmt.Sprintf("QL-%d", i), "Quorvex Lamp", "Lamps", "")
	}
	var books int64
	if err := pool.QueryRow(t.Context(), `SELECT id FROM categories WHERE slug = 'books'`).Scan(&books); err != nil {
		t.Fatal(err)
	}
	digit := strconv.FormatInt(books, 10)[:1] // a category that holds "quorvex" begins with it
	// More than maxLexemes words begin with "bra" and with the digit.
	var filler []string
	for i := range maxLexemes + 1 {
		filler = append(filler, fmt.Sprintf("bra%c%c", 'a'+i/26, 'a'+i%26), fmt.Sprintf("%s%d", digit, i))
	}
	create("FILL-1", "Filler", "Curios", strings.Join(filler, " "))
	for _, q := range []string{"quorvex bra", "quorvex " + digit} {
		p, err := s.Search(t.Context(), Filter{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 0 || p.Total != 0 {
			t.Errorf("%q found %d products (total %d), want none", q, len(p.Items), p.Total)
		}
	}
	// The prefix still finds the words it begins.
	if p, err := s.Search(t.Context(), Filter{Q: "filler bra"}); err != nil || p.Total != 1 {
		t.Errorf(`"filler bra": total %d, err %v; want 1`, p.Total, err)
	}
}

// TestAWordTooLongToQualifyIsStillAProduct: a lexeme may be 2,047 bytes,
// and its category's copy ('#<id> <lexeme>') would be longer than a
// tsvector allows; products_match_doc leaves that copy out instead of
// failing the write.
func TestAWordTooLongToQualifyIsStillAProduct(t *testing.T) {
	s := NewService(testenv.DB(t))
	p, err := s.Create(t.Context(), ProductInput{SKU: "LONG-1", Name: "Vellichor Scroll", Brand: "Acme", Category: "Books",
		Description: strings.Repeat("a", 2045), Price: 1000, Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Search(t.Context(), Filter{Q: "vellichor", Category: "books"})
	if err != nil || len(got.Items) != 1 || got.Items[0].ID != p.ID {
		t.Fatalf("search within its category: %+v, %v", got, err)
	}
}

// TestProductWritesLeaveNoPendingSearchEntries: the full-text indexes take
// each product write at once (migration 00012). With GIN's pending list, new
// and changed products would wait in a list that every keyword search reads
// in full until something merges it.
func TestProductWritesLeaveNoPendingSearchEntries(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	if _, err := pool.Exec(t.Context(), "CREATE EXTENSION IF NOT EXISTS pgstattuple"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p, err := s.Create(t.Context(), ProductInput{SKU: fmt.Sprintf("LAST-%d", i), Name: fmt.Sprintf("Quillon Kettle %d", i),
			Brand: "Acme", Category: "Kitchen", Description: "Boils water.", Price: 1000, Stock: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Selling out flips products.in_stock: a new row version in every index.
		if _, err := s.Adjust(t.Context(), p.ID, Adjustment{Delta: -1, Reason: "sold"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(t.Context(), `SELECT c.relname::text, (pgstatginindex(c.oid)).pending_tuples
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = 'products'::regclass AND a.amname = 'gin'`)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Index   string
		Pending int64
	}])
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) < 2 {
		t.Fatalf("want the full-text and title GIN indexes, found %v", pending)
	}
	for _, p := range pending {
		if p.Pending != 0 {
			t.Errorf("%s holds %d pending entries", p.Index, p.Pending)
		}
	}
}

// TestSearchDocsFollowProductsUnderConcurrency runs 200 goroutines at once
// against 60 products in two categories: creating products, rewriting their
// words and moving them to the other category, repricing them, selling their
// stock out and back, deleting them, and inserting a product with its stock
// in one statement that may also create its category (as the checkout bench
// does: the stock's trigger flips in_stock before the product's insert
// trigger runs). Each product meets several kinds of write. Then search_docs
// holds one row per product, equal to what its triggers make of the product,
// and the counts read from it agree with products.
func TestSearchDocsFollowProductsUnderConcurrency(t *testing.T) {
	pool := testenv.DB(t)
	s := NewService(pool)
	ctx := t.Context()
	categories := []string{"Curios", "Books"}
	in := func(i int, category, words string) ProductInput {
		return ProductInput{SKU: fmt.Sprintf("DOC-%03d", i), Name: "Tiltwhistle " + words, Brand: "Doc Works",
			Category: category, Description: "A " + words + " for tests.", Price: int64(1000 + i), Stock: 1}
	}
	ids := make([]int64, 60)
	for i := range ids {
		p, err := s.Create(ctx, in(i, categories[i%2], "lamp"))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = p.ID
	}
	const n = 200
	var wg sync.WaitGroup
	var shelved atomic.Int64 // products the one-statement inserts made
	failed := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			k := i % 37 // 37 and 6 are coprime: a product meets every kind of write
			var err error
			switch i % 6 {
			case 0:
				_, err = s.Create(ctx, in(100+i, "Curios", "kettle"))
			case 1:
				_, err = s.Update(ctx, ids[k], in(k, categories[(k+1)%2], "kettle lantern"))
			case 2:
				_, err = pool.Exec(ctx, `UPDATE products SET price = price + 1 WHERE id = $1`, ids[k])
			case 3: // sold out and back: in_stock flips twice
				if _, err = s.Adjust(ctx, ids[k], Adjustment{Delta: -1, Reason: "test"}); err == nil {
					_, err = s.Adjust(ctx, ids[k], Adjustment{Delta: 1, Reason: "test"})
				}
			case 4:
				if i%4 == 0 { // the stock row first, as checkout and Adjust lock them
					err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						if _, err := tx.Exec(ctx, `SELECT FROM product_stock WHERE product_id = $1 FOR UPDATE`, ids[k]); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, `DELETE FROM products WHERE id = $1`, ids[k])
						return err
					})
				} else {
					_, err = s.Adjust(ctx, ids[k], Adjustment{Delta: -1, Reason: "test"})
				}
			case 5:
				var tag pgconn.CommandTag
				tag, err = pool.Exec(ctx, `WITH c AS (INSERT INTO categories (slug, name) VALUES ($1, $1)
						ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id),
					p AS (INSERT INTO products (sku, name, brand, category_id, price)
						SELECT $2, 'Tiltwhistle kettle', 'Doc Works', c.id, 2000 FROM c RETURNING id)
					INSERT INTO product_stock (product_id, stock, opening_stock) SELECT id, 3, 3 FROM p`,
					fmt.Sprintf("shelf-%d", i%3), fmt.Sprintf("SHELF-%03d", i))
				if isUniqueViolation(err) { // two new categories of one name: ON CONFLICT arbitrates the slug only
					err = nil
				}
				shelved.Add(tag.RowsAffected())
			}
			if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Conflict) { // deleted or sold out meanwhile
				err = nil
			}
			failed <- err
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		if err != nil {
			t.Fatal(err)
		}
	}
	var products, docs, drift int64
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM search_docs),
		(SELECT count(*) FROM products p FULL JOIN search_docs d ON d.id = p.id
		 WHERE (p.category_id, p.price, p.in_stock, search_doc(p.search, p.brand)) IS DISTINCT FROM (d.category_id, d.price, d.in_stock, d.doc))`).
		Scan(&products, &docs, &drift)
	if err != nil {
		t.Fatal(err)
	}
	if products != docs || drift != 0 {
		t.Fatalf("%d products, %d rows in search_docs, %d of them differ", products, docs, drift)
	}
	var moved, soldOut, shelvedInStock int64
	err = pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE name LIKE '%lantern%'), count(*) FILTER (WHERE NOT in_stock),
		count(*) FILTER (WHERE sku LIKE 'SHELF-%' AND in_stock) FROM products`).Scan(&moved, &soldOut, &shelvedInStock)
	if err != nil {
		t.Fatal(err)
	}
	if moved == 0 || soldOut == 0 || products >= 60+n/6*2 || shelved.Load() == 0 || shelvedInStock != shelved.Load() {
		t.Fatalf("the writes did not all happen: %d products, %d moved, %d sold out, %d of %d shelved in stock",
			products, moved, soldOut, shelvedInStock, shelved.Load())
	}
	counted := false
	s.observe = func(sql string, _ []any) {
		counted = counted || strings.HasPrefix(sql, "-- name: CountKeywordMatches ")
	}
	filters := []Filter{{Q: "tiltwhistle"}, {Q: "kettle"}, {Q: "tiltwhistle lamp", Category: "curios"}, {Q: "tiltwhistle", Category: "books"},
		{Q: "tiltwhistle", InStock: true}, {Q: "kettle", Brand: "Doc Works", MinPrice: ptr[int64](1100)}, {Q: "kettle", Category: "shelf-1"}}
	for _, f := range filters {
		counted = false
		p, err := s.Search(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		want := plainCount(t, pool, f)
		if p.Total != want {
			t.Errorf("%+v counts %d, products hold %d", f, p.Total, want)
		}
		if counted != (want > PageSize) { // a first page that is the whole result is its own count
			t.Errorf("%+v: %d matches, counted in search_docs: %v", f, want, counted)
		}
	}
}

// plainCount counts a filter's matches in products with a plain query.
func plainCount(t *testing.T, pool *pgxpool.Pool, f Filter) int64 {
	t.Helper()
	var n int64
	err := pool.QueryRow(t.Context(), `SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id
		WHERE p.search @@ to_tsquery('english', $1) AND ($2 = '' OR c.slug = $2) AND ($3 = '' OR p.brand = $3)
		  AND p.price >= $4 AND (NOT $5 OR p.in_stock)`,
		strings.Join(words(f.Q), " & "), f.Category, f.Brand, cmp.Or(f.MinPrice, ptr[int64](0)), f.InStock).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
