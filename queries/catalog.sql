-- name: ListCategories :many
SELECT * FROM categories ORDER BY name;

-- name: FeaturedProducts :many
-- The home page's shelf: the most popular products that are in stock.
SELECT p.id, p.name, p.brand, p.price, c.slug AS category, s.stock, p.image_key, pp.alt AS image_alt
FROM products p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
LEFT JOIN product_pictures pp ON pp.product_id = p.id
WHERE s.stock > 0
ORDER BY p.popularity DESC, p.id
LIMIT $1;

-- name: CountProducts :one
SELECT count(*) FROM products;

-- name: ProductDetail :one
-- With its picture's text and dimensions, when it has one (the sizes' bytes
-- stay where they are: the image route serves them).
SELECT p.id, p.sku, p.name, p.brand, c.slug AS category, c.name AS category_name, p.description, p.price, s.stock, p.updated_at,
       p.image_key, pp.alt AS image_alt, pp.large_width, pp.large_height, pp.small_width, pp.small_height
FROM products p
JOIN categories c ON c.id = p.category_id
JOIN product_stock s ON s.product_id = p.id
LEFT JOIN product_pictures pp ON pp.product_id = p.id
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
ON CONFLICT (lower(sku)) DO NOTHING
RETURNING id;

-- name: CreateProductStock :exec
-- The insert trigger copies stock > 0 into products.in_stock.
INSERT INTO product_stock (product_id, stock, opening_stock) VALUES (@product_id, @stock, @stock);

-- name: UpdateProduct :one
UPDATE products SET sku = @sku, name = @name, brand = @brand, category_id = @category_id,
    description = @description, price = @price, updated_at = now()
WHERE id = @id
RETURNING id;

-- name: ProductSKUs :many
-- The SKUs of a page of products, for the admin's list.
SELECT id, sku FROM products WHERE id = ANY(@ids::bigint[]);

-- name: ProductBySKU :one
-- The product a SKU names, however its letters are typed (products_sku_idx).
SELECT id, sku, name FROM products WHERE lower(sku) = lower(@sku);

-- name: AdjustStock :one
-- A guarded update: the row lock serialises concurrent adjustments and
-- checkouts; a decrease below zero or an increase above max_stock matches no
-- row (the CHECK backs the first up). Cancelled orders return their units
-- without the cap, so a stock above it can still be lowered.
UPDATE product_stock SET stock = stock + @delta, version = version + 1
WHERE product_id = @product_id AND stock + @delta >= 0 AND (@delta <= 0 OR stock + @delta <= @max_stock::bigint)
RETURNING stock;

-- name: InsertStockLedger :exec
INSERT INTO stock_ledger (product_id, delta, reason, actor_id) VALUES (@product_id, @delta, @reason, @actor_id);

-- name: ProductExists :one
SELECT EXISTS (SELECT 1 FROM products WHERE id = $1);

-- name: StockHistory :many
-- A product's latest stock ledger rows, newest first (stock_ledger_product_idx),
-- with who made each change (the shopper for orders, the admin otherwise).
SELECT l.id, l.delta, l.reason, l.order_id, l.created_at, u.email AS actor_email
FROM stock_ledger l
LEFT JOIN users u ON u.id = l.actor_id
WHERE l.product_id = $1
ORDER BY l.id DESC
LIMIT $2;
