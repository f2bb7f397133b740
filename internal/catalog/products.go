package catalog

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/text/unicode/norm"

	"market/internal/audit"
	"market/internal/db"
	"market/internal/errs"
	"market/internal/text"
)

// Product is the whole product, as its page and the admin form show it.
type Product struct {
	ID           int64     `json:"id"`
	SKU          string    `json:"sku"`
	Name         string    `json:"name"`
	Brand        string    `json:"brand"`
	Category     string    `json:"category"`
	CategoryName string    `json:"-"`
	Description  string    `json:"description"`
	Price        int64     `json:"price"`
	Stock        int64     `json:"stock"`
	UpdatedAt    time.Time `json:"-"`
	// The picture: image_url (the large size) and image_alt in JSON, both
	// null without one; Picture has what the product page needs.
	ImageURL *string  `json:"image_url"`
	ImageAlt *string  `json:"image_alt"`
	Picture  *Picture `json:"-"`
}

// Bounds of the product form (the schema's CHECKs back them up).
const (
	MaxStock    = 1_000_000_000
	MaxPrice    = 1_000_000_000 // a billion won
	maxSKU      = 64
	maxName     = 200
	MaxBrand    = 100
	MaxCategory = 100
	maxDesc     = 5000
	maxReason   = 200
)

// Text rules of the product form (package text). Names, brands and
// categories are shown as labels and links, so they refuse format characters;
// only the description has lines.
var (
	SKUText         = text.Options{Label: "The SKU", Max: maxSKU}
	NameText        = text.Options{Label: "The name", Max: maxName, Name: true}
	BrandText       = text.Options{Label: "The brand", Max: MaxBrand, Name: true}
	CategoryText    = text.Options{Label: "The category", Max: MaxCategory, Name: true}
	DescriptionText = text.Options{Label: "The description", Max: maxDesc, Multiline: true}
	ReasonText      = text.Options{Label: "The reason", Max: maxReason}
)

var (
	skuPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	errNoProduct = errs.New(errs.NotFound, "We could not find that product.")
)

// ProductInput is the admin's product form. Stock is the opening stock of a
// new product; an existing product's stock changes only by adjustment.
type ProductInput struct {
	SKU, Name, Brand, Category, Description string
	Price, Stock                            int64
}

// Normalize trims what a person would not mean to type.
func (in *ProductInput) Normalize() {
	in.SKU = strings.TrimSpace(in.SKU)
	in.Name = strings.TrimSpace(in.Name)
	in.Brand = strings.TrimSpace(in.Brand)
	in.Category = strings.TrimSpace(in.Category)
	in.Description = strings.TrimSpace(strings.ReplaceAll(in.Description, "\r\n", "\n"))
}

// Validate checks the product rules with a message per field.
func (in ProductInput) Validate() error {
	f := errs.Fields{}
	field := func(name, v string, o text.Options, required bool) {
		if err := text.Check(v, o); err != nil {
			f.Add(name, err.Error())
		} else if required && v == "" {
			f.Add(name, o.Label+" is required.")
		}
	}
	field("sku", in.SKU, SKUText, true)
	if _, bad := f["sku"]; !bad {
		f.Check(skuPattern.MatchString(in.SKU), "sku", "Use letters, digits, dots, dashes and underscores in a SKU.")
	}
	field("name", in.Name, NameText, true)
	field("brand", in.Brand, BrandText, true)
	field("category", in.Category, CategoryText, true)
	field("description", in.Description, DescriptionText, false)
	f.Check(in.Price >= 1 && in.Price <= MaxPrice, "price", "Enter a price from ₩1 to ₩1,000,000,000.")
	f.Check(in.Stock >= 0 && in.Stock <= MaxStock, "stock", "Enter a stock from 0 to 1,000,000,000.")
	if _, bad := f["category"]; !bad && slugify(in.Category) == "" {
		f.Add("category", "A category name needs at least one letter or digit (a–z, 0–9).")
	}
	return f.Err()
}

// slugify makes "Phones & Tablets" into "phones-tablets", and "Ümlaut Café"
// into "umlaut-cafe": letters lose their accents (NFKD, marks dropped) rather
// than vanish.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(norm.NFKD.String(s)) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

func errSKUTaken(sku string) error {
	return &errs.Error{Code: errs.Conflict, Message: "The SKU " + sku + " is already used by another product.",
		Fields: map[string]string{"sku": "This SKU is already used by another product."}}
}

