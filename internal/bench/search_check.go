package bench

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"market/internal/catalog"
	"market/internal/search"
)

// searchItem is a result as the JSON answer shows it.
type searchItem = catalog.Item

// searchPage is one answered page.
type searchPage struct {
	items  []searchItem
	next   string // next_cursor ("" on the last page); the naive baseline's next offset
	total  string // as answered: "123", or "1000+" when capped
	status int    // the HTTP status (200 for the naive baseline)
	fault  string // not an answer (a status other than 200), or a break of the JSON contract
	took   time.Duration
}

// searchWalk is one query and the pages its shopper saw, in order.
type searchWalk struct {
	phase string // when it was sent: "warm-up", "8 in flight", "naive"…
	query searchQuery
	pages []searchPage
}

// wrongAnswer is one walk whose answer the checker refused, at its first fault.
type wrongAnswer struct {
	phase  string
	query  searchQuery
	page   int  // 1-based
	failed bool // no answer: a status other than 200
	what   string
}

func (w wrongAnswer) String() string {
	return fmt.Sprintf("%s [%s; %s], page %d: %s", w.query, w.query.class, w.phase, w.page, w.what)
}

// minCap is the lowest cap a capped total may name (the contract: "N+", N ≥ 1,000).
const minCap = 1000

// checker knows the right answer to every search from the catalogue.
//
// The shop's answers are held to the search's rule (internal/catalog/search.go, as
// internal/catalog implements it): a keyword is full-text over name, brand
// and description, every word's stems ANDed, the last word's stems as
// prefixes; relevance puts first the products whose name or brand holds
// every word, then the rest, each by popularity (then id, descending).
// Every answer must be exactly the search's: the page holds the next items
// of the whole ordered result, none skipped, repeated or out of order, every
// item honours the filters and the words, next_cursor is empty exactly on
// the last page, and total is the exact number of matches or "N+" with
// 1,000 ≤ N ≤ the number of matches.
//
// The naive baseline's keyword is ILIKE '%word%' on name, brand or
// description, which differs from full text (no stems, substrings match),
// so its keyword answers are held only to its own rule item by item (and to
// order, duplicates and a consistent total); its answers without a keyword
// must be exactly the shop's.
type checker struct {
	cat          *catalogue
	stems        map[string][]string
	descriptions map[int64]string // for the naive rule: the descriptions of the products it answered
	pageSize     int
}

// check checks every walk; naive selects the naive baseline's keyword rule.
func (ch *checker) check(walks []searchWalk, naive bool) []wrongAnswer {
	groups := map[string][]searchWalk{}
	var keys []string
	for _, w := range walks {
		k := w.query.key()
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], w)
	}
	var mu sync.Mutex
	var wrong []wrongAnswer
	next := make(chan string)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for k := range next {
				found := ch.checkGroup(groups[k], naive)
				mu.Lock()
				wrong = append(wrong, found...)
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	slices.SortFunc(wrong, func(a, b wrongAnswer) int { return cmp.Compare(a.String(), b.String()) })
	return wrong
}

// resolved is one query resolved against the catalogue.
type resolved struct {
	q       searchQuery
	words   []string
	order   string
	filters func(i uint32) bool // category, brand, price bounds, in stock
	match   func(i uint32) bool // the keyword (nil: none)
	tier    func(i uint32) int  // relevance: 1 the name or brand holds the words, 2 not
	matches bitset              // full text: the products that hold the words (nil: any)
	rule    string              // the keyword rule, for messages
	exact   bool                // the whole ordered result is known
	// when exact: the first items of the result in order, and how many match
	first []uint32
	total int
}

func (ch *checker) resolve(q searchQuery, naive bool, depth int) resolved {
	c := ch.cat
	s := resolved{q: q, words: searchWords(q.q), exact: true}
	s.order = q.effectiveSort(len(s.words) > 0)
	category, hasCategory := c.categoryIndex[q.category]
	brand, hasBrand := c.brandIndex[q.brand]
	s.filters = func(i uint32) bool {
		switch {
		case q.category != "" && (!hasCategory || c.category[i] != category),
			q.brand != "" && (!hasBrand || c.brand[i] != brand),
			q.minPrice >= 0 && c.price[i] < q.minPrice,
			q.maxPrice >= 0 && c.price[i] > q.maxPrice,
			q.inStock && c.stock[i] <= 0:
			return false
		}
		return true
	}
	switch {
	case q.q == "":
	case naive:
		s.exact, s.rule = false, "ILIKE '%word%' on name, brand or description, every word"
		holds := func(i uint32, fields ...string) bool {
			for _, w := range s.words {
				if !slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), w) }) {
					return false
				}
			}
			return true
		}
		s.match = func(i uint32) bool { return holds(i, c.name(i), c.brands[c.brand[i]], ch.descriptions[c.ids[i]]) }
		s.tier = func(i uint32) int {
			if holds(i, c.name(i), c.brands[c.brand[i]]) {
				return 1
			}
			return 2
		}
	default:
		terms := keywordTerms(s.words, ch.stems)
		var desc []string
		for _, t := range terms {
			desc = append(desc, t.lexeme+map[bool]string{true: ":*", false: ""}[t.prefix])
		}
		s.rule = "full text " + strings.Join(desc, " & ")
		m := c.match(terms)
		s.matches, s.match = m.products, m.products.has
		s.tier = func(i uint32) int {
			if c.inTitle(m, i) {
				return 1
			}
			return 2
		}
	}
	if s.exact {
		s.first, s.total = ch.expect(s, depth)
	}
	return s
}

