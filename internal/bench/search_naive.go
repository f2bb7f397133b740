package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"market/internal/search"
)

// naiveSearch is the fair baseline: the search as a reasonable developer
// would first write it. naive_products is a copy of products with the
// single-column indexes such a developer adds for the filters (category_id,
// brand, price) and the primary key; a keyword is ILIKE '%word%' on name,
// brand or description for every word typed; the orders are plain ORDER BY
// (relevance: the products whose name or brand holds every word first, then
// by popularity, as the shop ranks); pages are OFFSET pages; the count is
// capped like the shop's (search.CountCap) and, as an OFFSET page has no
// cursor to carry it, counted on every page. It runs in the bench's
// process on its own pool, without HTTP, against the same PostgreSQL.
type naiveSearch struct {
	pool     *pgxpool.Pool
	pageSize int
}

func (n naiveSearch) page(ctx context.Context, q searchQuery, page int, _ string) (searchPage, error) {
	from, order, args := naiveQuery(q)
	start := time.Now()
	rows, err := n.pool.Query(ctx, "SELECT p.id, p.name, p.brand, c.slug, p.price, s.stock"+from+" ORDER BY "+order+
		" LIMIT "+strconv.Itoa(n.pageSize+1)+" OFFSET "+strconv.Itoa(page*n.pageSize), args...)
	if err != nil {
		return searchPage{}, err
	}
	out := searchPage{status: 200, items: []searchItem{}}
	for rows.Next() {
		var it searchItem
		if err := rows.Scan(&it.ID, &it.Name, &it.Brand, &it.Category, &it.Price, &it.Stock); err != nil {
			rows.Close()
			return searchPage{}, err
		}
		out.items = append(out.items, it)
	}
	if err := rows.Err(); err != nil {
		return searchPage{}, err
	}
	if len(out.items) > n.pageSize {
		out.items = out.items[:n.pageSize]
		out.next = strconv.Itoa((page + 1) * n.pageSize)
	}
	var total int64
	err = n.pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1"+from+" LIMIT "+strconv.Itoa(search.CountCap+1)+") m", args...).Scan(&total)
	if err != nil {
		return searchPage{}, err
	}
	out.total = strconv.FormatInt(total, 10)
	if total > search.CountCap {
		out.total = strconv.Itoa(search.CountCap) + "+"
	}
	out.took = time.Since(start)
	return out, nil
}

// naiveQuery is the naive search's FROM … WHERE clause, its ORDER BY and
// their arguments: every word ILIKE name, brand or description, and the
// filters as the single-column indexes serve them.
func naiveQuery(q searchQuery) (from, order string, args []any) {
	var where []string
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	words := searchWords(q.q)
	var inTitle []string
	for _, w := range words {
		p := arg("%" + w + "%")
		where = append(where, "(p.name ILIKE "+p+" OR p.brand ILIKE "+p+" OR p.description ILIKE "+p+")")
		inTitle = append(inTitle, "(p.name ILIKE "+p+" OR p.brand ILIKE "+p+")")
	}
	if q.category != "" {
		where = append(where, "c.slug = "+arg(q.category))
	}
	if q.brand != "" {
		where = append(where, "p.brand = "+arg(q.brand))
	}
	if q.minPrice >= 0 {
		where = append(where, "p.price >= "+arg(q.minPrice))
	}
	if q.maxPrice >= 0 {
		where = append(where, "p.price <= "+arg(q.maxPrice))
	}
	if q.inStock {
		where = append(where, "s.stock > 0")
	}
	switch q.effectiveSort(len(words) > 0) {
	case string(search.SortPriceAsc):
		order = "p.price, p.id"
	case string(search.SortPriceDesc):
		order = "p.price DESC, p.id DESC"
	case string(search.SortNewest):
		order = "p.created_at DESC, p.id DESC"
	case string(search.SortRelevance):
		order = "(" + strings.Join(inTitle, " AND ") + ") DESC, p.popularity DESC, p.id DESC"
	default:
		order = "p.popularity DESC, p.id DESC"
	}
	cond := "true"
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	return " FROM naive_products p JOIN categories c ON c.id = p.category_id JOIN product_stock s ON s.product_id = p.id WHERE " + cond, order, args
}

// naiveFingerprint sums a table's searchable columns (naive_products or products).
const naiveFingerprint = `SELECT count(*)::text || '/' || coalesce(sum(price), 0)::text || '/' || coalesce(sum(popularity), 0)::text
	|| '/' || coalesce(sum(category_id), 0)::text || '/' || coalesce(sum(hashtext(name || '|' || brand || '|' || description)::bigint), 0)::text
	|| '/' || coalesce(max(created_at)::text, '') FROM `

// ensureNaiveCopy makes naive_products a copy of products with the
// baseline's indexes, rebuilding it when products differ from it.
func ensureNaiveCopy(ctx context.Context, pool *pgxpool.Pool) error {
	var want, have string
	if err := pool.QueryRow(ctx, naiveFingerprint+"products").Scan(&want); err != nil {
		return err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('naive_products') IS NOT NULL").Scan(&exists); err != nil {
		return err
	}
	if exists {
		if err := pool.QueryRow(ctx, naiveFingerprint+"naive_products").Scan(&have); err != nil {
			return err
		}
	}
	indexes := `CREATE INDEX IF NOT EXISTS naive_products_category_idx ON naive_products (category_id);
		CREATE INDEX IF NOT EXISTS naive_products_brand_idx ON naive_products (brand);
		CREATE INDEX IF NOT EXISTS naive_products_price_idx ON naive_products (price)`
	if have == want {
		_, err := pool.Exec(ctx, indexes)
		return err
	}
	fmt.Println("building naive_products (the baseline's copy of products, with its single-column indexes) ...")
	t := time.Now()
	_, err := pool.Exec(ctx, `DROP TABLE IF EXISTS naive_products;
		CREATE TABLE naive_products AS SELECT id, sku, name, brand, category_id, description, price, popularity, created_at, updated_at FROM products;
		ALTER TABLE naive_products ADD PRIMARY KEY (id);`+indexes)
	if err == nil {
		_, err = pool.Exec(ctx, "VACUUM ANALYZE naive_products")
	}
	if err == nil {
		fmt.Printf("built in %s\n", time.Since(t).Round(time.Millisecond))
	}
	return err
}
