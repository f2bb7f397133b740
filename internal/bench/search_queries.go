package bench

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/catalog"
	"market/internal/search"
)

// searchQuery is one search as a shopper sends it, with the shape class it
// was drawn for and how many pages the shopper follows.
type searchQuery struct {
	class    string
	q        string
	category string
	brand    string
	minPrice int64 // -1: no bound
	maxPrice int64 // -1: no bound
	inStock  bool
	sort     string // "": the search's default
	pages    int
}

// values are the query's parameters as GET /products takes them.
func (q searchQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("q", q.q)
	set("category", q.category)
	set("brand", q.brand)
	if q.minPrice >= 0 {
		v.Set("min_price", strconv.FormatInt(q.minPrice, 10))
	}
	if q.maxPrice >= 0 {
		v.Set("max_price", strconv.FormatInt(q.maxPrice, 10))
	}
	if q.inStock {
		v.Set("in_stock", "1")
	}
	set("sort", q.sort)
	return v
}

// key names the search without its paging: searches with one key have one answer.
func (q searchQuery) key() string { return q.values().Encode() }

// effectiveSort is the order the search serves (internal/catalog/search.go): relevance by
// default with a keyword, popular without one.
func (q searchQuery) effectiveSort(hasWords bool) string {
	switch {
	case (q.sort == "" || q.sort == string(search.SortRelevance)) && hasWords:
		return string(search.SortRelevance)
	case q.sort == "" || q.sort == string(search.SortRelevance):
		return string(search.SortPopular)
	}
	return q.sort
}

// The shape classes, in report order. Every word comes from the catalogue:
// a common word is held by at least 1 % of the products, a rare one by at
// most rareAt; a prefix is the first 2–4 letters of a word of a product's
// name; two words are two different words of one product's name, in either
// order (the seeded names are brand, series, noun, number and colour, so
// the pairs are brand + colour, noun + colour, brand + noun and the like).
// "+ filters" adds, around the product the words came from, any of its
// category, its brand, a price range around its price and in_stock, and any
// of the five orders (at least one filter or an order other than the
// default). Deep paging follows next_cursor 5–20 pages down one of the
// other shapes (rare words excepted: they have no second page).
const (
	classWord          = "common word"
	classWordFiltered  = "common word + filters"
	classRare          = "rare word"
	classRareFiltered  = "rare word + filters"
	classPrefix        = "prefix"
	classPrefixFilter  = "prefix + filters"
	classTwo           = "two words"
	classTwoFiltered   = "two words + filters"
	classCategoryPrice = "category + price range"
	classCategoryNew   = "category + newest"
	classBrand         = "brand"
	classDeep          = "deep paging"
)

var searchClasses = []string{classWord, classWordFiltered, classRare, classRareFiltered, classPrefix, classPrefixFilter,
	classTwo, classTwoFiltered, classCategoryPrice, classCategoryNew, classBrand, classDeep}

// rareAt is the most products a rare word is found in.
const rareAt = 5

var searchSorts = []string{"", string(search.SortPriceAsc), string(search.SortPriceDesc), string(search.SortNewest), string(search.SortPopular)}

// vocabulary is what the query streams draw from, built from the catalogue
// alone, so that one catalogue and one seed give the same queries.
type vocabulary struct {
	cat    *catalogue
	stems  map[string][]string // every word and prefix the streams may send, with its stems
	common []string            // words of names, brands and descriptions held by ≥ 1 % of products
	rare   []string            // words of names and brands held by 1…rareAt products
	holder map[string][]uint32 // the products that hold a rare word
}

// buildVocabulary reads the words of every name and brand, and of the
// descriptions of every hundredth-or-so product, and asks PostgreSQL for
// their stems (to_tsvector 'english', as the search does).
func buildVocabulary(ctx context.Context, pool *pgxpool.Pool, c *catalogue) (*vocabulary, error) {
	words := map[string]bool{} // words of names and brands
	for i := range c.size() {
		for _, w := range searchWords(c.name(uint32(i))) {
			words[w] = true
		}
	}
	for _, b := range c.brands {
		for _, w := range searchWords(b) {
			words[w] = true
		}
	}
	described, err := describedWords(ctx, pool, c)
	if err != nil {
		return nil, err
	}
	ask := map[string]bool{}
	for w := range words {
		ask[w] = true
		for n := 2; n <= 4 && n < utf8.RuneCountInString(w); n++ {
			ask[prefixOf(w, n)] = true
		}
	}
	for w := range described {
		ask[w] = true
	}
	all := slices.Sorted(maps.Keys(ask))
	v := &vocabulary{cat: c, stems: map[string][]string{}, holder: map[string][]uint32{}}
	if err := v.readStems(ctx, pool, all); err != nil {
		return nil, err
	}
	commonAt := max(2, c.size()/100)
	for _, w := range all {
		if !v.typeable(w) || (!words[w] && !described[w]) {
			continue
		}
		exact := make([]term, 0, 1)
		for _, s := range v.stems[w] {
			exact = append(exact, term{lexeme: s})
		}
		switch n := c.heldBy(exact); {
		case n >= commonAt:
			v.common = append(v.common, w)
		case n >= 1 && n <= rareAt && words[w]:
			v.rare = append(v.rare, w)
			m := c.match(exact)
			m.products.each(func(i uint32) { v.holder[w] = append(v.holder[w], i) })
		}
	}
	return v, nil
}

