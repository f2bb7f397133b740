package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"market/internal/catalog"
	"market/internal/errs"
	"market/internal/search"
	"market/views"
)

// catalogRoutes: the shoppers' search and product pages, and the admin's products.
func (s *Server) catalogRoutes(r chi.Router) {
	r.Get("/products", s.h(s.search))
	r.Get("/products/{id}", s.h(s.product))
	r.Get("/images/{name}", s.h(s.picture))
	r.Group(func(r chi.Router) {
		r.Use(s.requireUser, s.requireAdmin)
		r.Get("/admin/products", s.h(s.adminProducts))
		r.Post("/admin/products", s.h(s.adminCreateProduct))
		r.Get("/admin/products/{id}", s.h(s.adminProduct))
		r.Post("/admin/products/{id}", s.h(s.adminUpdateProduct))
		r.Post("/admin/products/{id}/stock", s.h(s.adminAdjustStock))
		r.Post("/admin/products/{id}/image", s.h(s.adminUploadPicture))
	})
}

// searchParams is the search query string, parsed and checked.
type searchParams struct {
	filter search.Filter
	raw    url.Values
	// trail is the cursors of the pages before this one (page 2 has none: its
	// previous page is the first), so Previous stays keyset (docs/HTTP.md).
	trail []string
	// trailCut: older cursors were dropped to keep links short; the page
	// number is then unknown and Previous ends on the first page.
	trailCut bool
}

// maxTrail bounds the cursor trail: 50 pages back, a link of a few KB.
const maxTrail = 50

// trailSep joins cursors in the trail parameter; cursors are base64url and
// never hold it.
const trailSep = "."

// parseSearch reads q, category, brand, min_price, max_price, in_stock, sort
// and after. Malformed numbers are field errors (422), never a 500.
func parseSearch(r *http.Request) (searchParams, error) {
	raw := r.URL.Query()
	f := newForm(raw)
	in := search.Filter{
		Q:        f.text("q", search.KeywordText),
		Category: f.text("category", search.CategoryFilterText),
		Brand:    f.text("brand", search.BrandFilterText),
		Sort:     search.Sort(f.str("sort", 20)),
		After:    f.str("after", 200),
	}
	for name, dst := range map[string]**int64{"min_price": &in.MinPrice, "max_price": &in.MaxPrice} {
		if v := f.values[name]; v != "" {
			n := f.int64(name, 0, catalog.MaxPrice, false, 0)
			*dst = &n
		}
	}
	switch f.values["in_stock"] {
	case "", "0", "false":
	case "1", "true", "on":
		in.InStock = true
	default:
		f.fields.Add("in_stock", "Use in_stock=1 to show only products in stock.")
	}
	if err := f.err(); err != nil {
		return searchParams{}, err
	}
	if err := in.Validate(); err != nil {
		return searchParams{}, err
	}
	sp := searchParams{filter: in, raw: raw}
	if t := raw.Get("trail"); t != "" {
		if in.After == "" { // the first page has no pages before it
			return searchParams{}, errBadTrail
		}
		if t[0] == '~' {
			sp.trailCut, t = true, t[1:]
		}
		sp.trail = strings.Split(t, trailSep)
		if len(sp.trail) > maxTrail {
			return searchParams{}, errBadTrail
		}
		for _, c := range sp.trail {
			back := in
			back.After = c
			if back.Validate() != nil {
				return searchParams{}, errBadTrail
			}
		}
	}
	return sp, nil
}

var errBadTrail = errs.New(errs.Invalid, "That page link is broken or out of date. Start again from the first page.")

// pageLinks fills the Previous and Next links and the page number. The links
// keep every filter, the order the page used, and the trail.
func pageLinks(v *views.SearchView, path string, sp searchParams, next string) {
	base := cloneValues(sp.raw)
	base.Del("after")
	base.Del("trail")
	base.Set("sort", v.Sort) // a cursor belongs to the order it was made in
	after := sp.filter.After
	v.Page = 1
	if after != "" {
		v.Page = len(sp.trail) + 2
		if sp.trailCut {
			v.Page = 0 // unknown
		}
	}
	link := func(after string, trail []string, cut bool) string {
		q := cloneValues(base)
		if after != "" {
			q.Set("after", after)
		}
		if len(trail) > 0 {
			t := strings.Join(trail, trailSep)
			if cut {
				t = "~" + t
			}
			q.Set("trail", t)
		}
		return path + "?" + q.Encode()
	}
	if next != "" {
		trail, cut := sp.trail, sp.trailCut
		if after != "" {
			trail = append(slices.Clone(trail), after)
		}
		if len(trail) > maxTrail {
			trail, cut = trail[len(trail)-maxTrail:], true
		}
		v.NextURL = link(next, trail, cut)
	}
	if after != "" {
		if n := len(sp.trail); n > 0 {
			v.PrevURL = link(sp.trail[n-1], sp.trail[:n-1], sp.trailCut)
		} else {
			v.PrevURL = link("", nil, false)
		}
	}
}