// Product returns one product with its stock, for its page.
func (s *Service) Product(ctx context.Context, id int64) (Product, error) {
	return read(ctx, s, func(q *db.Queries) (Product, error) { return product(ctx, q, id) })
}

// SKUs returns the SKUs of the given products, for the admin's list.
func (s *Service) SKUs(ctx context.Context, ids []int64) (map[int64]string, error) {
	rows, err := read(ctx, s, func(q *db.Queries) ([]db.ProductSKUsRow, error) { return q.ProductSKUs(ctx, ids) })
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Sku
	}
	return out, nil
}

// SKUMatch is the product a SKU names.
type SKUMatch struct {
	ID        int64
	SKU, Name string
}

// BySKU returns the product a SKU names, however its letters are typed;
// false when none does (or sku cannot be one).
func (s *Service) BySKU(ctx context.Context, sku string) (SKUMatch, bool, error) {
	if len(sku) > maxSKU || !skuPattern.MatchString(sku) {
		return SKUMatch{}, false, nil
	}
	r, err := read(ctx, s, func(q *db.Queries) (db.ProductBySKURow, error) { return q.ProductBySKU(ctx, sku) })
	if errors.Is(err, pgx.ErrNoRows) {
		return SKUMatch{}, false, nil
	}
	return SKUMatch{ID: r.ID, SKU: r.Sku, Name: r.Name}, err == nil, err
}

// product reads one product through q: the primary's, when the product was
// just written or is about to be.
func product(ctx context.Context, q *db.Queries, id int64) (Product, error) {
	r, err := q.ProductDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Product{}, errNoProduct
	}
	if err != nil {
		return Product{}, err
	}
	p := Product{ID: r.ID, SKU: r.Sku, Name: r.Name, Brand: r.Brand, Category: r.Category, CategoryName: r.CategoryName,
		Description: r.Description, Price: r.Price, Stock: r.Stock, UpdatedAt: r.UpdatedAt}
	if key := PictureKeyOf(r.ImageKey); key != "" && r.ImageAlt != nil {
		p.Picture = &Picture{Key: key, Alt: *r.ImageAlt, LargeWidth: int(*r.LargeWidth), LargeHeight: int(*r.LargeHeight),
			SmallWidth: int(*r.SmallWidth), SmallHeight: int(*r.SmallHeight)}
		url := key.URL(LargeWidth)
		p.ImageURL, p.ImageAlt = &url, r.ImageAlt
	}
	return p, nil
}

// category finds a category by slug or name, creating it when the admin
// names a new one. A new name whose slug is taken ("Shoes!" where "Shoes"
// exists) is that category: CreateCategory answers the existing row.
func category(ctx context.Context, q *db.Queries, name string) (int64, error) {
	c, err := q.CategoryBySlugOrName(ctx, name)
	if err == nil {
		return c.ID, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	created, err := q.CreateCategory(ctx, db.CreateCategoryParams{Slug: slugify(name), Name: name})
	return created.ID, err
}

// Create adds a product with its opening stock.
func (s *Service) Create(ctx context.Context, in ProductInput) (Product, error) {
	in.Normalize()
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	var id int64
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		catID, err := category(ctx, q, in.Category)
		if err != nil {
			return err
		}
		id, err = q.CreateProduct(ctx, db.CreateProductParams{Sku: in.SKU, Name: in.Name, Brand: in.Brand, CategoryID: catID,
			Description: in.Description, Price: in.Price})
		if errors.Is(err, pgx.ErrNoRows) {
			return errSKUTaken(in.SKU)
		}
		if err != nil {
			return err
		}
		if err := q.CreateProductStock(ctx, db.CreateProductStockParams{ProductID: id, Stock: in.Stock}); err != nil {
			return err
		}
		after := audited(in)
		after["stock"] = in.Stock
		return audit.Record(ctx, q, audit.Product, "create", audit.Subject("product", id), nil, after)
	})
	if err != nil {
		return Product{}, err
	}
	return product(ctx, s.q, id)
}

// audited is what the audit trail keeps of a product's details, named as in
// forms and JSON (docs/HTTP.md).
func audited(in ProductInput) map[string]any {
	return map[string]any{"sku": in.SKU, "name": in.Name, "brand": in.Brand, "category": in.Category, "description": in.Description, "price": in.Price}
}

