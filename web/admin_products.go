package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"market/internal/catalog"
	"market/internal/search"
	"market/views"
)

func (s *Server) adminProducts(w http.ResponseWriter, r *http.Request) error {
	return s.adminProductsWith(w, r, views.Form{}, http.StatusOK)
}

// adminProductsWith renders the list with the new-product form in the given state.
func (s *Server) adminProductsWith(w http.ResponseWriter, r *http.Request, newForm views.Form, status int) error {
	sp, err := parseSearch(r)
	if err != nil {
		return err
	}
	if sp.filter.Sort == "" && sp.filter.Q == "" {
		sp.filter.Sort = search.SortNewest
	}
	p, err := s.Search.Search(r.Context(), sp.filter)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSONVary(w, searchJSON(p))
	}
	sv, err := s.searchView(r, "/admin/products", sp, p)
	if err != nil {
		return err
	}
	ids := make([]int64, len(p.Items))
	for i, it := range p.Items {
		ids[i] = it.ID
	}
	skus, err := s.Catalog.SKUs(r.Context(), ids)
	if err != nil {
		return err
	}
	rows := make([]views.AdminProductRow, len(p.Items))
	for i, it := range p.Items {
		rows[i] = views.AdminProductRow{ID: it.ID, SKU: skus[it.ID], Name: it.Name, Brand: it.Brand, Category: it.Category, Price: it.Price, Stock: it.Stock}
	}
	cats, err := s.categoryOptions(r.Context())
	if err != nil {
		return err
	}
	v := views.AdminProductsView{Search: sv, Rows: rows, New: newForm, Categories: cats}
	// An admin with a SKU in hand finds its product above the keyword's matches.
	if p, ok, err := s.Catalog.BySKU(r.Context(), strings.TrimSpace(sp.filter.Q)); err != nil {
		return err
	} else if ok {
		v.BySKU = views.AdminProductRow{ID: p.ID, SKU: p.SKU, Name: p.Name}
	}
	return s.render(w, r, answer{Status: status, Page: views.AdminProductsPage(v)})
}

// productInput reads the product form; numbers that do not parse are field errors.
func productInput(f *form, withStock bool) catalog.ProductInput {
	in := catalog.ProductInput{
		SKU: f.text("sku", catalog.SKUText), Name: f.text("name", catalog.NameText), Brand: f.text("brand", catalog.BrandText),
		Category: f.text("category", catalog.CategoryText), Description: f.text("description", catalog.DescriptionText),
		Price: f.int64("price", 1, catalog.MaxPrice, true, 0),
	}
	if withStock {
		in.Stock = f.int64("stock", 0, catalog.MaxStock, true, 0)
	}
	return in
}

// newCategory is the category list's "New category…" choice; the name then
// comes from new_category. A slug is made of a–z, 0–9 and dashes, so no
// category can be called this.
const newCategory = "+new"

// chooseCategory settles the product form's category. A browser form picks
// one from the list of existing categories, or picks "New category…" and
// names it, so a typo never makes a public category; a JSON client keeps the
// contract, where a new name creates it (docs/HTTP.md).
func (s *Server) chooseCategory(r *http.Request, f *form, in *catalog.ProductInput) error {
	if strings.TrimSpace(f.values["category"]) == newCategory {
		delete(f.fields, "category")
		in.Category = f.text("new_category", catalog.CategoryText)
		if in.Category == "" {
			if _, bad := f.fields["new_category"]; !bad {
				f.fields.Add("new_category", "Name the new category.")
			}
		}
		return nil
	}
	if wantsJSON(r) || in.Category == "" {
		return nil
	}
	cats, err := s.Catalog.Categories(r.Context())
	if err != nil {
		return err
	}
	if _, ok := findCategory(cats, in.Category); !ok {
		f.fields.Add("category", "Choose a category from the list, or choose “New category…” and name it.")
	}
	return nil
}

// findCategory matches a slug, or a name whatever its case.
func findCategory(cats []catalog.Category, v string) (catalog.Category, bool) {
	for _, c := range cats {
		if c.Slug == v || strings.EqualFold(c.Name, v) {
			return c, true
		}
	}
	return catalog.Category{}, false
}

// categoryOptions is the product form's list of categories.
func (s *Server) categoryOptions(ctx context.Context) ([]views.Option, error) {
	cats, err := s.Catalog.Categories(ctx)
	if err != nil {
		return nil, err
	}
	opts := make([]views.Option, len(cats))
	for i, c := range cats {
		opts[i] = views.Option{Value: c.Slug, Label: c.Name}
	}
	return opts, nil
}

