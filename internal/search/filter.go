package search

import (
	"encoding/base64"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"market/internal/catalog"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// Sort is a search order: the sort parameter of GET /products.
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
	// CountCap bounds the count of results: beyond it the answer is
	// "1,000+", which needs only 1,001 matches found, not all of them.
	CountCap = 1_000
	// MaxKeyword is the longest keyword accepted, in characters.
	MaxKeyword = 200
	// maxWords bounds the tsquery a keyword becomes.
	maxWords = 8
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
	Items      []catalog.Item
	NextCursor string // empty on the last page
	Total      int64  // exact unless Capped; then CountCap, a lower bound
	Capped     bool   // more than Total matches
	Sort       Sort   // the order actually used
	Notice     string // why nothing matched, when we know
}

// Text rules of the search's parameters (package text). The filters take the
// strings the JSON shows, so they need no more than what can be stored.
var (
	KeywordText        = text.Options{Label: "The search words", Max: MaxKeyword}
	CategoryFilterText = text.Options{Label: "The category", Max: catalog.MaxCategory}
	BrandFilterText    = text.Options{Label: "The brand", Max: catalog.MaxBrand}
)

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
		if p != nil && (*p < 0 || *p > catalog.MaxPrice) {
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
		if _, err := decodeCursor(f.After, f.EffectiveSort(), f.digest()); err != nil {
			return err
		}
	}
	return nil
}

