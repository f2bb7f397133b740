package catalog

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"market/internal/db"
	"market/internal/errs"
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
	// Candidates bounds a keyword search's work: at most this many matches
	// are sorted (in any order, relevance included) and counted; beyond it
	// the page says the order covers the first Candidates matches and the
	// count is "1,000+" (see SearchKeyword in queries/catalog.sql).
	Candidates = 1_000
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
	// Within is non-zero when a keyword matched more than Candidates
	// products: the order (and the count) cover only the first Within of them.
	Within int
}

// Note tells the shopper when the order covers only part of the matches.
func (p Page) Note() string {
	if p.Within == 0 {
		return ""
	}
	n := strconv.Itoa(p.Within)
	if p.Within >= 1000 {
		n = strconv.Itoa(p.Within/1000) + "," + fmt.Sprintf("%03d", p.Within%1000)
	}
	return "More than " + n + " products match, so this order covers the first " + n + " matches found. Add a word or a filter to narrow the search."
}

// EffectiveSort is the order a filter is served in: relevance needs a keyword.
func (f Filter) EffectiveSort() Sort {
	switch {
	case f.Sort == "" && tsQuery(f.Q) != "":
		return SortRelevance
	case f.Sort == "", f.Sort == SortRelevance && tsQuery(f.Q) == "":
		return SortPopular
	}
	return f.Sort
}

// Validate checks what a search may ask; bad input is a 4xx, never a 500.
func (f Filter) Validate() error {
	fields := errs.Fields{}
	if !utf8.ValidString(f.Q) {
		fields.Add("q", "The search words contain characters we cannot read.")
	} else if utf8.RuneCountInString(f.Q) > MaxKeyword {
		fields.Add("q", "Search words can be at most "+strconv.Itoa(MaxKeyword)+" characters.")
	}
	fields.Check(utf8.ValidString(f.Category) && len(f.Category) <= 100, "category", "Choose a category from the list.")
	fields.Check(utf8.ValidString(f.Brand) && utf8.RuneCountInString(f.Brand) <= 100, "brand", "A brand name is at most 100 characters.")
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

func validSort(s Sort) bool {
	for _, v := range Sorts {
		if v == s {
			return true
		}
	}
	return false
}

// tsQuery turns what a shopper typed into a safe tsquery text: the words
// (letters and digits only, so no tsquery syntax can get through) joined
// by AND, the last one a prefix so that "head" finds "headphones".
func tsQuery(q string) string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxWords {
		words = words[:maxWords]
	}
	for i, w := range words {
		words[i] = "'" + w + "'"
	}
	if len(words) == 0 {
		return ""
	}
	words[len(words)-1] += ":*"
	return strings.Join(words, " & ")
}

// cursor is the keyset position after the last row of a page, plus the
// total counted on the first page (so later pages skip the count).
type cursor struct {
	sort  Sort
	key   int64 // price, popularity, created_at in µs, or the float64 bits of a rank
	id    int64
	total int64
}

var errBadCursor = errs.New(errs.Invalid, "That page link is broken or out of date. Start again from the first page.")

func (c cursor) encode() string {
	s := "v1." + string(c.sort) + "." + strconv.FormatInt(c.key, 36) + "." + strconv.FormatInt(c.id, 36) + "." + strconv.FormatInt(c.total, 36)
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
	if len(parts) != 5 || parts[0] != "v1" || Sort(parts[1]) != want {
		return cursor{}, errBadCursor
	}
	var n [3]int64
	for i, p := range parts[2:] {
		if n[i], err = strconv.ParseInt(p, 36, 64); err != nil {
			return cursor{}, errBadCursor
		}
	}
	c := cursor{sort: want, key: n[0], id: n[1], total: n[2]}
	if c.id <= 0 || c.total < 0 || c.total > CountCap+1 {
		return cursor{}, errBadCursor
	}
	if want == SortRelevance {
		if r := math.Float64frombits(uint64(c.key)); math.IsNaN(r) || math.IsInf(r, 0) {
			return cursor{}, errBadCursor
		}
	}
	return c, nil
}