// Update changes a product's details; its stock is left alone (see Adjust).
func (s *Service) Update(ctx context.Context, id int64, in ProductInput) (Product, error) {
	in.Normalize()
	if err := in.Validate(); err != nil {
		return Product{}, err
	}
	before, err := product(ctx, s.q, id)
	if err != nil {
		return Product{}, err
	}
	err = db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		catID, err := category(ctx, q, in.Category)
		if err != nil {
			return err
		}
		_, err = q.UpdateProduct(ctx, db.UpdateProductParams{ID: id, Sku: in.SKU, Name: in.Name, Brand: in.Brand, CategoryID: catID,
			Description: in.Description, Price: in.Price})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errNoProduct
		case isUniqueViolation(err):
			return errSKUTaken(in.SKU)
		case err != nil:
			return err
		}
		return audit.Record(ctx, q, audit.Product, "edit", audit.Subject("product", id),
			audited(ProductInput{SKU: before.SKU, Name: before.Name, Brand: before.Brand, Category: before.Category, Description: before.Description, Price: before.Price}),
			audited(in))
	})
	if err != nil {
		return Product{}, err
	}
	return product(ctx, s.q, id)
}

// Adjustment is a signed change of stock with the reason an admin gave.
type Adjustment struct {
	Delta   int64
	Reason  string
	ActorID int64
}

// Validate checks the adjustment form.
func (a Adjustment) Validate() error {
	f := errs.Fields{}
	f.Check(a.Delta != 0 && a.Delta >= -MaxStock && a.Delta <= MaxStock, "delta", "Enter a change from -1,000,000,000 to 1,000,000,000, not 0.")
	if err := text.Check(a.Reason, ReasonText); err != nil {
		f.Add("reason", err.Error())
	}
	f.Check(strings.TrimSpace(a.Reason) != "", "reason", "Give a reason of 1 to 200 characters.")
	return f.Err()
}

// Adjust changes a product's stock by delta and writes the stock ledger row
// in the same transaction, so stock = opening stock + sum of the ledger holds.
func (s *Service) Adjust(ctx context.Context, productID int64, a Adjustment) (Product, error) {
	a.Reason = strings.TrimSpace(a.Reason)
	if err := a.Validate(); err != nil {
		return Product{}, err
	}
	err := db.WithTx(ctx, s.pool, func(q *db.Queries) error {
		stock, err := q.AdjustStock(ctx, db.AdjustStockParams{ProductID: productID, Delta: a.Delta, MaxStock: MaxStock})
		if errors.Is(err, pgx.ErrNoRows) {
			exists, err := q.ProductExists(ctx, productID)
			if err != nil {
				return err
			}
			if !exists {
				return errNoProduct
			}
			if a.Delta > 0 {
				return &errs.Error{Code: errs.Conflict, Message: "Stock cannot go above 1,000,000,000.",
					Fields: map[string]string{"delta": "That would take the stock above 1,000,000,000."}}
			}
			return &errs.Error{Code: errs.Conflict, Message: "Stock cannot go below zero.",
				Fields: map[string]string{"delta": "That would take the stock below zero."}}
		} else if err != nil {
			return err
		}
		var actor *int64
		if a.ActorID > 0 {
			actor = &a.ActorID
		}
		if err := q.InsertStockLedger(ctx, db.InsertStockLedgerParams{ProductID: productID, Delta: a.Delta, Reason: a.Reason, ActorID: actor}); err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Product, "stock", audit.Subject("product", productID),
			map[string]any{"stock": stock - a.Delta}, map[string]any{"stock": stock, "delta": a.Delta, "reason": a.Reason})
	})
	if err != nil {
		return Product{}, err
	}
	return product(ctx, s.q, productID)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// StockEntry is one change of a product's stock, as its ledger holds it.
type StockEntry struct {
	Delta   int64
	Reason  string
	OrderID *int64
	Actor   string // the email of who changed it ("" when nobody is recorded)
	At      time.Time
}

// StockHistory is a product's latest n stock changes, newest first.
func (s *Service) StockHistory(ctx context.Context, productID int64, n int32) ([]StockEntry, error) {
	rows, err := s.q.StockHistory(ctx, db.StockHistoryParams{ProductID: productID, Limit: n})
	out := make([]StockEntry, len(rows))
	for i, r := range rows {
		out[i] = StockEntry{Delta: r.Delta, Reason: r.Reason, OrderID: r.OrderID, At: r.CreatedAt}
		if r.ActorEmail != nil {
			out[i].Actor = *r.ActorEmail
		}
	}
	return out, err
}
