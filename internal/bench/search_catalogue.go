package bench

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// catalogue is the search bench's own copy of what search reads: every
// product's filters, sort keys and words, taken once from the base columns
// (name, brand, description, category, price, popularity, created_at and
// product_stock), never from search's own structures. From it the bench
// knows the right answer to every search it sends, so it can tell a fast
// answer from a right one. Everything is held in flat slices without
// pointers, so that a million products cost the garbage collector nothing
// while the bench measures beside the server in one process.
type catalogue struct {
	ids        []int64 // ascending: a product's index is its place here
	category   []uint16
	brand      []uint32
	price      []int64
	popularity []int64
	created    []int64 // µs since the epoch, as PostgreSQL stores it
	stock      []int64
	names      []byte
	nameEnd    []uint32 // product i's name is names[nameEnd[i-1]:nameEnd[i]]

	categories    []string // slugs
	categoryIndex map[string]uint16
	brands        []string
	brandIndex    map[string]uint32

	// lexemes are the full-text words of the catalogue (to_tsvector
	// 'english'); postings[l] lists the products whose name, brand or
	// description holds lexeme l, ascending; titles holds each product's
	// name and brand lexemes (relevance ranks those first).
	lexemes     []string
	lexemeIndex map[string]uint32
	byLexeme    []uint32 // lexeme ids in byte order of the lexeme: a prefix is a range
	postings    [][]uint32
	titles      []uint32
	titleEnd    []uint32

	// The products in each order the search offers, ties broken by id as
	// the search does (keyset on the sort key, then id: internal/search).
	byPrice      []uint32 // price, id ascending (price_desc walks it backwards)
	byPopularity []uint32 // popularity, id descending
	byNewest     []uint32 // created_at, id descending

	fingerprint string
}

// lexemeSeparator joins a product's lexemes on the wire: a control
// character, which no stored text holds (package text refuses them).
const lexemeSeparator = "\x1f"

// catalogueFingerprint sums what a search answer depends on, so that a run
// can tell whether the catalogue changed under it.
const catalogueFingerprint = `SELECT count(*)::text || '/' || coalesce(sum(p.price), 0)::text || '/' || coalesce(sum(p.popularity), 0)::text
	|| '/' || coalesce(sum(p.category_id), 0)::text || '/' || coalesce(sum(hashtext(p.name || '|' || p.brand || '|' || p.description)::bigint), 0)::text
	|| '/' || coalesce(max(p.created_at)::text, '') || '/' || coalesce(sum(s.stock), 0)::text || '/' || count(*) FILTER (WHERE s.stock > 0)::text
	FROM products p JOIN product_stock s ON s.product_id = p.id`

// loadCatalogue reads every product in one snapshot.
func loadCatalogue(ctx context.Context, pool *pgxpool.Pool) (*catalogue, error) {
	c := &catalogue{categoryIndex: map[string]uint16{}, brandIndex: map[string]uint32{}, lexemeIndex: map[string]uint32{}}
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, catalogueFingerprint).Scan(&c.fingerprint); err != nil {
			return err
		}
		described, err := c.readDescriptions(ctx, tx)
		if err != nil {
			return err
		}
		return c.readProducts(ctx, tx, described)
	})
	if err != nil {
		return nil, fmt.Errorf("read the catalogue: %w", err)
	}
	c.byLexeme = make([]uint32, len(c.lexemes))
	for i := range c.byLexeme {
		c.byLexeme[i] = uint32(i)
	}
	slices.SortFunc(c.byLexeme, func(a, b uint32) int { return strings.Compare(c.lexemes[a], c.lexemes[b]) })
	c.byPrice = c.sorted(func(a, b uint32) int { return cmpKeys(c.price[a], c.price[b], a, b) })
	c.byPopularity = c.sorted(func(a, b uint32) int { return cmpKeys(c.popularity[b], c.popularity[a], b, a) })
	c.byNewest = c.sorted(func(a, b uint32) int { return cmpKeys(c.created[b], c.created[a], b, a) })
	return c, nil
}

