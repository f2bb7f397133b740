-- name: ListCategories :many
SELECT * FROM categories ORDER BY name;

-- name: FeaturedProducts :many
-- The home page's shelf: the most popular products that are in stock.
SELECT p.id, p.name, p.brand, p.price, c.slug AS category, s.stock
FROM products p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
WHERE s.stock > 0
ORDER BY p.popularity DESC, p.id
LIMIT $1;

-- name: CountProducts :one
SELECT count(*) FROM products;

-- Search (SPEC 3.3). Without a keyword: one query per sort key, because only a real column in
-- ORDER BY can walk an index; the optional filters are catch-all
-- `(narg IS NULL OR …)` terms. The catalog service runs these with
-- plan_cache_mode = force_custom_plan, so PostgreSQL folds the absent filters
-- away on every execution instead of switching to a generic plan that cannot
-- pick the index matching the filters present. Paging is keyset on
-- (sort key, id); there is no OFFSET. Each query fetches page_size rows
-- (the service asks for one more than it shows to know whether a next page
-- exists) and joins categories and stock only for those rows.
-- Indexes (migrations/00002_search.sql, 00006_search_speed.sql):
-- products_{,cat_,brand_,cat_brand_}{price,created,popular}_idx for
-- equality + sort + id. Keyword searches: SearchKeyword below (GIN).

-- name: CategoryIDBySlug :one
SELECT id FROM categories WHERE slug = $1;