// compare orders two products as the search's order does.
func (ch *checker) compare(s resolved, a, b uint32) int {
	c := ch.cat
	switch s.order {
	case string(search.SortPriceAsc):
		return cmpKeys(c.price[a], c.price[b], a, b)
	case string(search.SortPriceDesc):
		return cmpKeys(c.price[b], c.price[a], b, a)
	case string(search.SortNewest):
		return cmpKeys(c.created[b], c.created[a], b, a)
	case string(search.SortRelevance):
		if t := cmp.Compare(s.tier(a), s.tier(b)); t != 0 {
			return t
		}
	}
	return cmpKeys(c.popularity[b], c.popularity[a], b, a)
}

// expect finds every match, and the first depth of them in order: by
// sorting them when they are few, else by walking the catalogue in the
// order (relevance: twice, once per tier).
func (ch *checker) expect(s resolved, depth int) ([]uint32, int) {
	c := ch.cat
	keep := func(i uint32) bool { return s.filters(i) && (s.match == nil || s.match(i)) }
	var all []uint32
	if s.matches != nil {
		s.matches.each(func(i uint32) {
			if s.filters(i) {
				all = append(all, i)
			}
		})
	} else {
		for i := range uint32(c.size()) {
			if keep(i) {
				all = append(all, i)
			}
		}
	}
	if len(all) <= 50_000 || len(all) <= 4*depth {
		slices.SortFunc(all, func(a, b uint32) int { return ch.compare(s, a, b) })
		return all[:min(depth, len(all))], len(all)
	}
	var first []uint32
	walk := func(order []uint32, backwards bool, tier int) {
		for k := range order {
			if len(first) == depth {
				return
			}
			i := order[k]
			if backwards {
				i = order[len(order)-1-k]
			}
			if keep(i) && (tier == 0 || s.tier(i) == tier) {
				first = append(first, i)
			}
		}
	}
	switch s.order {
	case string(search.SortPriceAsc):
		walk(c.byPrice, false, 0)
	case string(search.SortPriceDesc):
		walk(c.byPrice, true, 0)
	case string(search.SortNewest):
		walk(c.byNewest, false, 0)
	case string(search.SortRelevance):
		walk(c.byPopularity, false, 1)
		walk(c.byPopularity, false, 2)
	default:
		walk(c.byPopularity, false, 0)
	}
	return first, len(all)
}

func (ch *checker) checkGroup(walks []searchWalk, naive bool) []wrongAnswer {
	depth := 0
	for _, w := range walks {
		depth = max(depth, len(w.pages)*ch.pageSize)
	}
	s := ch.resolve(walks[0].query, naive, depth+1)
	var wrong []wrongAnswer
	for _, w := range walks {
		if what, page := ch.checkWalk(s, w); what != "" {
			wrong = append(wrong, wrongAnswer{phase: w.phase, query: w.query, page: page, what: what, failed: w.pages[page-1].status != 200})
		}
	}
	return wrong
}

