-- +goose Up
-- Category + brand together (SPEC 3.3: equality columns first, then the sort
-- key, then id). With only (category_id, …) or (brand, …) one of the two
-- equalities was a row filter; these make both of them index conditions.
CREATE INDEX products_cat_brand_price_idx   ON products (category_id, brand, price, id) INCLUDE (in_stock);
CREATE INDEX products_cat_brand_created_idx ON products (category_id, brand, created_at, id) INCLUDE (in_stock);
CREATE INDEX products_cat_brand_popular_idx ON products (category_id, brand, popularity, id) INCLUDE (in_stock);

-- +goose Down
DROP INDEX products_cat_brand_popular_idx, products_cat_brand_created_idx, products_cat_brand_price_idx;
