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
