package catalog

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// Sort is a search order (SPEC 5).
type Sort string

const (
	SortRelevance Sort = "relevance"
	SortPriceAsc  Sort = "price_asc"
	SortPriceDesc Sort = "price_desc"
	SortNewest    Sort = "newest"
	SortPopular   Sort = "popular"
)

// Sorts lists the orders a shopper can pick, in menu order.
var Sorts = []Sort{SortRelevance, SortPriceAsc, SortPriceDesc, SortNewest, SortPopular}

const (
	// PageSize is how many results a page shows.
	PageSize = 20
	// CountCap bounds the result count: beyond it the answer is "10000+".
	CountCap = 10_000
	// walkRows is how many rows of the sort key's index a keyword search
	// reads, keeping the matches, before it gives the walk up and starts from
	// the word's matches instead (SearchKeywordExact). A word that matches one
	// product in a hundred fills a page within about 2,100 rows; rarer words
	// have few enough matches to sort them all.
	walkRows = 2_000
	// MaxKeyword is the longest keyword accepted, in characters.
	MaxKeyword = 200
	// maxWords bounds the tsquery a keyword becomes.
	maxWords = 8
	// MaxPrice bounds prices everywhere (a billion won).
	MaxPrice = 1_000_000_000
)

// Filter is a search as the shopper asked for it. Empty fields filter nothing.
type Filter struct {
	Q        string
	Category string // slug
	Brand    string
	MinPrice *int64
	MaxPrice *int64
	InStock  bool
	Sort     Sort   // empty: relevance with a keyword, popular without
	After    string // cursor from a previous page
}

// Page is one page of results.
type Page struct {
	Items      []Item
	NextCursor string // empty on the last page
	Total      int64  // exact unless Capped; then CountCap, a lower bound
	Capped     bool   // more than Total matches
	Sort       Sort   // the order actually used
	Notice     string // why nothing matched, when we know
}

// EffectiveSort is the order a filter is served in: relevance needs a keyword.
func (f Filter) EffectiveSort() Sort {
	switch {
	case f.Sort == "" && len(words(f.Q)) > 0:
		return SortRelevance
	case f.Sort == "", f.Sort == SortRelevance && len(words(f.Q)) == 0:
		return SortPopular
	}
	return f.Sort
}

// Validate checks what a search may ask; bad input is a 4xx, never a 500.
func (f Filter) Validate() error {
	fields := errs.Fields{}
	if err := text.Check(f.Q, KeywordText); err != nil {
		fields.Add("q", err.Error())
	}
	if err := text.Check(f.Category, CategoryFilterText); err != nil {
		fields.Add("category", err.Error())
	}
	if err := text.Check(f.Brand, BrandFilterText); err != nil {
		fields.Add("brand", err.Error())
	}
	for name, p := range map[string]*int64{"min_price": f.MinPrice, "max_price": f.MaxPrice} {
		if p != nil && (*p < 0 || *p > MaxPrice) {
			fields.Add(name, "Enter a price from ₩0 to ₩1,000,000,000.")
		}
	}
	if f.MinPrice != nil && f.MaxPrice != nil && *f.MinPrice > *f.MaxPrice {
		fields.Add("max_price", "The highest price must not be below the lowest.")
	}
	if f.Sort != "" && !validSort(f.Sort) {
		fields.Add("sort", "Choose an order from the list.")
	}
	if err := fields.Err(); err != nil {
		return err
	}
	if f.After != "" {
		if _, err := decodeCursor(f.After, f.EffectiveSort()); err != nil {
			return err
		}
	}
	return nil
}

// Text rules of the search's parameters (package text). The filters take the
// strings the JSON shows, so they need no more than what can be stored.
var (
	KeywordText        = text.Options{Label: "The search words", Max: MaxKeyword}
	CategoryFilterText = text.Options{Label: "The category", Max: maxCat}
	BrandFilterText    = text.Options{Label: "The brand", Max: maxBrand}
)

func validSort(s Sort) bool {
	for _, v := range Sorts {
		if v == s {
			return true
		}
	}
	return false
}

