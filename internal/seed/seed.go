// Package seed fills a database with a demo shop or a large generated
// catalogue, through COPY for the bulk rows.
package seed

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/account"
)

// Demo logins printed by `make run`.
const (
	DemoShopperEmail    = "shopper@opener.market"
	DemoShopperPassword = "shopper-password"
)

// Options says how much to generate.
type Options struct {
	Products int
	Shoppers int
	Out      io.Writer // progress and the logins
}

// bulkAt is the batch size from which Products drops the catalogue's
// secondary indexes, loads the rows and builds the indexes again: one sort
// per index is far cheaper than a million single-row index insertions.
const bulkAt = 50_000

// Products loads n generated products through COPY, continuing the ids after
// the largest one present, and reports progress to out. Everything happens in
// one transaction, so an interrupted seed leaves nothing behind; afterwards
// VACUUM ANALYZE sets the visibility map (index-only counts) and statistics.
func Products(ctx context.Context, pool *pgxpool.Pool, n int, out io.Writer) error {
	if n <= 0 {
		return nil
	}
	if out == nil {
		out = io.Discard
	}
	catIDs, err := ensureCategories(ctx, pool)
	if err != nil {
		return err
	}
	var first int64
	if err := pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) + 1 FROM products").Scan(&first); err != nil {
		return err
	}
	gen := &productGen{rng: rand.New(rand.NewPCG(uint64(first), 42)), now: time.Now(), catIDs: catIDs, first: first}
	start := time.Now()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return loadProducts(ctx, tx, gen, n, out) }); err != nil {
		return err
	}
	t := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) products, product_stock"); err != nil {
		return err
	}
	fmt.Fprintf(out, "vacuum analyze in %s; %d products seeded in %s\n", time.Since(t).Round(time.Millisecond), n, time.Since(start).Round(time.Millisecond))
	return nil
}

// loadProducts writes n products and their stock in tx, with the triggers
// (and, from bulkAt on, the secondary indexes) set aside while the rows go in
// and their work done once afterwards.
func loadProducts(ctx context.Context, tx pgx.Tx, gen *productGen, n int, out io.Writer) error {
	// search_words is counted once, set-based, after the rows are in,
	// instead of by its row trigger a million times.
	if _, err := tx.Exec(ctx, "ALTER TABLE products DISABLE TRIGGER products_search_words"); err != nil {
		return err
	}
	var indexes []string
	if n >= bulkAt {
		var err error
		if indexes, err = dropSecondaryIndexes(ctx, tx); err != nil {
			return err
		}
		// The rows below carry in_stock already; the per-row trigger would only re-check it.
		if _, err := tx.Exec(ctx, "ALTER TABLE product_stock DISABLE TRIGGER product_stock_in_stock_insert"); err != nil {
			return err
		}
	}
	stocks, err := copyProducts(ctx, tx, gen, n, out)
	if err != nil {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"product_stock"}, []string{"product_id", "stock", "opening_stock"},
		pgx.CopyFromSlice(len(stocks), func(j int) ([]any, error) {
			return []any{gen.first + int64(j), stocks[j], stocks[j]}, nil
		}))
	if err != nil {
		return err
	}
	if n >= bulkAt {
		if _, err := tx.Exec(ctx, "ALTER TABLE product_stock ENABLE TRIGGER product_stock_in_stock_insert"); err != nil {
			return err
		}
		if err := buildIndexes(ctx, tx, indexes, out); err != nil {
			return err
		}
	}
	if err := countWords(ctx, tx, gen.first, out); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products))")
	return err
}

// copyProducts copies n generated products into products, and returns each
// one's stock for product_stock.
func copyProducts(ctx context.Context, tx pgx.Tx, gen *productGen, n int, out io.Writer) ([]int64, error) {
	progress := newProgress(out, "products", n)
	i := 0
	stocks := make([]int64, 0, n)
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"products"},
		[]string{"id", "sku", "name", "brand", "category_id", "description", "price", "popularity", "in_stock", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			row, stock := gen.row(gen.first + int64(i))
			stocks = append(stocks, stock)
			i++
			progress.add(1)
			return row, nil
		}))
	progress.done()
	return stocks, err
}

// productGen draws the generated products one after another from one seeded
// source, so the same first id gives the same catalogue.
type productGen struct {
	rng    *rand.Rand
	now    time.Time
	catIDs []int64
	first  int64 // the id of the first product
}

// row draws product id's column values (in copyProducts' order) and its stock.
func (g *productGen) row(id int64) ([]any, int64) {
	rng := g.rng
	ci := rng.IntN(len(categories))
	c := categories[ci]
	// Brands are skewed too: the first brand of a category sells the most lines.
	brand := c.brands[min(int(rng.ExpFloat64()*1.5), len(c.brands)-1)]
	noun := c.nouns[rng.IntN(len(c.nouns))]
	name := fmt.Sprintf("%s %s %s %d %s", brand, series[rng.IntN(len(series))], noun, 1+rng.IntN(12), colours[rng.IntN(len(colours))])
	if rng.IntN(10) == 0 {
		name += " " + lineName(rng.IntN(lineNames)) // a rare word, as real catalogues have
	}
	created := g.now.Add(-time.Duration(rng.Int64N(int64(730 * 24 * time.Hour))))
	stock := skewedStock(rng)
	return []any{id, fmt.Sprintf("SKU-%07d", id), name, brand, g.catIDs[ci], description(rng, c, noun),
		price(rng, c.minP, c.maxP), popularity(rng), stock > 0, created, created}, stock
}

