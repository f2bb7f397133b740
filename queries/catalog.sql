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

-- name: KeywordTerms :many
-- What the words of a keyword search stand for (search_terms): each word's
-- stems, in order, and for each stem the lexemes it matches with the
-- categories that hold them: the stem itself, or for the last word (a
-- prefix) every lexeme it begins, at most max_lexemes + 1 of them. A stem
-- no product holds comes back with an empty lexeme; a stop word not at all.
SELECT w.pos::int AS pos, s.stem::text AS stem, coalesce(t.lexeme, '')::text AS lexeme, t.categories::bigint[] AS categories
FROM unnest(sqlc.arg(words)::text[]) WITH ORDINALITY AS w(word, pos)
CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', w.word))) AS s(stem)
LEFT JOIN LATERAL (
    SELECT st.lexeme, array_agg(st.category_id ORDER BY st.category_id) AS categories
    FROM search_terms st
    WHERE st.lexeme >= s.stem COLLATE "C"
      -- U+10FFFF, the last code point, sorts after every letter a lexeme goes on with.
      AND st.lexeme <= CASE WHEN w.pos = cardinality(sqlc.arg(words)::text[]) THEN s.stem || chr(1114111) ELSE s.stem END COLLATE "C"
    GROUP BY st.lexeme
    ORDER BY st.lexeme
    LIMIT sqlc.arg(max_lexemes)::int + 1
) t ON true
ORDER BY w.pos, s.stem, t.lexeme;

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
-- equality + sort + id.
-- Keyword searches use the same four queries: they walk at most `walk` rows
-- of the sort key's index (stopping as soon as the page is full) and keep the
-- rows that match; a word too rare along that order to fill the page in
-- `walk` rows is served by SearchKeywordExact from its matches instead. For
-- searches without a keyword, walk = page_size and the query is as before.

-- name: CategoryIDBySlug :one
SELECT id FROM categories WHERE slug = $1;

