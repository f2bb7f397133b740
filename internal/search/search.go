// Package search answers GET /products: keyword, filters, five orders and a
// keyset cursor over the catalogue that internal/catalog writes. How each
// shape is served, and why each index exists: docs/SEARCH.md.
package search

//go:generate go run gen.go

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/catalog"
	"market/internal/db"
	"market/internal/replica"
)

// A keyword search walks its order's index only when more products match
// than its first read took (sortCap, or CountCap for one broad word), so a
// walk that finds too few has met matches clustered away from the start of
// the order. It reads walkRows rows of the index first, and twice as many
// more when those kept a third of a page. Sorting all the matches instead
// costs about as much as reading
// sortCost rows of the index per match (150,000 matches took 1.5 s here, a
// walk of 50,000 rows 70 ms), so before sorting it walks on for as many
// rows as the sort would cost, or to the end when the matches are too many
// to count (a prefix of many words). Up to sortCap matches are sorted
// without that: reading them costs less than such a walk.
//
// Counting a filtered keyword that most products hold costs less by walking
// the index of prices and checking each row's words (countWalk) than from the
// text index, which hands over every product that holds it: a row read
// costs about as much as postingsPerRow postings of the text index (a word
// of 573,000 products: 122 ms from the index; a walk of 2,000 rows: 6 ms).
const (
	walkRows       = 2_000
	sortCost       = 7
	sortCap        = 3_000
	postingsPerRow = 11
)

// Service runs searches, on the pool reads chooses (a replica when one is
// configured and fresh enough: docs/HTTP.md, "Where reads go").
type Service struct {
	reads *replica.Reads
}

func NewService(reads *replica.Reads) *Service { return &Service{reads: reads} }

// Every search runs in one read-only snapshot (its count and its page see
// the same products), planned for its arguments: a generic plan of a
// catch-all query cannot pick the index that matches the filters present.
// No search is worth a parallel worker or JIT compilation. Sequential scans
// are off: every shape has an index, and a scan that looks cheap on average
// reads the whole table when the matches sit at its end. A broad word's
// bitmap must stay exact: in the default 4 MB one that touches most of the
// table's pages turns lossy, and then every row of those pages has its
// words rebuilt and checked (a word of 160,000 products with a price range:
// 157 ms, against a few with room for the bitmap; docs/SEARCH.md).
const (
	settings = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL max_parallel_workers_per_gather = 0; " +
		"SET LOCAL jit = off; SET LOCAL enable_seqscan = off; SET LOCAL work_mem = '32MB'"
	beginSearch = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + settings
)

// Search runs one page of a search: the rows after the cursor in the chosen
// order and, on the first page, the count of matches up to CountCap.
func (s *Service) Search(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	sort := f.EffectiveSort()
	page := Page{Items: []catalog.Item{}, Sort: sort}
	var after *cursor
	if f.After != "" {
		c, _ := decodeCursor(f.After, sort, f.digest())
		after = &c
	}
	w := words(f.Q)
	if f.Q != "" && len(w) == 0 {
		page.Notice = "Search for words made of letters or digits."
		return page, nil
	}
	err := s.reads.Read(ctx, func(pool *pgxpool.Pool) error {
		page = Page{Items: []catalog.Item{}, Sort: sort} // a read retried on the primary starts afresh
		return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{BeginQuery: beginSearch}, func(tx pgx.Tx) error {
			return fill(ctx, db.New(tx), f, request{sort: sort, after: after}, w, &page)
		})
	})
	if err != nil {
		return Page{}, err
	}
	if page.Total > CountCap {
		page.Total, page.Capped = CountCap, true
	}
	if len(page.Items) == 0 && page.Notice == "" && after == nil {
		page.Notice = "No products match."
	}
	return page, nil
}

// fill fetches one page of a search into page, in the search's snapshot.
func fill(ctx context.Context, q *db.Queries, f Filter, r request, w []string, page *Page) error {
	args, ok, err := filters(ctx, q, f)
	if err != nil || !ok {
		page.Notice = "There is no category called “" + f.Category + "”."
		return err
	}
	r.q, r.args = q, args
	rows, total, notice, err := r.run(ctx, w)
	if err != nil {
		return err
	}
	page.Notice = notice
	for _, row := range rows[:min(len(rows), PageSize)] {
		page.Items = append(page.Items, row.Item)
	}
	if len(rows) > PageSize {
		last := rows[PageSize-1]
		page.NextCursor = cursor{of: f.digest(), sort: r.sort, tier: last.tier, key: last.key, id: last.ID, total: total}.encode()
	}
	page.Total = total
	return nil
}

