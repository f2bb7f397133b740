-- +goose Up
-- The full-text index holds every lexeme of a product twice: as it is, and
-- as '<category id> <lexeme>'. A keyword search within a category then reads
-- the posting lists of its words in that category alone, instead of
-- intersecting each word's rows in every category with the category's rows
-- (migration 00010's 'category <id>' lexeme): counting "pro" within audio
-- (5,520 rows) read 0.6 ms of index instead of 7.5 ms, 6 ms in all instead
-- of 13. The index grows from 51 to 121 MB at a million products. As
-- before, no word of a product's text can become one of these lexemes, or
-- the 'brand <brand>' one: the parser splits text at spaces, so no lexeme it
-- makes holds one.
SET LOCAL maintenance_work_mem = '512MB';
-- +goose StatementBegin
CREATE FUNCTION products_match_doc(search tsvector, category_id bigint, brand text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN search || array_to_tsvector(ARRAY['brand ' || brand]
    || ARRAY(SELECT category_id::text || ' ' || l FROM unnest(tsvector_to_array(search)) AS l));
-- +goose StatementEnd
CREATE INDEX products_match_doc_idx ON products USING gin (products_match_doc(search, category_id, brand));
DROP INDEX products_search_doc_idx;
DROP FUNCTION products_search_doc(tsvector, bigint, text);

-- +goose Down
SET LOCAL maintenance_work_mem = '512MB';
-- +goose StatementBegin
CREATE FUNCTION products_search_doc(search tsvector, category_id bigint, brand text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN search || array_to_tsvector(ARRAY['category ' || category_id::text, 'brand ' || brand]);
-- +goose StatementEnd
CREATE INDEX products_search_doc_idx ON products USING gin (products_search_doc(search, category_id, brand));
DROP INDEX products_match_doc_idx;
DROP FUNCTION products_match_doc(tsvector, bigint, text);
