-- +goose Up
-- Relevance ranks products whose name or brand holds every word of the
-- search above those that match only in the description (SPEC 3.3). This
-- index answers "which products hold the words in their name or brand"
-- exactly, without visiting the rows: the weighted query on products.search
-- ('w':AB) would have to recheck every match of the word in the heap, and
-- for a word that appears in many descriptions but no name that is the
-- whole cost of the search.
CREATE INDEX products_title_search_idx ON products USING gin (to_tsvector('english', name || ' ' || brand));

-- The planner's estimate of a search's matches, now also without a keyword
-- (q NULL): how many rows the filters alone leave. A keyword search that
-- filled its page by walking an index knows the share of walked rows that
-- matched; times this, that is a second estimate of its matches, one that
-- sees a word's correlation with the filters (which the planner assumes
-- independent).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION products_match_estimate(q tsquery, cat bigint, brand text, min_price bigint, max_price bigint, in_stock boolean)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM products p WHERE '
        || CASE WHEN q IS NULL THEN 'true' ELSE format('p.search @@ %L::tsquery', q) END
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION products_match_estimate(q tsquery, cat bigint, brand text, min_price bigint, max_price bigint, in_stock boolean)
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
DROP INDEX products_title_search_idx;
