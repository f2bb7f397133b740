-- +goose Up
-- Search over products (SPEC 3.3). Every filter shape of GET /products is
-- served by one of the indexes below; queries/catalog.sql names the index
-- each query relies on, and the catalog tests prove it from EXPLAIN.

-- Full-text document: name weighs most, then brand, then description.
-- 'english' stems plurals, so "headphone" and "headphones" meet.
ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', brand), 'B') ||
    setweight(to_tsvector('english', description), 'C')
) STORED;

-- A copy of "stock > 0" on the catalogue row, so that the in_stock filter and
-- its capped count are answered from the indexes below instead of joining a
-- million product_stock rows. The trigger writes it only when stock crosses
-- zero, so checkout's hot counter updates stay on the narrow product_stock
-- row almost always.
ALTER TABLE products ADD COLUMN in_stock boolean NOT NULL DEFAULT false;
UPDATE products p SET in_stock = true FROM product_stock s WHERE s.product_id = p.id AND s.stock > 0;

-- +goose StatementBegin
CREATE FUNCTION products_sync_in_stock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE products SET in_stock = (NEW.stock > 0)
    WHERE id = NEW.product_id AND in_stock IS DISTINCT FROM (NEW.stock > 0);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER product_stock_in_stock_insert AFTER INSERT ON product_stock
    FOR EACH ROW WHEN (NEW.stock > 0) EXECUTE FUNCTION products_sync_in_stock();
CREATE TRIGGER product_stock_in_stock_update AFTER UPDATE OF stock ON product_stock
    FOR EACH ROW WHEN ((OLD.stock > 0) IS DISTINCT FROM (NEW.stock > 0)) EXECUTE FUNCTION products_sync_in_stock();

-- The planner's estimate of how many products match a search. Counting a
-- broad keyword's matches to the 10,000 cap costs a recheck of each heap row
-- (tens of milliseconds); when the estimate is far above the cap the answer
-- is "10,000+" anyway, so the catalog service counts only below that.
-- +goose StatementBegin
CREATE FUNCTION products_match_estimate(q tsquery, cat bigint, brand text, min_price bigint, max_price bigint, in_stock boolean)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM products p WHERE p.search @@ %L::tsquery', q)
        || CASE WHEN cat IS NULL THEN '' ELSE format(' AND p.category_id = %s', cat) END
        || CASE WHEN brand IS NULL THEN '' ELSE format(' AND p.brand = %L', brand) END
        || CASE WHEN min_price IS NULL THEN '' ELSE format(' AND p.price >= %s', min_price) END
        || CASE WHEN max_price IS NULL THEN '' ELSE format(' AND p.price <= %s', max_price) END
        || CASE WHEN in_stock THEN ' AND p.in_stock' ELSE '' END
    INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
END
$$;
-- +goose StatementEnd

CREATE INDEX products_search_idx ON products USING gin (search);

-- Composite B-trees: equality column, then the sort key, then id (the keyset
-- tie-breaker). Descending sorts walk them backwards. in_stock rides along as
-- an INCLUDE column so that capped counts with in_stock=1 stay index-only.
CREATE INDEX products_price_idx          ON products (price, id) INCLUDE (in_stock);
CREATE INDEX products_created_idx        ON products (created_at, id) INCLUDE (in_stock);
CREATE INDEX products_popular_idx        ON products (popularity, id) INCLUDE (in_stock);
CREATE INDEX products_cat_price_idx      ON products (category_id, price, id) INCLUDE (in_stock);
CREATE INDEX products_cat_created_idx    ON products (category_id, created_at, id) INCLUDE (in_stock);
CREATE INDEX products_cat_popular_idx    ON products (category_id, popularity, id) INCLUDE (in_stock);
CREATE INDEX products_brand_price_idx    ON products (brand, price, id) INCLUDE (in_stock);
CREATE INDEX products_brand_created_idx  ON products (brand, created_at, id) INCLUDE (in_stock);
CREATE INDEX products_brand_popular_idx  ON products (brand, popularity, id) INCLUDE (in_stock);

-- +goose Down
DROP INDEX products_brand_popular_idx, products_brand_created_idx, products_brand_price_idx,
    products_cat_popular_idx, products_cat_created_idx, products_cat_price_idx,
    products_popular_idx, products_created_idx, products_price_idx, products_search_idx;
DROP TRIGGER product_stock_in_stock_update ON product_stock;
DROP TRIGGER product_stock_in_stock_insert ON product_stock;
DROP FUNCTION products_sync_in_stock();
DROP FUNCTION products_match_estimate(tsquery, bigint, text, bigint, bigint, boolean);
ALTER TABLE products DROP COLUMN in_stock, DROP COLUMN search;