func (s *Server) adminCreateProduct(w http.ResponseWriter, r *http.Request) error {
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := productInput(f, true)
	if err := s.chooseCategory(r, f, &in); err != nil {
		return err
	}
	p, err := s.createProduct(r, f, in)
	if err != nil {
		vf, status, ok := formOf(err, f.values)
		if !ok || wantsJSON(r) {
			return err
		}
		r.URL.RawQuery = ""
		return s.adminProductsWith(w, r, vf, status)
	}
	s.rememberWrite(w, r)
	if wantsJSON(r) {
		return writeJSON(w, http.StatusCreated, p)
	}
	s.sessions.flash(w, r, "success", "Created “"+p.Name+"”.")
	redirect(w, r, "/admin/products/"+strconv.FormatInt(p.ID, 10))
	return nil
}

// productRules judges a product's input as the catalogue does (for errWith).
func productRules(in catalog.ProductInput) func() error {
	return func() error {
		in.Normalize()
		return in.Validate()
	}
}

// createProduct reports the form's parse errors before calling the service.
func (s *Server) createProduct(r *http.Request, f *form, in catalog.ProductInput) (catalog.Product, error) {
	if err := f.errWith(productRules(in)); err != nil {
		return catalog.Product{}, err
	}
	return s.Catalog.Create(r.Context(), in)
}

func (s *Server) adminProduct(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.Catalog.Product(r.Context(), id)
	if err != nil {
		return err
	}
	return s.renderAdminProduct(w, r, p, productForm(p), views.Form{}, views.Form{}, http.StatusOK)
}

func productForm(p catalog.Product) views.Form {
	return views.Form{Values: map[string]string{"sku": p.SKU, "name": p.Name, "brand": p.Brand, "category": p.Category,
		"description": p.Description, "price": strconv.FormatInt(p.Price, 10)}}
}

// renderAdminProduct renders a product's admin page with its three forms
// (details, stock, picture) in the given states.
func (s *Server) renderAdminProduct(w http.ResponseWriter, r *http.Request, p catalog.Product, edit, adjust, picture views.Form, status int) error {
	if wantsJSON(r) {
		return s.render(w, r, answer{Status: status, JSON: p})
	}
	cats, err := s.categoryOptions(r.Context())
	if err != nil {
		return err
	}
	history, err := s.Catalog.StockHistory(r.Context(), p.ID, 20)
	if err != nil {
		return err
	}
	rows := make([]views.StockRow, len(history))
	for i, h := range history {
		rows[i] = views.StockRow{When: views.When(h.At), Delta: h.Delta, Reason: h.Reason, Actor: h.Actor}
		if h.OrderID != nil {
			rows[i].OrderID = *h.OrderID
		}
	}
	return s.render(w, r, answer{Status: status,
		Page: views.AdminProductPage(views.AdminProductView{ID: p.ID, Name: p.Name, Stock: p.Stock, Edit: edit, Adjust: adjust, Categories: cats,
			Picture: p.Picture, CategorySlug: p.Category, PictureForm: picture, StockHistory: rows}),
		JSON: p})
}

func (s *Server) adminUpdateProduct(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	in := productInput(f, false)
	if err := s.chooseCategory(r, f, &in); err != nil {
		return err
	}
	err = f.errWith(productRules(in))
	var p catalog.Product
	if err == nil {
		p, err = s.Catalog.Update(r.Context(), id, in)
	}
	if err != nil {
		return s.productFormFailed(w, r, id, err, f, false)
	}
	return s.productSaved(w, r, p, "Saved “"+p.Name+"”.")
}

func (s *Server) adminAdjustStock(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	f, err := parseForm(r)
	if err != nil {
		return err
	}
	a := catalog.Adjustment{Delta: f.int64("delta", -catalog.MaxStock, catalog.MaxStock, true, 0), Reason: f.text("reason", catalog.ReasonText), ActorID: currentUser(r).ID}
	err = f.errWith(a.Validate)
	var p catalog.Product
	if err == nil {
		p, err = s.Catalog.Adjust(r.Context(), id, a)
	}
	if err != nil {
		return s.productFormFailed(w, r, id, err, f, true)
	}
	return s.productSaved(w, r, p, "Stock of “"+p.Name+"” is now "+views.Count(p.Stock)+".")
}

// productFormFailed re-renders the product page with the failed form's
// messages (the edit form, or the stock form when adjusting), or hands
// other errors on.
func (s *Server) productFormFailed(w http.ResponseWriter, r *http.Request, id int64, err error, f *form, adjusting bool) error {
	vf, status, ok := formOf(err, f.values)
	if !ok || wantsJSON(r) {
		return err
	}
	cur, err := s.Catalog.Product(r.Context(), id)
	if err != nil {
		return err
	}
	edit, adjust := vf, views.Form{}
	if adjusting {
		edit, adjust = productForm(cur), vf
	}
	return s.renderAdminProduct(w, r, cur, edit, adjust, views.Form{}, status)
}

// productSaved answers a successful edit: the product as JSON, or back to its page with a note.
func (s *Server) productSaved(w http.ResponseWriter, r *http.Request, p catalog.Product, msg string) error {
	s.rememberWrite(w, r)
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, p)
	}
	s.sessions.flash(w, r, "success", msg)
	redirect(w, r, "/admin/products/"+strconv.FormatInt(p.ID, 10))
	return nil
}
