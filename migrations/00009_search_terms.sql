-- +goose Up
-- Every lexeme of products.search with the categories whose products hold
-- it (SPEC 3.3). A keyword search reads it first:
-- - the last word is a prefix ("head" finds "headphones"); the lexemes it
--   begins are listed here, and an OR of a few exact lexemes is several
--   times cheaper for the GIN index than a prefix scan;
-- - a word held by one category only ("jacket") is searched within that
--   category, walking its composite index in the sort order, instead of
--   sorting every match of the word;
-- - a word no product holds answers "no match" without a search.
-- It is a superset: rows are added when products are inserted or changed and
-- never removed, so a search may look in a category that no longer holds a
-- word, but never misses one that does. (A load that turns triggers off must
-- fill it as the backfill at the end of this migration does.)
CREATE TABLE search_terms (
    lexeme      text COLLATE "C" NOT NULL, -- byte order: a prefix is a range
    category_id bigint NOT NULL,
    PRIMARY KEY (lexeme, category_id)
);

-- +goose StatementBegin
CREATE FUNCTION search_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows in one order (the key's), so that two statements adding the same
    -- terms queue instead of deadlocking. An update adds only the rows whose
    -- text or category changed: checkout's in_stock flips add nothing.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_terms (lexeme, category_id)
        SELECT DISTINCT l.lexeme COLLATE "C", n.category_id
        FROM new_rows n, unnest(tsvector_to_array(n.search)) AS l(lexeme)
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO search_terms (lexeme, category_id)
        SELECT DISTINCT l.lexeme COLLATE "C", n.category_id
        FROM new_rows n JOIN old_rows o USING (id), unnest(tsvector_to_array(n.search)) AS l(lexeme)
        WHERE n.search IS DISTINCT FROM o.search OR n.category_id <> o.category_id
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- Once per statement: a COPY of a million products adds its terms in one go.
CREATE TRIGGER products_search_terms_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_add();
CREATE TRIGGER products_search_terms_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_terms_add();

INSERT INTO search_terms (lexeme, category_id)
SELECT DISTINCT l.lexeme, p.category_id FROM products p, unnest(tsvector_to_array(p.search)) AS l(lexeme);

-- +goose Down
DROP TRIGGER products_search_terms_update ON products;
DROP TRIGGER products_search_terms_insert ON products;
DROP FUNCTION search_terms_add();
DROP TABLE search_terms;
