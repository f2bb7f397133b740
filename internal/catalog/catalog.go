// Package catalog holds products, categories and stock as shoppers browse them.
package catalog

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/semaphore"

	"market/internal/db"
	"market/internal/replica"
)

// Item is a product as lists and cards show it.
type Item struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Brand    string `json:"brand"`
	Category string `json:"category"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
	// Picture is the product's picture, for its card; image_url in JSON.
	Picture PictureKey `json:"image_url"`
	// PictureAlt is the picture's description, where a page of cards
	// asked for it (PictureAlts); search leaves it empty.
	PictureAlt string `json:"-"`
}

// Service is the catalogue domain: products, categories and stock, and
// their writes. Search reads them (internal/search). The shop's pages read
// through reads, which may send them to a replica; writes, and the reads
// that answer a write, use the primary.
type Service struct {
	pool  *pgxpool.Pool
	q     *db.Queries
	reads *replica.Reads
	// decoding bounds the pixels of pictures being decoded at once.
	decoding *semaphore.Weighted
}

func NewService(reads *replica.Reads) *Service {
	pool := reads.Primary()
	return &Service{pool: pool, q: db.New(pool), reads: reads, decoding: semaphore.NewWeighted(decodeBudget)}
}

// read runs one query of a page on the pool reads chooses.
func read[T any](ctx context.Context, s *Service, query func(q *db.Queries) (T, error)) (T, error) {
	var out T
	err := s.reads.Read(ctx, func(pool *pgxpool.Pool) error {
		var err error
		out, err = query(db.New(pool))
		return err
	})
	return out, err
}

// Featured is the home page's shelf of popular products in stock.
func (s *Service) Featured(ctx context.Context, limit int32) ([]Item, error) {
	rows, err := read(ctx, s, func(q *db.Queries) ([]db.FeaturedProductsRow, error) { return q.FeaturedProducts(ctx, limit) })
	if err != nil {
		return nil, err
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = Item{ID: r.ID, Name: r.Name, Brand: r.Brand, Category: r.Category, Price: r.Price, Stock: r.Stock,
			Picture: PictureKeyOf(r.ImageKey)}
		if r.ImageAlt != nil {
			out[i].PictureAlt = *r.ImageAlt
		}
	}
	return out, nil
}

// Count is the number of products in the catalogue.
func (s *Service) Count(ctx context.Context) (int64, error) {
	return s.q.CountProducts(ctx)
}

// Brands lists every brand, for the search form.
func (s *Service) Brands(ctx context.Context) ([]string, error) {
	return read(ctx, s, func(q *db.Queries) ([]string, error) { return q.ListBrands(ctx) })
}

// Categories lists every category, for the search form.
func (s *Service) Categories(ctx context.Context) ([]Category, error) {
	rows, err := read(ctx, s, func(q *db.Queries) ([]db.Category, error) { return q.ListCategories(ctx) })
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