// activeFilters counts the filters that narrow the results (the keyword and
// the order are not filters): the number on the phone's "Filters" button.
func activeFilters(f search.Filter) int {
	n := 0
	for _, on := range []bool{f.Category != "", f.Brand != "", f.MinPrice != nil, f.MaxPrice != nil, f.InStock} {
		if on {
			n++
		}
	}
	return n
}

// searchJSON is the search answer of GET /products; total is a number or, when capped,
// the string "1000+".
func searchJSON(p search.Page) map[string]any {
	var total any = p.Total
	if p.Capped {
		total = strconv.FormatInt(p.Total, 10) + "+"
	}
	out := map[string]any{"items": p.Items, "next_cursor": p.NextCursor, "total": total}
	if p.Notice != "" && len(p.Items) == 0 {
		out["message"] = p.Notice
	}
	return out
}

// searchView fills the search page's view model.
func (s *Server) searchView(r *http.Request, path string, sp searchParams, p search.Page) (views.SearchView, error) {
	cats, err := s.Catalog.Categories(r.Context())
	if err != nil {
		return views.SearchView{}, err
	}
	brands, err := s.Catalog.Brands(r.Context())
	if err != nil {
		return views.SearchView{}, err
	}
	f := sp.raw
	v := views.SearchView{
		Q: f.Get("q"), Category: f.Get("category"), Brand: f.Get("brand"), MinPrice: f.Get("min_price"), MaxPrice: f.Get("max_price"),
		Sort: string(p.Sort), InStock: sp.filter.InStock, Total: p.Total, Capped: p.Capped, Notice: p.Notice, Paged: sp.filter.After != "",
	}
	for _, c := range cats {
		v.Categories = append(v.Categories, views.Option{Value: c.Slug, Label: c.Name})
	}
	for _, b := range brands {
		v.Brands = append(v.Brands, views.Option{Value: b, Label: b})
	}
	for _, o := range search.Sorts {
		v.Sorts = append(v.Sorts, views.Option{Value: string(o), Label: sortLabels[o]})
	}
	alts, err := s.pictureAlts(r, p.Items)
	if err != nil {
		return views.SearchView{}, err
	}
	for _, it := range p.Items {
		it.PictureAlt = alts[it.ID]
		v.Items = append(v.Items, views.ProductCard(it))
	}
	v.ActiveFilters = activeFilters(sp.filter)
	pageLinks(&v, path, sp, p.NextCursor)
	if len(p.Items) == 0 {
		for _, k := range []string{"q", "category", "brand", "min_price", "max_price", "in_stock"} {
			if f.Get(k) == "" {
				continue
			}
			less := cloneValues(f)
			less.Del(k)
			less.Del("after")
			v.Clear = append(v.Clear, views.Option{Value: path + "?" + less.Encode(), Label: "Clear " + filterLabels[k]})
		}
	}
	return v, nil
}

var sortLabels = map[search.Sort]string{
	search.SortRelevance: "Best match", search.SortPriceAsc: "Price: low to high", search.SortPriceDesc: "Price: high to low",
	search.SortNewest: "Newest", search.SortPopular: "Most popular",
}

var filterLabels = map[string]string{
	"q": "the keyword", "category": "the category", "brand": "the brand", "min_price": "the lowest price",
	"max_price": "the highest price", "in_stock": "“in stock only”",
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if len(vs) > 0 && vs[0] != "" {
			out.Set(k, vs[0])
		}
	}
	return out
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	sp, err := parseSearch(r)
	if err != nil {
		return err
	}
	p, err := s.Search.Search(r.Context(), sp.filter)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSONVary(w, searchJSON(p))
	}
	v, err := s.searchView(r, "/products", sp, p)
	if err != nil {
		return err
	}
	return s.render(w, r, answer{Page: views.SearchPage(v), Fragment: views.SearchResults(v)})
}

// writeJSONVary answers JSON without building the HTML view model.
func writeJSONVary(w http.ResponseWriter, v any) error {
	w.Header().Set("Vary", "HX-Request, Accept")
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) product(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.Catalog.Product(r.Context(), id)
	if err != nil {
		return err
	}
	return s.render(w, r, answer{
		Page: views.ProductPage(views.ProductView{ID: p.ID, Name: p.Name, Brand: p.Brand, Category: p.CategoryName, CategorySlug: p.Category,
			SKU: p.SKU, Description: p.Description, Price: p.Price, Stock: p.Stock, Picture: p.Picture}),
		JSON: p,
	})
}

// pictureAlts reads the descriptions of the pictures among a page of
// results, for their cards' alt text (search itself carries only the
// pictures' keys: docs/PICTURES.md).
func (s *Server) pictureAlts(r *http.Request, items []catalog.Item) (map[int64]string, error) {
	var ids []int64
	for _, it := range items {
		if it.Picture != "" {
			ids = append(ids, it.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return s.Catalog.PictureAlts(r.Context(), ids)
}