// words are what a search looks for in what a shopper typed: lower-case runs
// of letters and digits (so no tsquery syntax can get through), at most
// maxWords of them. The last one is a prefix, so that "head" finds
// "headphones".
func words(q string) []string {
	w := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	return w[:min(len(w), maxWords)]
}

// keyword is a search's words resolved against search_terms (KeywordTerms).
type keyword struct {
	words []term
	// categories may hold every word; nil when any may (the prefix stands
	// for more lexemes than were read).
	categories []int64
	none       bool // no product holds every word
}

// term is one word of a keyword: any of its lexemes, or, when prefix is set,
// any lexeme that begins with its one stem.
type term struct {
	lexemes []string
	prefix  bool
}

// tsquery writes the keyword as tsquery text, its words ANDed. With a
// category (not 0) each operand names its lexeme within that category, as
// products_match_doc holds it ('#<category id> <lexeme>'); those lexemes
// have no weights, so weights ("AB": name or brand) go only with category 0.
func (kw keyword) tsquery(category int64, weights string) string {
	var within string
	if category != 0 {
		within = "#" + itoa(category) + " "
	}
	all := make([]string, len(kw.words))
	for i, w := range kw.words {
		ops := make([]string, len(w.lexemes))
		for k, l := range w.lexemes {
			ops[k] = quoteLexeme(within + l)
			switch {
			case w.prefix:
				ops[k] += ":*" + weights
			case weights != "":
				ops[k] += ":" + weights
			}
		}
		all[i] = strings.Join(ops, " | ")
		if len(ops) > 1 {
			all[i] = "(" + all[i] + ")"
		}
	}
	return strings.Join(all, " & ")
}

// maxLexemes is how many lexemes the last word may stand for in the query:
// an OR of a few lexemes costs the GIN index a fraction of a prefix scan
// ('pro' | 'protector' read 76,487 rows in 7 ms, 'pro':* in 22 ms); beyond
// it the query keeps the prefix.
const maxLexemes = 16

// resolveKeyword resolves the words of a search from its KeywordTerms: the
// words' stems ANDed, the last word's stem replaced by an OR of the lexemes
// it begins. A stem that no product holds means no match, and so does a set
// of categories that hold every word that is empty. Stop words are dropped,
// as to_tsquery does; all of them leave no words.
func resolveKeyword(terms []db.KeywordTermsRow, last int32) keyword {
	var kw keyword
	open := true // no word has narrowed the categories yet
	for i := 0; i < len(terms); {
		j := i
		var lexemes []string
		var held []int64
		for ; j < len(terms) && terms[j].Pos == terms[i].Pos && terms[j].Stem == terms[i].Stem; j++ {
			if terms[j].Lexeme != "" {
				lexemes = append(lexemes, terms[j].Lexeme)
				held = append(held, terms[j].Categories...)
			}
		}
		stem, prefix := terms[i].Stem, terms[i].Pos == last
		i = j
		switch {
		case len(lexemes) == 0:
			return keyword{none: true}
		case !prefix:
			kw.words = append(kw.words, term{lexemes: lexemes[:1]})
		case len(lexemes) > maxLexemes:
			kw.words = append(kw.words, term{lexemes: []string{stem}, prefix: true})
			continue // more lexemes than were read: any category may hold them
		default:
			kw.words = append(kw.words, term{lexemes: lexemes})
		}
		if open {
			kw.categories, open = held, false
		}
		kw.categories = slices.DeleteFunc(kw.categories, func(c int64) bool { return !slices.Contains(held, c) })
	}
	if !open {
		slices.Sort(kw.categories)
		kw.categories = slices.Compact(kw.categories)
		if len(kw.categories) == 0 {
			return keyword{none: true}
		}
	}
	return kw
}

// quoteLexeme writes a lexeme as a tsquery operand, taken as it is (a stem
// already: no parser or stemmer runs on the ::tsquery cast).
func quoteLexeme(l string) string { return "'" + lexemeEscaper.Replace(l) + "'" }