-- name: SearchPriceAsc :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.price AS sort_key, p.walked
FROM (
    SELECT w.id, w.name, w.brand, w.category_id, w.price, w.walked FROM (
        SELECT p.id, p.name, p.brand, p.category_id, p.price, p.search,
               row_number() OVER (ORDER BY p.price, p.id) AS walked
        FROM products p
        WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
          AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
          AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
          AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
          AND (NOT @in_stock::boolean OR p.in_stock)
          AND (sqlc.narg(after_id)::bigint IS NULL OR (p.price, p.id) > (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
        ORDER BY p.price, p.id
        LIMIT @walk
    ) w
    WHERE sqlc.narg(query)::text IS NULL OR (w.search @@ (sqlc.narg(query)::text)::tsquery AND
        CASE @tier::int WHEN 1 THEN w.search @@ (@query_ab::text)::tsquery
                        WHEN 2 THEN NOT w.search @@ (@query_ab::text)::tsquery ELSE true END)
    ORDER BY w.price, w.id
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.price, p.id;

-- name: SearchPriceDesc :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.price AS sort_key, p.walked
FROM (
    SELECT w.id, w.name, w.brand, w.category_id, w.price, w.walked FROM (
        SELECT p.id, p.name, p.brand, p.category_id, p.price, p.search,
               row_number() OVER (ORDER BY p.price DESC, p.id DESC) AS walked
        FROM products p
        WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
          AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
          AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
          AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
          AND (NOT @in_stock::boolean OR p.in_stock)
          AND (sqlc.narg(after_id)::bigint IS NULL OR (p.price, p.id) < (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
        ORDER BY p.price DESC, p.id DESC
        LIMIT @walk
    ) w
    WHERE sqlc.narg(query)::text IS NULL OR (w.search @@ (sqlc.narg(query)::text)::tsquery AND
        CASE @tier::int WHEN 1 THEN w.search @@ (@query_ab::text)::tsquery
                        WHEN 2 THEN NOT w.search @@ (@query_ab::text)::tsquery ELSE true END)
    ORDER BY w.price DESC, w.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.price DESC, p.id DESC;

-- name: SearchNewest :many
-- The keyset key is created_at in microseconds since the epoch (exact, unlike a float).
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.created_at AS sort_key, p.walked
FROM (
    SELECT w.id, w.name, w.brand, w.category_id, w.price, w.created_at, w.walked FROM (
        SELECT p.id, p.name, p.brand, p.category_id, p.price, p.created_at, p.search,
               row_number() OVER (ORDER BY p.created_at DESC, p.id DESC) AS walked
        FROM products p
        WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
          AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
          AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
          AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
          AND (NOT @in_stock::boolean OR p.in_stock)
          AND (sqlc.narg(after_id)::bigint IS NULL OR (p.created_at, p.id) < (sqlc.narg(after_key)::timestamptz, sqlc.narg(after_id)::bigint))
        ORDER BY p.created_at DESC, p.id DESC
        LIMIT @walk
    ) w
    WHERE sqlc.narg(query)::text IS NULL OR (w.search @@ (sqlc.narg(query)::text)::tsquery AND
        CASE @tier::int WHEN 1 THEN w.search @@ (@query_ab::text)::tsquery
                        WHEN 2 THEN NOT w.search @@ (@query_ab::text)::tsquery ELSE true END)
    ORDER BY w.created_at DESC, w.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.created_at DESC, p.id DESC;

-- name: SearchPopular :many
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.popularity AS sort_key, p.walked
FROM (
    SELECT w.id, w.name, w.brand, w.category_id, w.price, w.popularity, w.walked FROM (
        SELECT p.id, p.name, p.brand, p.category_id, p.price, p.popularity, p.search,
               row_number() OVER (ORDER BY p.popularity DESC, p.id DESC) AS walked
        FROM products p
        WHERE (sqlc.narg(category_id)::bigint IS NULL OR p.category_id = sqlc.narg(category_id)::bigint)
          AND (sqlc.narg(brand)::text IS NULL OR p.brand = sqlc.narg(brand)::text)
          AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
          AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
          AND (NOT @in_stock::boolean OR p.in_stock)
          AND (sqlc.narg(after_id)::bigint IS NULL OR (p.popularity, p.id) < (sqlc.narg(after_key)::bigint, sqlc.narg(after_id)::bigint))
        ORDER BY p.popularity DESC, p.id DESC
        LIMIT @walk
    ) w
    WHERE sqlc.narg(query)::text IS NULL OR (w.search @@ (sqlc.narg(query)::text)::tsquery AND
        CASE @tier::int WHEN 1 THEN w.search @@ (@query_ab::text)::tsquery
                        WHEN 2 THEN NOT w.search @@ (@query_ab::text)::tsquery ELSE true END)
    ORDER BY w.popularity DESC, w.id DESC
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.popularity DESC, p.id DESC;

-- name: SearchKeywordExact :many
-- A keyword search's page when walking the sort key's index (the queries
-- above with a bounded `walk`) did not fill it: the word is rare along that
-- order, so the planner starts from the matches instead and sorts them:
-- `match` is the keyword's tsquery over products_match_doc (migration
-- 00011): its words as lexemes of the category filtered to, and the brand
-- filter as a lexeme, so one GIN scan finds the rows that hold the words in
-- that category and brand. The sort key is an expression on purpose, so
-- that no index order applies and the planner cannot fall back to the
-- unbounded walk. `sign` is 1 for an
-- ascending order and -1 for a descending one (the id breaks ties the same
-- way). Tier 1 keeps the products whose name or brand holds every word
-- (products_title_search_idx), tier 2 the others; tier 0 keeps all matches.
SELECT p.id, p.name, p.brand, c.slug AS category, p.price, s.stock, p.sort_key::bigint AS sort_key
FROM (
    SELECT m.id, m.name, m.brand, m.category_id, m.price, m.sort_key FROM (
        SELECT p.id, p.name, p.brand, p.category_id, p.price,
               (CASE @sort_key::text WHEN 'price' THEN p.price
                                     WHEN 'created_at' THEN (extract(epoch FROM p.created_at) * 1000000)::bigint
                                     ELSE p.popularity END) AS sort_key
        FROM products p
        WHERE products_match_doc(p.search, p.category_id, p.brand) @@ (@match::text)::tsquery
          AND CASE @tier::int WHEN 1 THEN to_tsvector('english', p.name || ' ' || p.brand) @@ (@query::text)::tsquery
                              WHEN 2 THEN NOT p.search @@ (@query_ab::text)::tsquery ELSE true END
          AND (sqlc.narg(min_price)::bigint IS NULL OR p.price >= sqlc.narg(min_price)::bigint)
          AND (sqlc.narg(max_price)::bigint IS NULL OR p.price <= sqlc.narg(max_price)::bigint)
          AND (NOT @in_stock::boolean OR p.in_stock)
    ) m
    WHERE sqlc.narg(after_id)::bigint IS NULL
       OR (m.sort_key * @sign::bigint, m.id * @sign::bigint) > (sqlc.narg(after_key)::bigint * @sign::bigint, sqlc.narg(after_id)::bigint * @sign::bigint)
    ORDER BY m.sort_key * @sign::bigint, m.id * @sign::bigint
    LIMIT @page_size
) p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
ORDER BY p.sort_key * @sign::bigint, p.id * @sign::bigint;

-- name: CountKeywordMatches :one
-- Exact count of a keyword's matches up to the cap, in search_docs
-- (migration 00013): `match` is the keyword's tsquery, with the brand filter
-- as a '#brand <brand>' lexeme, and `categories` the categories that may
-- hold the words (NULL: any), so that only their partitions are read. Used
-- only when the first page is not the whole result and no estimate reaches
-- 15,000 matches, so the heap visits stay bounded; broader keywords answer
-- "10,000+" unseen.
SELECT count(*) FROM (
    SELECT 1 FROM search_docs d
    WHERE d.doc @@ (@match::text)::tsquery
      AND (sqlc.narg(categories)::bigint[] IS NULL OR d.category_id = ANY (sqlc.narg(categories)::bigint[]))
      AND (sqlc.narg(min_price)::bigint IS NULL OR d.price >= sqlc.narg(min_price)::bigint)
      AND (sqlc.narg(max_price)::bigint IS NULL OR d.price <= sqlc.narg(max_price)::bigint)
      AND (NOT @in_stock::boolean OR d.in_stock)
    LIMIT @cap
) m;

-- name: CountMatches :one
-- Counts matches of a search without a keyword up to the cap: "10,000+"
-- instead of a slow exact count. Index-only on the composite indexes
-- (in_stock is an INCLUDE column). Keyword searches: CountKeywordMatches.
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