// describedWords are the words of a sample of about 2,000 descriptions,
// spread evenly over the catalogue.
func describedWords(ctx context.Context, pool *pgxpool.Pool, c *catalogue) (map[string]bool, error) {
	step := max(1, c.size()/2000)
	var sample []int64
	for i := 0; i < c.size(); i += step {
		sample = append(sample, c.ids[i])
	}
	rows, err := pool.Query(ctx, "SELECT description FROM products WHERE id = ANY($1)", sample)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	described := map[string]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		for _, w := range searchWords(d) {
			described[w] = true
		}
	}
	return described, rows.Err()
}

// readStems asks PostgreSQL for the stems of each word, as the search's
// english configuration makes them (none for a stop word).
func (v *vocabulary) readStems(ctx context.Context, pool *pgxpool.Pool, words []string) error {
	rows, err := pool.Query(ctx, `SELECT w, array_to_string(tsvector_to_array(to_tsvector('english', w)), chr(31))
		FROM unnest($1::text[]) AS w`, words)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var w, s string
		if err := rows.Scan(&w, &s); err != nil {
			return err
		}
		if s != "" {
			v.stems[w] = strings.Split(s, lexemeSeparator)
		}
	}
	return rows.Err()
}

// typeable: a word a shopper would type as a word: two or more characters,
// not only digits, not a stop word.
func (v *vocabulary) typeable(w string) bool {
	if len(v.stems[w]) == 0 || utf8.RuneCountInString(w) < 2 {
		return false
	}
	return strings.ContainsFunc(w, func(r rune) bool { return r < '0' || r > '9' })
}

// queryStream is one in-flight worker's endless run of queries.
type queryStream struct {
	v       *vocabulary
	rng     *rand.Rand
	classes []string
}

// newStream: the stream is fixed by the seed, the phase and the worker.
func (v *vocabulary) newStream(seed uint64, phase string, worker int, classes []string) *queryStream {
	h := uint64(14695981039346656037)
	for _, b := range []byte(phase) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return &queryStream{v: v, rng: rand.New(rand.NewPCG(seed, h+uint64(worker))), classes: classes}
}

func (s *queryStream) next() searchQuery {
	for {
		class := s.classes[s.rng.IntN(len(s.classes))]
		if class == classDeep && len(s.classes) > 1 && s.rng.IntN(25) >= 2 {
			// A deep walk is 12.5 searches on average: drawn 2 times in 25,
			// it sends about as many searches as each other class.
			continue
		}
		if q, ok := s.draw(class); ok {
			return q
		}
	}
}