// searchSettings are the search transaction's settings. Every search plans
// each execution for the filters present (SPEC 3.3: a generic plan of a
// catch-all query cannot pick the index that matches them); with that, the
// planner picks the composite index of every shape without a keyword by
// itself at a million rows, and the EXPLAIN test holds it to that.
//
// A keyword search also turns sequential scans off, and only it. Its
// candidate query has a LIMIT and no ORDER BY, and for a broad keyword
// ("head", 2% of the rows) the planner prefers to read the table from the
// start until it has found enough matches: at 1M rows it chose
// "Seq Scan … Rows Removed by Filter: 47182" over the GIN index. That is
// cheap only while matches are spread evenly through the table; for
// matches clustered at its end (a brand imported last, a keyword in a
// category loaded in bulk) it reads the whole table. The GIN bitmap costs
// the same wherever the matches lie.
func searchSettings(keyword bool) string {
	if keyword {
		return "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = off"
	}
	return "SET LOCAL plan_cache_mode = force_custom_plan"
}

// Search runs one page of a search: the rows after the cursor in the chosen
// order, and (on the first page) the capped count, in one read-only
// transaction with searchSettings.
func (s *Service) Search(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	sort := f.EffectiveSort()
	page := Page{Items: []Item{}, Sort: sort}
	var after cursor
	if f.After != "" {
		after, _ = decodeCursor(f.After, sort)
	}
	query := tsQuery(f.Q)
	brand := strings.TrimSpace(f.Brand)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, searchSettings(query != "")); err != nil {
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
		if f.Q != "" && query == "" {
			page.Notice = "Search for words made of letters or digits."
			return nil
		}
		if query != "" {
			return s.keywordPage(ctx, q, query, sort, p, f.After != "", after, &page)
		}
		if f.After != "" {
			p.AfterID = &after.id
			p.AfterKey = &after.key
		}
		rows, keys, err := s.searchPage(ctx, q, sort, p, after)
		if err != nil {
			return err
		}
		page.Items = rows
		if f.After != "" {
			page.Total = after.total
		} else if page.Total, err = q.CountMatches(ctx, db.CountMatchesParams{CategoryID: p.CategoryID, Brand: p.Brand,
			MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock, Cap: CountCap + 1}); err != nil {
			return err
		}
		if len(rows) > PageSize {
			page.Items = rows[:PageSize]
			last := page.Items[PageSize-1]
			page.NextCursor = cursor{sort: sort, key: keys[PageSize-1], id: last.ID, total: page.Total}.encode()
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	if page.Total > CountCap {
		page.Total, page.Capped = CountCap, true
	}
	// The order of a broad keyword covers its first Candidates matches; the
	// count stays the contract's: exact up to 10,000, else "10000+".
	if query != "" && page.Total > Candidates {
		page.Within = Candidates
	}
	if len(page.Items) == 0 && page.Notice == "" && f.After == "" {
		page.Notice = "No products match."
	}
	return page, nil
}

// keywordPage serves a search with a keyword from its candidate set: at
// most Candidates+1 matches with their sort keys (SearchKeyword), sorted
// here by the order asked for and paged by keyset, then the page's rows by
// id. The total is the candidate count when the set is not full; when it is,
// "10,000+" if the planner expects far more than that (its full-text
// estimates are good for single words; for several words it assumes them
// independent, which underestimates), else an exact count up to 10,000.
// Later pages carry the first page's total in the cursor.
func (s *Service) keywordPage(ctx context.Context, q *db.Queries, query string, sort Sort, p db.SearchPriceAscParams, paged bool, after cursor, page *Page) error {
	rows, err := q.SearchKeyword(ctx, db.SearchKeywordParams{Rank: sort == SortRelevance, Query: query, CategoryID: p.CategoryID,
		Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock, Candidates: Candidates + 1})
	if err != nil {
		return err
	}
	switch {
	case paged:
		page.Total = after.total
	case len(rows) <= Candidates:
		page.Total = int64(len(rows))
	default:
		page.Total = Candidates + 1
		est, err := q.EstimateMatches(ctx, db.EstimateMatchesParams{Query: query, CategoryID: p.CategoryID, Brand: p.Brand,
			MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock})
		if err != nil {
			return err
		}
		if est >= CountCap*3/2 {
			page.Total = CountCap + 1
		} else if page.Total, err = q.CountKeywordMatches(ctx, db.CountKeywordMatchesParams{Query: query, CategoryID: p.CategoryID,
			Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice, InStock: p.InStock, Cap: CountCap + 1}); err != nil {
			return err
		}
	}
	rows = rows[:min(len(rows), Candidates)]
	// Every order is (key, id), ascending for price_asc and descending for the rest.
	type cand struct{ key, id int64 }
	cands := make([]cand, len(rows))
	for i, r := range rows {
		c := cand{id: r.ID}
		switch sort {
		case SortPriceAsc, SortPriceDesc:
			c.key = r.Price
		case SortNewest:
			c.key = r.CreatedAt.UnixMicro()
		case SortPopular:
			c.key = r.Popularity
		default: // the bits of a non-negative float64 sort like the float
			c.key = int64(math.Float64bits(max(r.Rank, 0)))
		}
		cands[i] = c
	}
	desc := sort != SortPriceAsc
	order := func(a, b cand) int {
		n := cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.id, b.id))
		if desc {
			return -n
		}
		return n
	}
	slices.SortFunc(cands, order)
	if paged {
		at := cand{key: after.key, id: after.id}
		i, _ := slices.BinarySearchFunc(cands, at, order)
		if i < len(cands) && order(cands[i], at) == 0 {
			i++
		}
		cands = cands[i:]
	}
	cands = cands[:min(len(cands), PageSize+1)]
	ids := make([]int64, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	items, err := q.ItemsByID(ctx, ids)
	if err != nil {
		return err
	}
	byID := make(map[int64]Item, len(items))
	for _, r := range items {
		byID[r.ID] = Item{ID: r.ID, Name: r.Name, Brand: r.Brand, Category: r.Category, Price: r.Price, Stock: r.Stock}
	}
	for _, c := range cands[:min(len(cands), PageSize)] {
		if it, ok := byID[c.id]; ok {
			page.Items = append(page.Items, it)
		}
	}
	if len(cands) > PageSize {
		last := cands[PageSize-1]
		page.NextCursor = cursor{sort: sort, key: last.key, id: last.id, total: page.Total}.encode()
	}
	return nil
}