// digest names the search a cursor belongs to, its keyword and filters: a
// cursor's position and total are that search's, so another refuses it.
func (f Filter) digest() uint32 {
	h := fnv.New32a()
	bound := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	for _, v := range []string{f.Q, f.Category, f.Brand, bound(f.MinPrice), bound(f.MaxPrice), strconv.FormatBool(f.InStock)} {
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

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
// maxWords of them. NFKC first: a full-width "ＺＥＢＲＡ" (as an East Asian
// keyboard may type it) is "zebra".
func words(q string) []string {
	w := strings.FieldsFunc(strings.ToLower(norm.NFKC.String(q)), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	return w[:min(len(w), maxWords)]
}

// maxLexemes is how many lexemes the last word may stand for as an OR of
// them; beyond it the query keeps the prefix.
const maxLexemes = 16

// keyword is a search's words resolved against search_words (KeywordWords):
// every word must match, and the last one is a prefix, so that "head"
// finds "headphones".
type keyword struct {
	all string // the tsquery
	ab  string // the same, of the name and brand alone (weights A and B): relevance's first tier
	// most is at least the number of matches (-1: unknown); least is at most
	// that number (0 unless it is one word, which this many products hold);
	// titles is at least the number of matches in names and brands (-1: unknown).
	most, least, titles int64
	// named: every product that holds each word holds it in its name or
	// brand, so relevance's first tier is every match.
	named bool
	// rest is the tsquery without the last word when that is a prefix of
	// more than maxLexemes words and not the only word ("" otherwise);
	// spread is the sum of the postings of the words it begins, and widest
	// the most of them one holds (splitPrefix).
	rest           string
	spread, widest int64
	catalogue      int64 // about how many products there are (0: unknown)
	brand          int64 // the products of the brand filter, when brandFirst needs them (0: not read)
	none           bool  // no product holds some word
	empty          bool  // every word is a stop word
}

// resolveKeyword turns the words' KeywordWords rows into a keyword: each
// word its stem, the last one an OR of the lexemes it begins (or, past
// maxLexemes of them, the prefix itself). Stop words are dropped, as
// to_tsquery does.
func resolveKeyword(terms []db.KeywordWordsRow, last int32) keyword {
	kw := keyword{most: -1, titles: -1, named: true}
	var all, ab []string
	broad := -1 // which of all is a prefix of many words
	for i := 0; i < len(terms); {
		j := i
		var lexemes []string
		var held, titles int64
		most, spread := terms[i].Widest, terms[i].Spread
		for ; j < len(terms) && terms[j].Pos == terms[i].Pos && terms[j].Stem == terms[i].Stem; j++ {
			if terms[j].Lexeme != "" {
				lexemes = append(lexemes, terms[j].Lexeme)
				held += terms[j].Products
				titles += terms[j].Titles
			}
		}
		stem, prefix := terms[i].Stem, terms[i].Pos == last
		i = j
		if len(lexemes) == 0 {
			return keyword{none: true}
		}
		var ops, abOps []string
		if prefix && len(lexemes) > maxLexemes {
			ops, abOps, held, titles = []string{quoteLexeme(stem) + ":*"}, []string{quoteLexeme(stem) + ":*AB"}, -1, -1
			broad, kw.spread, kw.widest = len(all), spread, most
		} else {
			for _, l := range lexemes {
				ops, abOps = append(ops, quoteLexeme(l)), append(abOps, quoteLexeme(l)+":AB")
			}
		}
		all, ab = append(all, group(ops)), append(ab, group(abOps))
		kw.named = kw.named && held >= 0 && titles == held
		if held >= 0 && (kw.most < 0 || held < kw.most) {
			kw.most = held
		}
		if titles >= 0 && (kw.titles < 0 || titles < kw.titles) {
			kw.titles = titles
		}
		kw.least = most
	}
	if len(all) != 1 {
		kw.least = 0
	}
	if broad >= 0 && len(all) > 1 {
		kw.rest = strings.Join(slices.Delete(slices.Clone(all), broad, broad+1), " & ")
	}
	kw.all, kw.ab, kw.empty = strings.Join(all, " & "), strings.Join(ab, " & "), len(all) == 0
	if len(terms) > 0 {
		kw.catalogue = terms[0].Catalogue
	}
	return kw
}

// withFacets adds the category and brand filters to a tsquery as the
// lexemes search_doc (migrations/00102_catalogue.sql) puts beside the words.
func withFacets(query string, categoryID *int64, brand *string) string {
	var terms []string
	if query != "" {
		terms = append(terms, query)
	}
	if categoryID != nil {
		terms = append(terms, quoteLexeme("#c "+strconv.FormatInt(*categoryID, 10)))
	}
	if brand != nil {
		terms = append(terms, quoteLexeme("#b "+*brand))
	}
	return strings.Join(terms, " & ")
}

func group(ops []string) string {
	if len(ops) == 1 {
		return ops[0]
	}
	return "(" + strings.Join(ops, " | ") + ")"
}

// quoteLexeme writes a lexeme as a tsquery operand, taken as it is (a stem
// already: no parser or stemmer runs on the ::tsquery cast).
func quoteLexeme(l string) string { return "'" + lexemeEscaper.Replace(l) + "'" }

var lexemeEscaper = strings.NewReplacer(`\`, `\\`, "'", "''")

// cursor is the keyset position after the last row of a page, plus the
// total counted on the first page (so later pages skip the count, and a
// keyword search knows whether it had all its matches at hand).
type cursor struct {
	of    uint32 // Filter.digest of the search
	sort  Sort
	tier  int   // relevance only: 1 the name or brand holds the words, 2 only the description
	key   int64 // price, popularity, or created_at in µs
	id    int64
	total int64 // the first page's count of matches, up to sortCap+1
}

// totalOr is the cursor's total, or n on the first page (no cursor).
func (c *cursor) totalOr(n int64) int64 {
	if c == nil {
		return n
	}
	return c.total
}

// tierOr is the cursor's relevance tier, or first on the first page.
func (c *cursor) tierOr(first int) int {
	if c == nil {
		return first
	}
	return c.tier
}

var errBadCursor = errs.New(errs.Invalid, "That page link is broken or out of date. Start again from the first page.")

func (c cursor) encode() string {
	s := "v4." + string(c.sort) + "." + strconv.Itoa(c.tier) + "." + strconv.FormatInt(c.key, 36) + "." + strconv.FormatInt(c.id, 36) +
		"." + strconv.FormatInt(c.total, 36) + "." + strconv.FormatUint(uint64(c.of), 36)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// decodeCursor reads a cursor of the search of digest of, in order want.
func decodeCursor(s string, want Sort, of uint32) (cursor, error) {
	if len(s) > 200 {
		return cursor{}, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 7 || parts[0] != "v4" || Sort(parts[1]) != want || parts[6] != strconv.FormatUint(uint64(of), 36) {
		return cursor{}, errBadCursor
	}
	var n [4]int64
	for i, p := range parts[2:6] {
		if n[i], err = strconv.ParseInt(p, 36, 64); err != nil {
			return cursor{}, errBadCursor
		}
	}
	c := cursor{of: of, sort: want, tier: int(n[0]), key: n[1], id: n[2], total: n[3]}
	tiered := want == SortRelevance
	if c.id <= 0 || c.total < 0 || c.total > sortCap+1 || (tiered && c.tier != 1 && c.tier != 2) || (!tiered && c.tier != 0) {
		return cursor{}, errBadCursor
	}
	return c, nil
}
