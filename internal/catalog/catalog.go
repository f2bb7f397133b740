// Package catalog holds products, categories and stock as shoppers browse them.
package catalog

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/db"
)

// Item is a product as lists and cards show it.
type Item struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Brand    string `json:"brand"`
	Category string `json:"category"`
	Price    int64  `json:"price"`
	Stock    int64  `json:"stock"`
}

// Service is the catalogue domain.
type Service struct {
	pool *pgxpool.Pool
	q    *db.Queries
	// observe, when set (tests only), sees the SQL and arguments of every
	// query a search runs, so a test can EXPLAIN exactly what ran.
	observe func(sql string, args []any)
}

func NewService(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, q: db.New(pool)}
}

// Featured is the home page's shelf of popular products in stock.
func (s *Service) Featured(ctx context.Context, limit int32) ([]Item, error) {
	rows, err := s.q.FeaturedProducts(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = Item{ID: r.ID, Name: r.Name, Brand: r.Brand, Category: r.Category, Price: r.Price, Stock: r.Stock}
	}
	return out, nil
}

// Count is the number of products in the catalogue.
func (s *Service) Count(ctx context.Context) (int64, error) {
	return s.q.CountProducts(ctx)
}

// observed wraps a search's transaction so that s.observe sees its queries.
func (s *Service) observed(tx pgx.Tx) db.DBTX {
	if s.observe == nil {
		return tx
	}
	return observer{tx, s.observe}
}

type observer struct {
	tx pgx.Tx
	fn func(sql string, args []any)
}

func (o observer) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	o.fn(sql, args)
	return o.tx.Exec(ctx, sql, args...)
}

func (o observer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	o.fn(sql, args)
	return o.tx.Query(ctx, sql, args...)
}

func (o observer) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	o.fn(sql, args)
	return o.tx.QueryRow(ctx, sql, args...)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