// filters are the search's filters as query arguments; ok is false when the
// category named does not exist.
func filters(ctx context.Context, q *db.Queries, f Filter) (args db.WalkPopularParams, ok bool, err error) {
	args = db.WalkPopularParams{InStock: f.InStock, MinPrice: f.MinPrice, MaxPrice: f.MaxPrice}
	if f.Brand != "" {
		args.Brand = &f.Brand
	}
	if f.Category != "" {
		id, err := q.CategoryIDBySlug(ctx, f.Category)
		if errors.Is(err, pgx.ErrNoRows) {
			return args, false, nil
		} else if err != nil {
			return args, false, err
		}
		args.CategoryID = &id
	}
	return args, true, nil
}

// run fetches the page's rows (one more than a page, when there is a next)
// and the total; notice says why there are none, when that is known.
func (r request) run(ctx context.Context, w []string) ([]row, int64, string, error) {
	if len(w) == 0 {
		rows, total, err := r.browse(ctx)
		return rows, total, "", err
	}
	terms, err := r.q.KeywordWords(ctx, db.KeywordWordsParams{Words: w, MaxLexemes: maxLexemes})
	if err != nil {
		return nil, 0, "", err
	}
	switch kw := resolveKeyword(terms, int32(len(w))); {
	case kw.none:
		return nil, 0, "", nil
	case kw.empty:
		return nil, 0, "Those words are too common to search for. Add a word that names the product.", nil
	default:
		rows, total, err := r.keyword(ctx, kw)
		return rows, total, "", err
	}
}

// request is one page being fetched.
type request struct {
	q     *db.Queries
	sort  Sort
	args  db.WalkPopularParams // the filters
	after *cursor              // nil on the first page
	broad bool                 // a keyword with more than sortCap matches
}

// row is a result with its keyset position.
type row struct {
	catalog.Item
	tier int
	key  int64
}

// browse serves a search without a keyword: the walk of the order's index
// stops at the page, and the count reads one index up to the cap.
func (r request) browse(ctx context.Context) ([]row, int64, error) {
	rows, err := r.walk(ctx, nil, 0, r.after, PageSize+1)
	switch {
	case err != nil:
		return nil, 0, err
	case r.after != nil:
		return rows, r.after.total, nil
	case len(rows) <= PageSize:
		return rows, int64(len(rows)), nil
	}
	a := r.args
	total, err := r.q.CountMatches(ctx, db.CountMatchesParams{CategoryID: a.CategoryID, Brand: a.Brand,
		MinPrice: a.MinPrice, MaxPrice: a.MaxPrice, InStock: a.InStock, Cap: CountCap + 1})
	return rows, total, err
}

// keyword serves a keyword search. The full-text index finds its matches
// up to the cap: when that is all of them, they are sorted and paged at
// once. A keyword with more matches (counted so, or one word that
// search_words says more products hold) is broad enough that walking the
// order's index and keeping the matches fills a page quickly; when the walk
// finds too few, the matches are sorted instead (walkOrSort), by relevance
// one tier at a time (byTiers).
func (r request) keyword(ctx context.Context, kw keyword) ([]row, int64, error) {
	// The first read takes every match when there are few enough to sort,
	// which saves a walk and a second reading of the words' postings. One
	// word (or a prefix of many) that more than sortCap products hold
	// usually keeps more than that under filters too: it is only counted.
	if kw.prefixAlone() && r.args.Brand != nil {
		// Past spread/postingsPerRow the count would not change brandFirst's answer.
		n, err := r.q.BrandProducts(ctx, db.BrandProductsParams{Brand: *r.args.Brand, Cap: int32(min(kw.spread/postingsPerRow+1, math.MaxInt32))})
		if err != nil {
			return nil, 0, err
		}
		kw.brand = n
	}
	limit := int64(sortCap)
	if kw.least > sortCap || kw.most < 0 {
		limit = CountCap
	}
	total := r.after.totalOr(-1) // -1: not counted yet
	if total < 0 && kw.least > CountCap && !r.filtered() {
		total = CountCap + 1 // search_words proves it
	}
	if walk := r.countWalk(kw, limit); total < 0 && walk > 0 {
		a := r.args
		n, err := r.q.CountByWalk(ctx, db.CountByWalkParams{CategoryID: a.CategoryID, MinPrice: a.MinPrice, MaxPrice: a.MaxPrice,
			InStock: a.InStock, Walk: walk, Query: kw.all, Cap: CountCap + 1})
		if err != nil {
			return nil, 0, err
		}
		if n > CountCap {
			total = n // else the walk met too few: the text index counts them
		}
	}
	if total <= limit {
		rows, n, err := r.matches(ctx, kw, 0, false, int32(limit+1))
		switch {
		case err != nil:
			return nil, 0, err
		case total < 0 && n <= limit: // the first page: n is every match
			return rows, n, nil
		case total >= 0 && len(rows) > 0 && n <= limit: // a later page, still all at hand
			return rows, total, nil
		case total < 0:
			total = n
		}
		// Else products were added since the first page and the matches
		// outgrew the limit (or the page came back empty, which says
		// nothing of the matches not read): page through the index instead.
	}
	r.broad = total > sortCap || kw.least > sortCap && !r.filtered()
	if r.sort != SortRelevance {
		rows, err := r.walkOrSort(ctx, kw, 0, r.after)
		return rows, total, err
	}
	rows, err := r.byTiers(ctx, kw)
	return rows, total, err
}