var lexemeEscaper = strings.NewReplacer(`\`, `\\`, "'", "''")

// cursor is the keyset position after the last row of a page, plus the
// total counted on the first page (so later pages skip the count).
type cursor struct {
	sort  Sort
	tier  int   // relevance only: 1 the name or brand holds the words, 2 only the description
	key   int64 // price, popularity, or created_at in µs
	id    int64
	total int64
}

var errBadCursor = errs.New(errs.Invalid, "That page link is broken or out of date. Start again from the first page.")

func (c cursor) encode() string {
	s := "v2." + string(c.sort) + "." + strconv.Itoa(c.tier) + "." + strconv.FormatInt(c.key, 36) + "." + strconv.FormatInt(c.id, 36) + "." + strconv.FormatInt(c.total, 36)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(s string, want Sort) (cursor, error) {
	if len(s) > 200 {
		return cursor{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 6 || parts[0] != "v2" || Sort(parts[1]) != want {
		return cursor{}, errBadCursor
	}
	var n [4]int64
	for i, p := range parts[2:] {
		if n[i], err = strconv.ParseInt(p, 36, 64); err != nil {
			return cursor{}, errBadCursor
		}
	}
	c := cursor{sort: want, tier: int(n[0]), key: n[1], id: n[2], total: n[3]}
	tiered := want == SortRelevance
	if c.id <= 0 || c.total < 0 || c.total > CountCap+1 || (tiered && c.tier != 1 && c.tier != 2) || (!tiered && c.tier != 0) {
		return cursor{}, errBadCursor
	}
	return c, nil
}

// searchSettings are the search transaction's settings. Every search plans
// each execution for the filters present (SPEC 3.3: a generic plan of a
// catch-all query cannot pick the index that matches them); with that, the
// planner picks the composite index of every shape without a keyword by
// itself at a million rows, and the EXPLAIN test holds it to that. No search
// is worth a parallel worker or JIT compilation: sorting the 66,740 "pro"
// matches by price took 554 ms with two workers and 76 ms without (a new
// worker process first maps the shared buffers it touches), and compiling
// one plan took 16 ms here.
//
// A keyword search also turns sequential scans off, and only it. Its
// exact query (SearchKeywordExact) must start from the GIN index: for a
// broad keyword the planner would rather read the table from the start,
// which is cheap only while the matches are spread evenly through it; for
// matches clustered at its end (a brand imported last, a keyword in a
// category loaded in bulk) it reads the whole table.
func searchSettings(keyword bool) string {
	const all = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off"
	if keyword {
		return all + "; SET LOCAL enable_seqscan = off"
	}
	return all
}

// Search runs one page of a search: the rows after the cursor in the chosen
// order, and (on the first page) the capped count, in one read-only
// transaction with searchSettings.
//
// A keyword search is exact in every order: it walks the index of the sort
// key and keeps the matching rows, which stops after a page for a word that
// is common along that order, and sorts the word's matches instead when the
// walk finds too few (see SearchKeywordExact). Relevance puts the products
// whose name or brand holds every word first and those that match only in
// the description after them, the most popular first within each.
func (s *Service) Search(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	sort := f.EffectiveSort()
	page := Page{Items: []Item{}, Sort: sort}
	paged := f.After != ""
	var after cursor
	if paged {
		after, _ = decodeCursor(f.After, sort)
	}
	words := words(f.Q)
	brand := strings.TrimSpace(f.Brand)
	// One snapshot for every statement: the terms, the walks and the count
	// must see the same products.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, searchSettings(len(words) > 0)); err != nil {
			return err
		}
		q := db.New(s.observed(tx))
		p := db.SearchPriceAscParams{InStock: f.InStock, MinPrice: f.MinPrice, MaxPrice: f.MaxPrice, PageSize: PageSize + 1}
		if brand != "" {
			p.Brand = &brand
		}
		if f.Category != "" {
			id, err := q.CategoryIDBySlug(ctx, f.Category)
			if errors.Is(err, pgx.ErrNoRows) {
				page.Notice = "There is no category called “" + f.Category + "”."
				return nil
			} else if err != nil {
				return err
			}
			p.CategoryID = &id
		}
		if f.Q != "" && len(words) == 0 {
			page.Notice = "Search for words made of letters or digits."
			return nil
		}
		var match string                       // the keyword, category and brand for products_match_doc (SearchKeywordExact)
		var count db.CountKeywordMatchesParams // the keyword, brand and categories for search_docs
		if len(words) > 0 {
			terms, err := q.KeywordTerms(ctx, db.KeywordTermsParams{Words: words, MaxLexemes: maxLexemes})
			if err != nil {
				return err
			}
			kw := resolveKeyword(terms, int32(len(words)))
			switch {
			case kw.none, p.CategoryID != nil && kw.categories != nil && !slices.Contains(kw.categories, *p.CategoryID):
				return nil // no product holds every word (in that category)
			case len(kw.words) == 0:
				page.Notice = "Those words are too common to search for. Add a word that names the product."
				return nil
			}
			if len(kw.categories) == 1 {
				// Only one category holds every word: search within it, walking
				// its composite index (the same rows, a far shorter walk).
				p.CategoryID = &kw.categories[0]
			}
			query := kw.tsquery(0, "")
			p.Query, p.QueryAb = &query, kw.tsquery(0, "AB")
			// The queries that start from a GIN index find the brand in it, as
			// a lexeme of its own. SearchKeywordExact finds the category there
			// too (products_match_doc: the words as lexemes of that category);
			// the count reads only the partitions of search_docs of the
			// categories that may hold every word.
			var ofBrand string
			if p.Brand != nil {
				ofBrand = " & " + quoteLexeme("#brand "+*p.Brand)
			}
			match = query + ofBrand
			count = db.CountKeywordMatchesParams{Match: match, Categories: kw.categories}
			if p.CategoryID != nil {
				match = kw.tsquery(*p.CategoryID, "") + ofBrand
				count.Categories = []int64{*p.CategoryID}
			}
		}
		var rows []row
		var err error
		if sort == SortRelevance {
			rows, err = s.relevanceRows(ctx, q, p, match, after, paged)
		} else {
			rows, err = s.rows(ctx, q, sort, p, match, after, paged)
		}
		if err != nil {
			return err
		}
		switch {
		case paged:
			page.Total = after.total
		case len(rows) <= PageSize:
			page.Total = int64(len(rows))
		case p.Query != nil:
			count.MinPrice, count.MaxPrice, count.InStock, count.Cap = p.MinPrice, p.MaxPrice, p.InStock, CountCap+1
			page.Total, err = q.CountKeywordMatches(ctx, count)
		default:
			page.Total, err = q.CountMatches(ctx, db.CountMatchesParams{CategoryID: p.CategoryID, Brand: p.Brand,
				MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock, Cap: CountCap + 1})
		}
		if err != nil {
			return err
		}
		for _, r := range rows[:min(len(rows), PageSize)] {
			page.Items = append(page.Items, r.Item)
		}
		if len(rows) > PageSize {
			last := rows[PageSize-1]
			page.NextCursor = cursor{sort: sort, tier: last.tier, key: last.key, id: last.ID, total: page.Total}.encode()
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	if page.Total > CountCap {
		page.Total, page.Capped = CountCap, true
	}
	if len(page.Items) == 0 && page.Notice == "" && !paged {
		page.Notice = "No products match."
	}
	return page, nil
}

// row is a result with its keyset position.
type row struct {
	Item
	tier int
	key  int64
}

// relevanceRows fills a relevance page from tier 1 (every word in the name
// or brand), then tier 2 (the other matches), each in popularity order.
func (s *Service) relevanceRows(ctx context.Context, q *db.Queries, p db.SearchPriceAscParams, match string, after cursor, paged bool) ([]row, error) {
	var out []row
	first := 1
	if paged {
		first = after.tier
	}
	want := p.PageSize
	for tier := first; tier <= 2 && int32(len(out)) < want; tier++ {
		p.Tier, p.PageSize = int32(tier), want-int32(len(out))
		rows, err := s.rows(ctx, q, SortPopular, p, match, after, paged && tier == after.tier)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			r.tier = tier
			out = append(out, r)
		}
	}
	return out, nil
}

// rows runs the query for the sort: page_size rows after the cursor (when
// paged). With a keyword it walks at most walkRows rows of the sort key's
// index. When that found part of a page and the share of matches says half
// a walk more should find the rest, it walks on from the last match; when
// the page is still not full, it asks SearchKeywordExact.
func (s *Service) rows(ctx context.Context, q *db.Queries, sort Sort, p db.SearchPriceAscParams, match string, after cursor, paged bool) ([]row, error) {
	if paged {
		p.AfterID, p.AfterKey = &after.id, &after.key
	}
	p.Walk = p.PageSize
	if p.Query != nil {
		p.Walk = walkRows
	}
	rows, _, err := s.walk(ctx, q, sort, p)
	if err != nil || p.Query == nil {
		return rows, err
	}
	if n := int32(len(rows)); n > 0 && n < p.PageSize && float64(p.PageSize-n)*float64(walkRows)/float64(n) <= walkRows/2 {
		// E.g. "robot vacuum" by popularity over all categories: 17 matches in
		// 2,000 rows, 4 more expected in 470.
		last, more := rows[n-1], p
		more.AfterKey, more.AfterID, more.PageSize, more.Walk = &last.key, &last.ID, p.PageSize-n, walkRows/2
		next, _, err := s.walk(ctx, q, sort, more)
		if err != nil {
			return nil, err
		}
		rows = append(rows, next...)
	}
	if int32(len(rows)) == p.PageSize {
		return rows, nil
	}
	e := db.SearchKeywordExactParams{SortKey: "popularity", Sign: -1, Match: match, Query: *p.Query, Tier: p.Tier,
		QueryAb: p.QueryAb, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock,
		AfterID: p.AfterID, AfterKey: p.AfterKey, PageSize: p.PageSize}
	switch sort {
	case SortPriceAsc:
		e.SortKey, e.Sign = "price", 1
	case SortPriceDesc:
		e.SortKey = "price"
	case SortNewest:
		e.SortKey = "created_at"
	}
	exact, err := q.SearchKeywordExact(ctx, e)
	rows = rows[:0]
	for _, r := range exact {
		rows = append(rows, row{Item: Item{ID: r.ID, Name: r.Name, Brand: r.Brand, Category: r.Category, Price: r.Price, Stock: r.Stock}, key: r.SortKey})
	}
	return rows, err
}

// walk runs the query that walks the sort key's index; walked is how many
// rows of the index it read to find the last row it returns.
func (s *Service) walk(ctx context.Context, q *db.Queries, sort Sort, p db.SearchPriceAscParams) (out []row, walked int64, err error) {
	add := func(id int64, name, brand, category string, price, stock, key, n int64) {
		out = append(out, row{Item: Item{ID: id, Name: name, Brand: brand, Category: category, Price: price, Stock: stock}, key: key})
		walked = n
	}
	switch sort {
	case SortPriceAsc:
		rows, err := q.SearchPriceAsc(ctx, p)
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey, r.Walked)
		}
		return out, walked, err
	case SortPriceDesc:
		rows, err := q.SearchPriceDesc(ctx, db.SearchPriceDescParams(p))
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey, r.Walked)
		}
		return out, walked, err
	case SortNewest:
		np := db.SearchNewestParams{CategoryID: p.CategoryID, Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice,
			InStock: p.InStock, AfterID: p.AfterID, Walk: p.Walk, Query: p.Query, Tier: p.Tier, QueryAb: p.QueryAb, PageSize: p.PageSize}
		if p.AfterKey != nil {
			t := time.UnixMicro(*p.AfterKey)
			np.AfterKey = &t
		}
		rows, err := q.SearchNewest(ctx, np)
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey.UnixMicro(), r.Walked)
		}
		return out, walked, err
	default: // popular
		rows, err := q.SearchPopular(ctx, db.SearchPopularParams(p))
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey, r.Walked)
		}
		return out, walked, err
	}
}

// Brands lists every brand, for the filter form.
func (s *Service) Brands(ctx context.Context) ([]string, error) {
	return s.q.ListBrands(ctx)
}

// Categories lists every category, for the filter form.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.q.ListCategories(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Category, len(rows))
	for i, r := range rows {
		out[i] = Category{Slug: r.Slug, Name: r.Name}
	}
	return out, nil
}

// Category is a department of the shop.
type Category struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}