// readDescriptions reads the lexemes of every distinct description, by its
// md5. Descriptions repeat (the seeded ones are made from a few phrases):
// each is parsed once, and products name theirs by its digest.
func (c *catalogue) readDescriptions(ctx context.Context, tx pgx.Tx) (map[string][]uint32, error) {
	described := map[string][]uint32{}
	rows, err := tx.Query(ctx, `SELECT decode(md5(d), 'hex'), array_to_string(tsvector_to_array(to_tsvector('english', search_text(d))), chr(31))
		FROM (SELECT DISTINCT description AS d FROM products) x`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		digest []byte
		body   string
	)
	for rows.Next() {
		if err := rows.Scan(&digest, &body); err != nil {
			return nil, err
		}
		var ls []uint32
		for l := range strings.SplitSeq(body, lexemeSeparator) {
			if l != "" {
				ls = append(ls, c.internLexeme(l))
			}
		}
		described[string(digest)] = ls
	}
	return described, rows.Err()
}

// readProducts reads every product, its title's lexemes and (by its
// description's digest) the rest of its words into the postings.
func (c *catalogue) readProducts(ctx context.Context, tx pgx.Tx, described map[string][]uint32) error {
	// The join is the search's: a product without a category or a stock row is never an answer.
	rows, err := tx.Query(ctx, `SELECT p.id, c.slug, p.brand, p.name, p.price, p.popularity, p.created_at, s.stock,
			array_to_string(tsvector_to_array(to_tsvector('english', search_text(p.name)) || to_tsvector('english', search_text(p.brand))), chr(31)),
			decode(md5(p.description), 'hex')
		FROM products p JOIN categories c ON c.id = p.category_id JOIN product_stock s ON s.product_id = p.id
		ORDER BY p.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		id, price, popularity, stock int64
		slug, brand, name, title     string
		created                      time.Time
		digest                       []byte
		held                         []uint32
	)
	for rows.Next() {
		if err := rows.Scan(&id, &slug, &brand, &name, &price, &popularity, &created, &stock, &title, &digest); err != nil {
			return err
		}
		i := uint32(len(c.ids))
		c.ids = append(c.ids, id)
		c.category = append(c.category, c.intern16(slug))
		c.brand = append(c.brand, c.internBrand(brand))
		c.price = append(c.price, price)
		c.popularity = append(c.popularity, popularity)
		c.created = append(c.created, created.UnixMicro())
		c.stock = append(c.stock, stock)
		c.names = append(c.names, name...)
		c.nameEnd = append(c.nameEnd, uint32(len(c.names)))
		start := len(c.titles)
		for l := range strings.SplitSeq(title, lexemeSeparator) {
			if l != "" {
				c.titles = append(c.titles, c.internLexeme(l))
			}
		}
		slices.Sort(c.titles[start:])
		c.titleEnd = append(c.titleEnd, uint32(len(c.titles)))
		held = append(append(held[:0], c.titles[start:]...), described[string(digest)]...)
		slices.Sort(held)
		for _, l := range slices.Compact(held) {
			c.postings[l] = append(c.postings[l], i)
		}
	}
	return rows.Err()
}

// cmpKeys orders by key, then by index (which is id order).
func cmpKeys(ka, kb int64, a, b uint32) int {
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *catalogue) sorted(cmp func(a, b uint32) int) []uint32 {
	out := make([]uint32, len(c.ids))
	for i := range out {
		out[i] = uint32(i)
	}
	slices.SortFunc(out, cmp)
	return out
}

func (c *catalogue) intern16(slug string) uint16 {
	if i, ok := c.categoryIndex[slug]; ok {
		return i
	}
	i := uint16(len(c.categories))
	c.categories = append(c.categories, slug)
	c.categoryIndex[slug] = i
	return i
}

func (c *catalogue) internBrand(b string) uint32 {
	if i, ok := c.brandIndex[b]; ok {
		return i
	}
	i := uint32(len(c.brands))
	c.brands = append(c.brands, b)
	c.brandIndex[b] = i
	return i
}

func (c *catalogue) internLexeme(l string) uint32 {
	if i, ok := c.lexemeIndex[l]; ok {
		return i
	}
	i := uint32(len(c.lexemes))
	l = strings.Clone(l)
	c.lexemes = append(c.lexemes, l)
	c.lexemeIndex[l] = i
	c.postings = append(c.postings, nil)
	return i
}

func (c *catalogue) size() int { return len(c.ids) }

func (c *catalogue) name(i uint32) string {
	start := uint32(0)
	if i > 0 {
		start = c.nameEnd[i-1]
	}
	return string(c.names[start:c.nameEnd[i]])
}

func (c *catalogue) title(i uint32) []uint32 {
	start := uint32(0)
	if i > 0 {
		start = c.titleEnd[i-1]
	}
	return c.titles[start:c.titleEnd[i]]
}

// index finds a product by id.
func (c *catalogue) index(id int64) (uint32, bool) {
	i, ok := slices.BinarySearch(c.ids, id)
	return uint32(i), ok
}

// searchWords splits what a shopper typed as the search does (internal/search, catalog's
// words): lower-case runs of letters and digits, at most eight. The bench keeps
// its own copy of the rule on purpose: a checker that called the code it checks
// could not find that code's mistakes.
func searchWords(q string) []string {
	w := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	return w[:min(len(w), 8)]
}

// term is one operand of a keyword search: a lexeme the product must hold,
// or, for the words of the last word typed, any lexeme that begins with it.
type term struct {
	lexeme string
	prefix bool
}

// terms are what a keyword stands for: each word's stems (to_tsvector
// 'english' of the word alone; a stop word has none), the stems of the last
// word as prefixes.
func keywordTerms(words []string, stems map[string][]string) []term {
	var out []term
	for k, w := range words {
		for _, s := range stems[w] {
			out = append(out, term{lexeme: s, prefix: k == len(words)-1})
		}
	}
	return out
}

// termLexemes are the catalogue's lexemes a term matches.
func (c *catalogue) termLexemes(t term) []uint32 {
	if !t.prefix {
		if l, ok := c.lexemeIndex[t.lexeme]; ok {
			return []uint32{l}
		}
		return nil
	}
	from, _ := slices.BinarySearchFunc(c.byLexeme, t.lexeme, func(l uint32, s string) int { return strings.Compare(c.lexemes[l], s) })
	var out []uint32
	for _, l := range c.byLexeme[from:] {
		if !strings.HasPrefix(c.lexemes[l], t.lexeme) {
			break
		}
		out = append(out, l)
	}
	return out
}

// bitset is a set of products.
type bitset []uint64

func newBitset(n int) bitset       { return make(bitset, (n+63)/64) }
func (b bitset) add(i uint32)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i uint32) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) and(o bitset) {
	for k := range b {
		b[k] &= o[k]
	}
}
func (b bitset) each(f func(i uint32)) {
	for k, w := range b {
		for w != 0 {
			f(uint32(k*64 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

// keywordMatch is the set of products that hold every term, and for each
// term the lexemes it matched (to tell whether a product's name or brand
// holds the words).
type keywordMatch struct {
	products bitset
	lexemes  [][]uint32 // per term, sorted
}

func (c *catalogue) match(terms []term) keywordMatch {
	m := keywordMatch{products: newBitset(c.size())}
	for k, t := range terms {
		ls := c.termLexemes(t)
		slices.Sort(ls)
		m.lexemes = append(m.lexemes, ls)
		held := m.products
		if k > 0 {
			held = newBitset(c.size())
		}
		for _, l := range ls {
			for _, i := range c.postings[l] {
				held.add(i)
			}
		}
		if k > 0 {
			m.products.and(held)
		}
	}
	return m
}

// inTitle says whether product i's name or brand holds every term.
func (c *catalogue) inTitle(m keywordMatch, i uint32) bool {
	title := c.title(i)
	for _, ls := range m.lexemes {
		found := false
		for _, l := range title {
			if _, ok := slices.BinarySearch(ls, l); ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// holdsAll says whether product i holds every (exact) term.
func (c *catalogue) holdsAll(i uint32, terms []term) bool {
	for _, t := range terms {
		l, ok := c.lexemeIndex[t.lexeme]
		if !ok {
			return false
		}
		if _, held := slices.BinarySearch(c.postings[l], i); !held {
			return false
		}
	}
	return true
}

// heldBy counts the products that hold every term.
func (c *catalogue) heldBy(terms []term) int {
	if len(terms) == 1 && !terms[0].prefix {
		if l, ok := c.lexemeIndex[terms[0].lexeme]; ok {
			return len(c.postings[l])
		}
		return 0
	}
	n := 0
	c.match(terms).products.each(func(uint32) { n++ })
	return n
}