// byTiers fetches a page of a relevance search with more matches than its
// first read took: its two tiers in turn (products whose name or brand holds
// every word, then the rest), the most popular first within each.
func (r request) byTiers(ctx context.Context, kw keyword) ([]row, error) {
	var out []row
	after := r.after
	for tier := after.tierOr(1); tier <= 2 && len(out) <= PageSize; tier++ {
		if after != nil && after.tier != tier {
			after = nil // the cursor was in the tier before
		}
		var rows []row
		var err error
		switch {
		case tier == 1 && kw.titles == 0:
			continue // no name or brand holds every word
		case tier == 2 && kw.named:
			continue // every match is in the first tier
		case tier == 1 && kw.titles > 0 && kw.titles <= sortCap:
			r := r
			r.after = after
			rows, _, err = r.matches(ctx, kw, 1, true, 0) // few enough to sort
		default:
			rows, err = r.walkOrSort(ctx, kw, tier, after)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rows[:min(len(rows), PageSize+1-len(out))]...)
	}
	return out, nil
}

// walkOrSort fetches a page of a keyword with more matches than its first
// read took (in one relevance tier when tier is not 0): by walking the
// order's index, or, when its matches are too sparse along it, by sorting
// them (for the first tier, from the index of names and brands, which holds
// fewer).
func (r request) walkOrSort(ctx context.Context, kw keyword, tier int, after *cursor) ([]row, error) {
	rows, err := r.walk(ctx, &kw, tier, after, walkRows)
	if err != nil || len(rows) > PageSize {
		return rows, err
	}
	// A walk that kept a third of a page or more has the rest of it within
	// about twice as many rows again, if the matches go on as they began:
	// fewer than any read from the text index below, which takes every
	// posting of the words and hundreds of rows or more.
	if n := len(rows); 3*n >= PageSize && n > 0 {
		more, err := r.walk(ctx, &kw, tier, walkedTo(rows, tier, after), 2*walkRows)
		if rows = append(rows, more...); err != nil || len(rows) > PageSize {
			return rows, err
		}
	}
	// The matches are sparse along the order. Two broad words often have
	// only a few thousand in common: read up to sortCap of them, and when
	// that is all, the page is among them.
	r.after = after
	byPrice := r.sort == SortPriceAsc || r.sort == SortPriceDesc
	if !byPrice && (kw.most < 0 && tier != 1 || (tier == 0 || tier == 1 && kw.named) && r.broad) {
		// A prefix of more words than maxLexemes, or more than sortCap
		// matches counted (in the first tier too when it holds every
		// match): too many to sort. (By price the sample still
		// bounds the page, below; relevance's first tier is read from the
		// index of names and brands, which a prefix's words are seldom all
		// in: "low" begins many words, and few names.)
		return r.walkOn(ctx, kw, tier, after, rows)
	}
	sample, n, err := r.matches(ctx, kw, tier, tier == 1, sortCap+1)
	// None is an answer only from the start, and not in the second tier:
	// its sample is any of the matches, which may all be in the first.
	if err != nil || (len(sample) > 0 || after == nil && tier != 2) && n <= sortCap {
		return sample, err
	}
	if byPrice && len(sample) > PageSize {
		// Any sortCap of the matches, sorted, end their page at some price,
		// and at least a page of the matches lie on this side of it: the
		// page is among the matches within that price, which the index of
		// prices narrows without reading the others (a beauty word from the
		// dearest product down).
		bound := sample[PageSize].key
		if r.sort == SortPriceAsc {
			r.args.MaxPrice = &bound
		} else {
			r.args.MinPrice = &bound
		}
		rows, _, err := r.matches(ctx, kw, tier, tier == 1, 0)
		return rows, err
	}
	return r.walkOn(ctx, kw, tier, after, rows)
}