// checkWalk returns the first fault of a walk and its page.
func (ch *checker) checkWalk(s resolved, w searchWalk) (string, int) {
	c := ch.cat
	seen := map[int64]int{} // id → page
	var prev uint32
	pos := 0
	for p, pg := range w.pages {
		fail := func(format string, args ...any) (string, int) { return fmt.Sprintf(format, args...), p + 1 }
		if pg.fault != "" {
			return fail("%s", pg.fault)
		}
		for k, it := range pg.items {
			i, ok := c.index(it.ID)
			if !ok {
				return fail("item %d is no product of the catalogue", it.ID)
			}
			if what := ch.fieldsDiffer(i, it); what != "" {
				return fail("item %d: %s", it.ID, what)
			}
			switch {
			case s.q.category != "" && it.Category != s.q.category:
				return fail("item %d is in category %q, the filter asks for %q", it.ID, it.Category, s.q.category)
			case s.q.brand != "" && it.Brand != s.q.brand:
				return fail("item %d is of brand %q, the filter asks for %q", it.ID, it.Brand, s.q.brand)
			case s.q.minPrice >= 0 && it.Price < s.q.minPrice, s.q.maxPrice >= 0 && it.Price > s.q.maxPrice:
				return fail("item %d costs %d, outside the price range %d–%d", it.ID, it.Price, s.q.minPrice, s.q.maxPrice)
			case s.q.inStock && it.Stock <= 0:
				return fail("item %d is out of stock (%d), the filter asks for in-stock products", it.ID, it.Stock)
			case s.match != nil && !s.match(i):
				return fail("item %d %q does not hold the words (%s)", it.ID, it.Name, s.rule)
			}
			if first, dup := seen[it.ID]; dup {
				return fail("item %d is answered twice (pages %d and %d)", it.ID, first, p+1)
			}
			seen[it.ID] = p + 1
			if pos+k > 0 && ch.compare(s, prev, i) >= 0 {
				return fail("item %d (%s) comes after item %d (%s), against the order %s", it.ID, ch.describe(s, i), c.ids[prev], ch.describe(s, prev), s.order)
			}
			prev = i
		}
		if s.exact {
			want := s.first[min(pos, len(s.first)):min(pos+ch.pageSize, len(s.first))]
			if what := ch.differs(s, want, pg.items); what != "" {
				return fail("%s", what)
			}
		}
		pos += len(pg.items)
		if s.exact {
			switch more := s.total - pos; {
			case more > 0 && pg.next == "":
				return fail("next_cursor is empty, but %d more products match", more)
			case more <= 0 && pg.next != "":
				return fail("next_cursor is set on the last page (%d products match, all shown)", s.total)
			}
		}
		if what := checkTotal(pg.total, pos, pg.next == "", s); what != "" {
			return fail("%s", what)
		}
	}
	return "", 0
}

// differs compares a page with the items the search should have answered.
func (ch *checker) differs(s resolved, want []uint32, got []searchItem) string {
	c := ch.cat
	for k := range max(len(want), len(got)) {
		switch {
		case k >= len(got):
			return fmt.Sprintf("the page ends after %d items, but product %d (%s) matches and comes next", len(got), c.ids[want[k]], ch.describe(s, want[k]))
		case k >= len(want):
			return fmt.Sprintf("the page has %d items, the search only %d", len(got), len(want))
		case got[k].ID != c.ids[want[k]]:
			i, _ := c.index(got[k].ID)
			return fmt.Sprintf("item %d is %d (%s), but product %d (%s) matches and comes first: a match was skipped", k+1,
				got[k].ID, ch.describe(s, i), c.ids[want[k]], ch.describe(s, want[k]))
		}
	}
	return ""
}

// describe shows a product's place in the order.
func (ch *checker) describe(s resolved, i uint32) string {
	c := ch.cat
	switch s.order {
	case string(search.SortPriceAsc), string(search.SortPriceDesc):
		return fmt.Sprintf("price %d", c.price[i])
	case string(search.SortNewest):
		return fmt.Sprintf("created_at %d µs", c.created[i])
	case string(search.SortRelevance):
		return fmt.Sprintf("tier %d, popularity %d", s.tier(i), c.popularity[i])
	}
	return fmt.Sprintf("popularity %d", c.popularity[i])
}

// fieldsDiffer compares an item with the catalogue's product.
func (ch *checker) fieldsDiffer(i uint32, it searchItem) string {
	c := ch.cat
	for _, f := range []struct{ name, got, want string }{
		{"name", it.Name, c.name(i)},
		{"brand", it.Brand, c.brands[c.brand[i]]},
		{"category", it.Category, c.categories[c.category[i]]},
		{"price", strconv.FormatInt(it.Price, 10), strconv.FormatInt(c.price[i], 10)},
		{"stock", strconv.FormatInt(it.Stock, 10), strconv.FormatInt(c.stock[i], 10)},
	} {
		if f.got != f.want {
			return fmt.Sprintf("the answer's %s is %q, the product's %q", f.name, f.got, f.want)
		}
	}
	return ""
}

// checkTotal: an exact number, or "N+" with N ≥ 1,000; never fewer than
// the items seen, exactly them on the last page; and, when the result is
// known, the number of matches or a lower bound of it.
func checkTotal(total string, seen int, last bool, s resolved) string {
	if n, ok := strings.CutSuffix(total, "+"); ok {
		capped, err := strconv.Atoi(n)
		switch {
		case err != nil || capped < minCap:
			return fmt.Sprintf("total %q: a capped total must be \"N+\" with N ≥ %d", total, minCap)
		case s.exact && s.total < capped:
			return fmt.Sprintf("total %q, but only %d products match", total, s.total)
		case last && seen < capped:
			return fmt.Sprintf("total %q on the last page, after %d items", total, seen)
		}
		return ""
	}
	n, err := strconv.Atoi(total)
	switch {
	case err != nil || n < 0:
		return fmt.Sprintf("total %q is neither a number nor \"N+\"", total)
	case s.exact && n != s.total:
		return fmt.Sprintf("total %d, but %d products match", n, s.total)
	case n < seen:
		return fmt.Sprintf("total %d, but %d items were answered", n, seen)
	case last && n != seen:
		return fmt.Sprintf("total %d on the last page, after %d items", n, seen)
	}
	return ""
}