// searchPage runs the query for the sort and returns the rows and their keyset keys.
func (s *Service) searchPage(ctx context.Context, q *db.Queries, sort Sort, p db.SearchPriceAscParams, after cursor) ([]Item, []int64, error) {
	var items []Item
	var keys []int64
	add := func(id int64, name, brand, category string, price, stock, key int64) {
		items = append(items, Item{ID: id, Name: name, Brand: brand, Category: category, Price: price, Stock: stock})
		keys = append(keys, key)
	}
	switch sort {
	case SortPriceAsc:
		rows, err := q.SearchPriceAsc(ctx, p)
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey)
		}
		return items, keys, err
	case SortPriceDesc:
		rows, err := q.SearchPriceDesc(ctx, db.SearchPriceDescParams(p))
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey)
		}
		return items, keys, err
	case SortNewest:
		np := db.SearchNewestParams{CategoryID: p.CategoryID, Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice,
			InStock: p.InStock, AfterID: p.AfterID, PageSize: p.PageSize}
		if p.AfterID != nil {
			t := time.UnixMicro(after.key)
			np.AfterKey = &t
		}
		rows, err := q.SearchNewest(ctx, np)
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey.UnixMicro())
		}
		return items, keys, err
	default: // popular; without a keyword there is no relevance
		rows, err := q.SearchPopular(ctx, db.SearchPopularParams(p))
		for _, r := range rows {
			add(r.ID, r.Name, r.Brand, r.Category, r.Price, r.Stock, r.SortKey)
		}
		return items, keys, err
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