// walkOn goes on from a walk that found rows, too few for a page: for as
// many rows of the index as sorting every match would cost, then sorts.
func (r request) walkOn(ctx context.Context, kw keyword, tier int, after *cursor, rows []row) ([]row, error) {
	most := kw.most // how many matches a sort would read
	if tier == 1 {
		most = kw.titles
	}
	if long := most * sortCost; most < 0 || long > walkRows {
		if most < 0 {
			long = math.MaxInt32
		}
		more, err := r.walk(ctx, &kw, tier, walkedTo(rows, tier, after), int32(min(long, math.MaxInt32)))
		if err != nil || len(rows)+len(more) > PageSize || most < 0 {
			return append(rows, more...), err
		}
	}
	r.after = after
	rows, _, err := r.matches(ctx, kw, tier, tier == 1, 0)
	return rows, err
}

// walkedTo is where a walk goes on: after the last row it kept, or from
// after when it kept none.
func walkedTo(rows []row, tier int, after *cursor) *cursor {
	if n := len(rows); n > 0 {
		return &cursor{tier: tier, key: rows[n-1].key, id: rows[n-1].ID}
	}
	return after
}

// countWalk is how many rows a count by walking may read before the first
// page of a filtered keyword is counted from the text index (0: not worth
// trying). The walk pays when the keyword is dense: if its products are
// spread evenly, CountCap+1 matches lie within catalogue/least times as
// many rows, which must cost less than reading the keyword's postings. It
// may read twice that, for a keyword thinner where the walk runs. A brand
// is no such case: it holds few products, and the text index intersects the
// keyword with it reading no more than those.
func (r request) countWalk(kw keyword, limit int64) int32 {
	if limit > CountCap || !r.filtered() || r.args.Brand != nil || kw.least <= 0 || kw.catalogue <= 0 {
		return 0 // counted with its page, unfiltered, by brand, or more than one word
	}
	rows := (CountCap + 1) * kw.catalogue / kw.least
	postings := max(kw.most, kw.least) // a prefix of many words: at least its widest
	if rows*postingsPerRow > postings {
		return 0
	}
	return int32(min(2*rows, math.MaxInt32))
}

// splitPrefix says whether the text index should find the matches of the
// other words alone, each then checked for the last, a prefix that begins
// many words: the index reads the postings of every word a prefix begins
// ("co": 750,000 here, 50–80 ms), and checking a row costs about as much as
// postingsPerRow postings. The rows checked are at most the other words'
// matches, and, to find cap matches (0: all), about cap × catalogue/widest
// of them if the prefix is spread evenly.
func (kw keyword) splitPrefix(cap int32) bool {
	if kw.rest == "" || kw.most < 0 {
		return false
	}
	rows := kw.most
	if cap > 0 && kw.widest > 0 && kw.catalogue > 0 {
		rows = min(rows, (int64(cap)+1)*kw.catalogue/kw.widest)
	}
	return rows*postingsPerRow < kw.spread
}

// prefixAlone: the keyword is one word, the prefix of more words than
// maxLexemes, which the text index reads all the postings of.
func (kw keyword) prefixAlone() bool { return kw.rest == "" && kw.most < 0 }

// brandFirst says whether the text index should find the brand filter's
// products alone, each then checked for the keyword: for a prefix alone the
// index reads the postings of every word it begins, where a brand holds a
// few thousand products, each checked for about postingsPerRow postings'
// worth.
func (kw keyword) brandFirst() bool {
	return kw.prefixAlone() && kw.brand > 0 && kw.brand*postingsPerRow < kw.spread
}

// filtered says whether the search has a filter besides its keyword.
func (r request) filtered() bool {
	a := r.args
	return a.CategoryID != nil || a.Brand != nil || a.MinPrice != nil || a.MaxPrice != nil || a.InStock
}