// dropSecondaryIndexes drops the indexes of products that are neither the
// primary key nor unique (those guard data), and returns their definitions.
func dropSecondaryIndexes(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
		FROM pg_index WHERE indrelid = 'products'::regclass AND NOT indisprimary AND NOT indisunique`)
	if err != nil {
		return nil, err
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		names, defs = append(names, name), append(defs, def)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := tx.Exec(ctx, "DROP INDEX "+name); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

// countWords adds the words of the products from id first on to
// search_words, as the trigger it stands in for would have, and turns the
// trigger back on.
func countWords(ctx context.Context, tx pgx.Tx, first int64, out io.Writer) error {
	t := time.Now()
	_, err := tx.Exec(ctx, `INSERT INTO search_words AS w (lexeme, products, titles)
		SELECT u.lexeme, count(*), count(*) FILTER (WHERE u.weights && '{A,B}')
		FROM products p, unnest(p.search) AS u WHERE p.id >= $1
		GROUP BY u.lexeme ORDER BY u.lexeme
		ON CONFLICT (lexeme) DO UPDATE SET products = w.products + EXCLUDED.products, titles = w.titles + EXCLUDED.titles`, first)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE products ENABLE TRIGGER products_search_words"); err != nil {
		return err
	}
	fmt.Fprintf(out, "search words counted in %s\n", time.Since(t).Round(time.Millisecond))
	return nil
}

func buildIndexes(ctx context.Context, tx pgx.Tx, defs []string, out io.Writer) error {
	if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = '512MB'"); err != nil {
		return err
	}
	for k, def := range defs {
		t := time.Now()
		fmt.Fprintf(out, "index %2d / %d  %s", k+1, len(defs), def)
		if _, err := tx.Exec(ctx, def); err != nil {
			return err
		}
		fmt.Fprintf(out, "  in %s\n", time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// description reads like a listing: two of the category's selling points,
// a line about the product itself and a shop promise.
func description(rng *rand.Rand, c category, noun string) string {
	a := rng.IntN(len(c.descriptions))
	b := (a + 1 + rng.IntN(len(c.descriptions)-1)) % len(c.descriptions)
	return fmt.Sprintf("%s %s This %s %s %s",
		c.descriptions[a], c.descriptions[b], strings.ToLower(noun), details[rng.IntN(len(details))], promises[rng.IntN(len(promises))])
}

func ensureCategories(ctx context.Context, pool *pgxpool.Pool) ([]int64, error) {
	ids := make([]int64, len(categories))
	for i, c := range categories {
		err := pool.QueryRow(ctx, `INSERT INTO categories (slug, name) VALUES ($1, $2)
			ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name RETURNING id`, c.slug, c.name).Scan(&ids[i])
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// price is log-uniform in the category's band, ending in 00 or 900 like real prices.
func price(rng *rand.Rand, lo, hi int64) int64 {
	p := int64(math.Exp(math.Log(float64(lo)) + rng.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
	if p >= 10000 && rng.IntN(2) == 0 {
		p = p/1000*1000 + 900
	} else {
		p = p / 100 * 100
	}
	return min(max(p, lo), hi)
}

// skewedStock: some sold out, some nearly gone, most plenty, a long tail of big lots.
func skewedStock(rng *rand.Rand) int64 {
	switch r := rng.Float64(); {
	case r < 0.05:
		return 0
	case r < 0.15:
		return 1 + rng.Int64N(5)
	case r < 0.95:
		return 10 + rng.Int64N(200)
	default:
		return 500 + rng.Int64N(5000)
	}
}

// popularity follows a power law: a few products sell most.
func popularity(rng *rand.Rand) int64 {
	return int64(10000 / math.Pow(1+rng.Float64()*999, 1.2))
}

// Shoppers creates the demo shopper and n more (shopper1@example.test …),
// all with the demo password, hashed once.
func Shoppers(ctx context.Context, pool *pgxpool.Pool, n int, out io.Writer) error {
	hash, err := account.HashPassword(DemoShopperPassword)
	if err != nil {
		return err
	}
	// The demo shopper can check out at once: an address to ship to.
	if _, err := pool.Exec(ctx, `WITH u AS (INSERT INTO users (email, password_hash, name) VALUES ($1, $2, 'Demo Shopper')
			ON CONFLICT (email) DO NOTHING RETURNING id)
		INSERT INTO addresses (user_id, recipient, phone, postal_code, line1, line2, is_default)
		SELECT id, 'Demo Shopper', '01012345678', '06236', '152 Teheran-ro, Gangnam-gu, Seoul', 'Floor 12', true FROM u`,
		DemoShopperEmail, hash); err != nil {
		return err
	}
	if n <= 0 {
		return nil
	}
	var first int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(substring(email from '^shopper(\d+)@example\.test$')::bigint), 0) + 1 FROM users`).Scan(&first); err != nil {
		return err
	}
	progress := newProgress(out, "shoppers", n)
	i := 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"email", "password_hash", "name"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			k := first + int64(i)
			i++
			progress.add(1)
			return []any{fmt.Sprintf("shopper%d@example.test", k), hash, fmt.Sprintf("Shopper %d", k)}, nil
		}))
	progress.done()
	return err
}