-- name: SearchPriceAsc :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.price AS sort_key
FROM (
    SELECT p.id, p.name, p.brand, p.category_id, p.price FROM products p
    WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
      AND (sqlc.narg(after_id)::bigint IS NULL OR (p.price, p.id) > (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
    ORDER BY p.price, p.id
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.price, p.id;

-- name: SearchPriceDesc :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.price AS sort_key
FROM (
    SELECT p.id, p.name, p.brand, p.category_id, p.price FROM products p
    WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
      AND (sqlc.narg(after_id)::bigint IS NULL OR (p.price, p.id) < (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
    ORDER BY p.price DESC, p.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.price DESC, p.id DESC;

-- name: SearchNewest :many
-- The keyset key is created_at in microseconds since the epoch (exact, unlike a float).
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.created_at AS sort_key
FROM (
    SELECT p.id, p.name, p.brand, p.category_id, p.price, p.created_at FROM products p
    WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
      AND (sqlc.narg(after_id)::bigint IS NULL OR (p.created_at, p.id) < (sqlc.narg(after_key)::timestamptz, sqlc.narg(after_id)::bigint))
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.created_at DESC, p.id DESC;

-- name: SearchPopular :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.popularity AS sort_key
FROM (
    SELECT p.id, p.name, p.brand, p.category_id, p.price, p.popularity FROM products p
    WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
      AND (sqlc.narg(after_id)::bigint IS NULL OR (p.popularity, p.id) < (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
    ORDER BY p.popularity DESC, p.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.popularity DESC, p.id DESC;

-- name: SearchKeyword :many
-- A keyword search works on a bounded candidate set: the GIN index yields at
-- most `candidates` matching rows (in no particular order), and the service
-- sorts those by the order asked for, pages through them by keyset and counts
-- them. Sorting or counting every match of a broad keyword ("pro" matches
-- ~8% of a million rows) would visit a heap row per match; this visits at
-- most `candidates`. When the set is full the page says that the order (and
-- the count) covers the first `candidates` matches. Only the narrow sort keys
-- come back here; ItemsByID fetches the page's rows. The rank (name > brand >
-- description, blended with popularity) is computed only for relevance.
SELECT p.id, p.price, p.created_at, p.popularity,
       (CASE WHEN @rank::boolean
             THEN ts_rank(p.search, to_tsquery('english', @query::text)) * (1 + ln(1 + p.popularity) / 10)
             ELSE 0 END)::float8 AS rank
FROM products p
WHERE p.search @@ to_tsquery('english', @query::text)
  AND (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
  AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
  AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
  AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
  AND (NOT @in_stock::boolean OR p.in_stock)
LIMIT @candidates;

-- name: ItemsByID :many
-- The rows of one page of a keyword search, by primary key; the service
-- puts them back in the page's order.
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock
FROM products p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
WHERE p.id = ANY(@ids::bigint[]);

-- name: CountKeywordMatches :one
-- Exact count of a keyword's matches up to the cap. Used only when the
-- candidate set is full and the planner expects fewer than 15,000 matches, so
-- the heap rechecks stay bounded; broader keywords answer "10,000+" unseen.
SELECT count(*) FROM (
    SELECT 1 FROM products p
    WHERE p.search @@ to_tsquery('english', @query::text)
      AND (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
    LIMIT @cap
) m;

-- name: CountMatches :one
-- Counts matches of a search without a keyword up to the cap: "10,000+"
-- instead of a slow exact count. Index-only on the composite indexes
-- (in_stock is an INCLUDE column). Keyword searches count their candidate set.
SELECT count(*) FROM (
    SELECT 1 FROM products p
    WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
      AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
      AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR p.in_stock)
    LIMIT @cap
) m;

-- name: ProductDetail :one
SELECT p.id, p.sku, p.name, p.brand, c.slug AS category, c.name AS category_name, p.description, p.price, s.stock, p.updated_at
FROM products p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
WHERE p.id = $1;

-- name: ListBrands :many
-- The distinct brands for the filter form, by a loose index scan over
-- products_brand_price_idx (one index probe per brand, not a million rows).
WITH RECURSIVE b AS (
    (SELECT brand FROM products ORDER BY brand LIMIT 1)
    UNION ALL
    SELECT (SELECT p.brand FROM products p WHERE p.brand > b.brand ORDER BY p.brand LIMIT 1)
    FROM b WHERE b.brand IS NOT NULL
)
SELECT brand::text FROM b WHERE brand IS NOT NULL;

-- name: CategoryBySlugOrName :one
SELECT id, slug FROM categories WHERE slug = lower(@name::text) OR lower(name) = lower(@name::text)
ORDER BY slug = lower(@name::text) DESC
LIMIT 1;

-- name: CreateCategory :one
INSERT INTO categories (slug, name) VALUES ($1, $2)
ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
RETURNING id, slug;

-- name: CreateProduct :one
INSERT INTO products (sku, name, brand, category_id, description, price)
VALUES (@sku, @name, @brand, @category_id, @description, @price)
ON CONFLICT (sku) DO NOTHING
RETURNING id;

-- name: CreateProductStock :exec
-- The insert trigger copies stock > 0 into products.in_stock.
INSERT INTO product_stock (product_id, stock, opening_stock) VALUES (@product_id, @stock, @stock);

-- name: UpdateProduct :one
UPDATE products SET sku = @sku, name = @name, brand = @brand, category_id = @category_id,
    description = @description, price = @price, updated_at = now()
WHERE id = @id
RETURNING id;

-- name: SKUTaken :one
SELECT EXISTS (SELECT 1 FROM products WHERE sku = @sku AND id <> @id);

-- name: AdjustStock :one
-- A guarded update: the row lock serialises concurrent adjustments and
-- checkouts, and a result below zero matches no row (and the CHECK backs it up).
UPDATE product_stock SET stock = stock + @delta, version = version + 1
WHERE product_id = @product_id AND stock + @delta >= 0
RETURNING stock;

-- name: InsertStockLedger :exec
INSERT INTO stock_ledger (product_id, delta, reason, actor_id) VALUES (@product_id, @delta, @reason, @actor_id);

-- name: ProductExists :one
SELECT EXISTS (SELECT 1 FROM products WHERE id = $1);

-- name: EstimateMatches :one
-- The planner's estimate for a keyword search (see products_match_estimate).
SELECT products_match_estimate(to_tsquery('english', @query::text), sqlc.narg(category_id)::bigint, sqlc.narg(brand)::text,
    sqlc.narg(min_price)::bigint, sqlc.narg(max_price)::bigint, @in_stock::boolean)::bigint AS estimate;