// matches runs KeywordMatches: the page after r.after among the keyword's
// matches (of one relevance tier when tier is not 0), reading at most cap
// of them (0: all), and how many it read.
func (r request) matches(ctx context.Context, kw keyword, tier int, titleOnly bool, cap int32) ([]row, int64, error) {
	a := r.args
	p := db.KeywordMatchesParams{Query: kw.all, QueryAb: kw.ab, TitleOnly: titleOnly, OnlyTier: int32(tier),
		Tiered: r.sort == SortRelevance, SortKey: "popularity", Sign: -1, PageSize: PageSize + 1,
		CategoryID: a.CategoryID, Brand: a.Brand, MinPrice: a.MinPrice, MaxPrice: a.MaxPrice, InStock: a.InStock}
	if !titleOnly { // the text index holds category and brand (search_doc)
		q := kw.all
		switch {
		case kw.splitPrefix(cap):
			q, p.Whole = kw.rest, kw.all
		case kw.brandFirst():
			q, p.Whole = "", kw.all
		}
		p.Query, p.CategoryID, p.Brand = withFacets(q, a.CategoryID, a.Brand), nil, nil
	}
	switch r.sort {
	case SortPriceAsc:
		p.SortKey, p.Sign = "price", 1
	case SortPriceDesc:
		p.SortKey = "price"
	case SortNewest:
		p.SortKey = "created_at"
	}
	if cap > 0 {
		p.Cap = &cap
	}
	if r.after != nil {
		p.AfterTier, p.AfterKey, p.AfterID = int32(r.after.tier), &r.after.key, &r.after.id
	}
	found, err := r.q.KeywordMatches(ctx, p)
	var rows []row
	var n int64
	for _, m := range found {
		rows = append(rows, row{Item: catalog.Item{ID: m.ID, Name: m.Name, Brand: m.Brand, Category: m.Category, Price: m.Price, Stock: m.Stock,
			Picture: catalog.PictureKeyOf(m.ImageKey)},
			tier: int(m.Tier), key: m.SortKey})
		n = m.Matches
	}
	return rows, n, err
}

// walk runs the walk of the order's index from after: up to PageSize+1
// rows that match the keyword (any row when kw is nil) and the tier, among
// at most limit rows of the index.
func (r request) walk(ctx context.Context, kw *keyword, tier int, after *cursor, limit int32) ([]row, error) {
	p := r.args
	p.Walk, p.PageSize, p.Tier = limit, PageSize+1, int32(tier)
	if kw != nil {
		p.Query, p.QueryAb = &kw.all, kw.ab
	}
	if after != nil {
		p.AfterID, p.AfterKey = &after.id, &after.key
	}
	var out []row
	add := func(id int64, name, brand, category string, price, stock int64, image *string, key int64) {
		out = append(out, row{Item: catalog.Item{ID: id, Name: name, Brand: brand, Category: category, Price: price, Stock: stock,
			Picture: catalog.PictureKeyOf(image)}, tier: tier, key: key})
	}
	switch r.sort {
	case SortPriceAsc:
		rows, err := r.q.WalkPriceAsc(ctx, byPrice(p))
		for _, m := range rows {
			add(m.ID, m.Name, m.Brand, m.Category, m.Price, m.Stock, m.ImageKey, m.SortKey)
		}
		return out, err
	case SortPriceDesc:
		rows, err := r.q.WalkPriceDesc(ctx, db.WalkPriceDescParams(byPrice(p)))
		for _, m := range rows {
			add(m.ID, m.Name, m.Brand, m.Category, m.Price, m.Stock, m.ImageKey, m.SortKey)
		}
		return out, err
	case SortNewest:
		np := db.WalkNewestParams{CategoryID: p.CategoryID, Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice,
			InStock: p.InStock, AfterID: p.AfterID, Walk: p.Walk, Query: p.Query, Tier: p.Tier, QueryAb: p.QueryAb, PageSize: p.PageSize}
		if p.AfterKey != nil {
			t := time.UnixMicro(*p.AfterKey)
			np.AfterKey = &t
		}
		rows, err := r.q.WalkNewest(ctx, np)
		for _, m := range rows {
			add(m.ID, m.Name, m.Brand, m.Category, m.Price, m.Stock, m.ImageKey, m.SortKey.UnixMicro())
		}
		return out, err
	default: // popular, and relevance's tiers
		rows, err := r.q.WalkPopular(ctx, p)
		for _, m := range rows {
			add(m.ID, m.Name, m.Brand, m.Category, m.Price, m.Stock, m.ImageKey, m.SortKey)
		}
		return out, err
	}
}

// byPrice is a walk's arguments for a price order (the same, in sqlc's order).
func byPrice(p db.WalkPopularParams) db.WalkPriceAscParams {
	return db.WalkPriceAscParams{CategoryID: p.CategoryID, Brand: p.Brand, MinPrice: p.MinPrice, MaxPrice: p.MaxPrice,
		InStock: p.InStock, AfterID: p.AfterID, AfterKey: p.AfterKey, Walk: p.Walk, Query: p.Query, Tier: p.Tier,
		QueryAb: p.QueryAb, PageSize: p.PageSize}
}