// draw makes one query of the class; false when the catalogue has nothing
// to make it from this time (the caller draws again).
func (s *queryStream) draw(class string) (searchQuery, bool) {
	c, r := s.v.cat, s.rng
	q := searchQuery{class: class, minPrice: -1, maxPrice: -1, pages: 1}
	product := uint32(r.IntN(c.size()))
	switch class {
	case classCategoryPrice:
		q.category = c.categories[c.category[product]]
		q.minPrice, q.maxPrice = s.priceRange(product)
		q.sort = searchSorts[r.IntN(len(searchSorts))]
		return q, true
	case classCategoryNew:
		q.category, q.sort = c.categories[c.category[product]], string(search.SortNewest)
		return q, true
	case classBrand:
		q.brand = c.brands[c.brand[product]]
		q.inStock = r.IntN(2) == 0
		q.sort = searchSorts[r.IntN(len(searchSorts))]
		return q, true
	case classDeep:
		bases := []string{classWordFiltered, classPrefixFilter, classTwoFiltered, classCategoryPrice, classCategoryNew, classBrand}
		q, ok := s.draw(bases[r.IntN(len(bases))])
		q.class, q.pages = classDeep, 5+r.IntN(16)
		return q, ok
	}
	var ok bool
	if q.q, product, ok = s.keyword(class, product); !ok {
		return q, false
	}
	switch class {
	case classWordFiltered, classRareFiltered, classPrefixFilter, classTwoFiltered:
		// At least one filter or order, each from the product the words came from.
		for q.category == "" && q.brand == "" && q.minPrice < 0 && !q.inStock && q.sort == "" {
			if r.IntN(2) == 0 {
				q.category = c.categories[c.category[product]]
			}
			if r.IntN(2) == 0 {
				q.brand = c.brands[c.brand[product]]
			}
			if r.IntN(2) == 0 {
				q.minPrice, q.maxPrice = s.priceRange(product)
			}
			q.inStock = r.IntN(2) == 0
			q.sort = searchSorts[r.IntN(len(searchSorts))]
		}
	}
	return q, true
}

// keyword draws the words of a keyword class and the product they were
// taken from (product, drawn at random, where the class takes words from a
// product's name); ok is false when this draw gives none.
func (s *queryStream) keyword(class string, product uint32) (q string, from uint32, ok bool) {
	r := s.rng
	switch class {
	case classWord, classWordFiltered:
		if len(s.v.common) == 0 {
			return "", 0, false
		}
		w := s.v.common[r.IntN(len(s.v.common))]
		p, ok := s.holderOf(w)
		return w, p, ok
	case classRare, classRareFiltered:
		if len(s.v.rare) == 0 {
			return "", 0, false
		}
		w := s.v.rare[r.IntN(len(s.v.rare))]
		h := s.v.holder[w]
		return w, h[r.IntN(len(h))], true
	case classPrefix, classPrefixFilter:
		words := s.nameWords(product, 3)
		if len(words) == 0 {
			return "", 0, false
		}
		w := words[r.IntN(len(words))]
		q = prefixOf(w, 2+r.IntN(min(3, utf8.RuneCountInString(w)-2)))
		// A stop word ("on", "the") is none: the search answers that it is too common.
		return q, product, len(s.v.stems[q]) > 0
	case classTwo, classTwoFiltered:
		words := s.nameWords(product, 2)
		if len(words) < 2 {
			return "", 0, false
		}
		a := r.IntN(len(words))
		b := (a + 1 + r.IntN(len(words)-1)) % len(words)
		if slices.Equal(s.v.stems[words[a]], s.v.stems[words[b]]) {
			return "", 0, false
		}
		return words[a] + " " + words[b], product, true
	}
	return "", 0, false
}

// holderOf picks a product that holds the word.
func (s *queryStream) holderOf(w string) (uint32, bool) {
	c := s.v.cat
	var terms []term
	for _, st := range s.v.stems[w] {
		terms = append(terms, term{lexeme: st})
	}
	l, ok := c.lexemeIndex[terms[0].lexeme]
	if !ok || len(c.postings[l]) == 0 {
		return 0, false
	}
	for range 20 {
		p := c.postings[l][s.rng.IntN(len(c.postings[l]))]
		if len(terms) == 1 {
			return p, true
		}
		if c.holdsAll(p, terms[1:]) {
			return p, true
		}
	}
	return 0, false
}

// prefixOf is the first n characters of w.
func prefixOf(w string, n int) string {
	for i := range w {
		if n == 0 {
			return w[:i]
		}
		n--
	}
	return w
}

// nameWords are the typeable words of a product's name at least minLen characters long.
func (s *queryStream) nameWords(p uint32, minLen int) []string {
	var out []string
	for _, w := range searchWords(s.v.cat.name(p)) {
		if utf8.RuneCountInString(w) >= minLen && s.v.typeable(w) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// priceRange is a range around the product's price, in whole hundreds of won.
func (s *queryStream) priceRange(p uint32) (int64, int64) {
	price := float64(s.v.cat.price[p])
	lo := int64(price*(0.5+0.45*s.rng.Float64())) / 100 * 100
	hi := (int64(price*(1.05+0.95*s.rng.Float64()))/100 + 1) * 100
	return lo, min(hi, catalog.MaxPrice)
}

func (q searchQuery) String() string {
	s := "/products?" + q.values().Encode()
	if q.pages > 1 {
		s += fmt.Sprintf(" (%d pages)", q.pages)
	}
	return s
}
