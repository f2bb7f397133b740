package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The naive baseline searches naive_products: a copy of products with only a
// primary key (no composite, no GIN index), pages by OFFSET, matches keywords
// by ILIKE '%q%', joins stock for in_stock, and counts exactly. It is what a
// first version of the search would do; it runs in the same process against
// the same PostgreSQL, side by side with the indexed path.

// ensureNaiveCopy creates naive_products once (rebuilt when the row count differs).
func ensureNaiveCopy(ctx context.Context, pool *pgxpool.Pool) error {
	var have, want int64
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM products),
		coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'naive_products'), -1)`).Scan(&want, &have)
	if err != nil {
		return err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('naive_products') IS NOT NULL").Scan(&exists); err != nil {
		return err
	}
	if exists {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM naive_products").Scan(&n); err != nil {
			return err
		}
		if n == want {
			return nil
		}
	}
	fmt.Println("building naive_products (a copy without search indexes) ...")
	t := time.Now()
	_, err = pool.Exec(ctx, `DROP TABLE IF EXISTS naive_products;
		CREATE TABLE naive_products AS SELECT id, sku, name, brand, category_id, description, price, popularity, created_at FROM products;
		ALTER TABLE naive_products ADD PRIMARY KEY (id)`)
	if err == nil {
		_, err = pool.Exec(ctx, "VACUUM ANALYZE naive_products")
	}
	if err == nil {
		fmt.Printf("built in %s\n", time.Since(t).Round(time.Millisecond))
	}
	return err
}

// runNaive runs the shape against the naive table: per page one query with
// OFFSET and one exact count. Returns the time per page.
func runNaive(ctx context.Context, pool *pgxpool.Pool, sh searchShape) (time.Duration, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	q := sh.query
	if kw := strings.TrimSpace(q.Get("q")); kw != "" {
		for _, w := range strings.Fields(kw) {
			p := arg("%" + w + "%")
			where = append(where, "(p.name ILIKE "+p+" OR p.brand ILIKE "+p+" OR p.description ILIKE "+p+")")
		}
	}
	if c := q.Get("category"); c != "" {
		where = append(where, "c.slug = "+arg(c))
	}
	if b := q.Get("brand"); b != "" {
		where = append(where, "p.brand = "+arg(b))
	}
	if v := q.Get("min_price"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		where = append(where, "p.price >= "+arg(n))
	}
	if v := q.Get("max_price"); v != "" {
		n, _ := strconv.ParseInt(v, 10, 64)
		where = append(where, "p.price <= "+arg(n))
	}
	if q.Get("in_stock") != "" {
		where = append(where, "s.stock > 0")
	}
	order := map[string]string{"price_asc": "p.price, p.id", "price_desc": "p.price DESC, p.id DESC", "newest": "p.created_at DESC, p.id DESC",
		"popular": "p.popularity DESC, p.id DESC", "": "p.popularity DESC, p.id DESC", "relevance": "p.popularity DESC, p.id DESC"}[q.Get("sort")]
	cond := "true"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	from := " FROM naive_products p JOIN categories c ON c.id = p.category_id JOIN product_stock s ON s.product_id = p.id WHERE " + cond
	start := time.Now()
	for page := range sh.pages {
		rows, err := pool.Query(ctx, "SELECT p.id, p.name, p.brand, c.slug, p.price, s.stock"+from+" ORDER BY "+order+
			" LIMIT 21 OFFSET "+strconv.Itoa(page*20), args...)
		if err != nil {
			return 0, err
		}
		if _, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int64, error) {
			var id, price, stock int64
			var name, brand, slug string
			return id, r.Scan(&id, &name, &brand, &slug, &price, &stock)
		}); err != nil {
			return 0, err
		}
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*)"+from, args...).Scan(&n); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(sh.pages), nil
}
