-- +goose NO TRANSACTION
-- +goose Up
-- The full-text index holds every lexeme of a product twice: as it is, and
-- as '#<category id> <lexeme>'. A keyword search within a category then
-- reads the posting lists of its words in that category alone, instead of
-- intersecting each word's rows in every category with the category's rows
-- (migration 00010's 'category <id>' lexeme): counting "pro" within audio
-- (5,520 rows) read 0.6 ms of index instead of 7.5 ms, 6 ms in all instead
-- of 13. The index grows from 51 to 120 MB at a million products.
--
-- No text can forge these lexemes, or '#brand <brand>': the parser splits
-- at spaces, so none of its lexemes holds one. And no search can reach them
-- by accident: a search's words are letters and digits, so a prefix such as
-- 'bra':* or '1':* cannot match a lexeme that begins with '#'. A lexeme too
-- long to be qualified (tsvector lexemes are at most 2,047 bytes) is left
-- out of its category's lexemes; no search word is that long.
--
-- The index is built and the old one dropped CONCURRENTLY, outside a
-- transaction, so that a shop that is open goes on searching and selling
-- meanwhile. Each step can run again after a failure.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION products_match_doc(search tsvector, category_id bigint, brand text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN search || array_to_tsvector(ARRAY['#brand ' || brand]
    || ARRAY(SELECT '#' || category_id::text || ' ' || l FROM unnest(tsvector_to_array(search)) AS l
             WHERE octet_length(l) + octet_length(category_id::text) + 2 <= 2047));
-- +goose StatementEnd
-- An index left invalid by a failed run is built again.
DROP INDEX CONCURRENTLY IF EXISTS products_match_doc_idx;
CREATE INDEX CONCURRENTLY products_match_doc_idx ON products USING gin (products_match_doc(search, category_id, brand));
DROP INDEX CONCURRENTLY IF EXISTS products_search_doc_idx;
DROP FUNCTION IF EXISTS products_search_doc(tsvector, bigint, text);

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION products_search_doc(search tsvector, category_id bigint, brand text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN search || array_to_tsvector(ARRAY['category ' || category_id::text, 'brand ' || brand]);
-- +goose StatementEnd
DROP INDEX CONCURRENTLY IF EXISTS products_search_doc_idx;
CREATE INDEX CONCURRENTLY products_search_doc_idx ON products USING gin (products_search_doc(search, category_id, brand));
DROP INDEX CONCURRENTLY IF EXISTS products_match_doc_idx;
DROP FUNCTION IF EXISTS products_match_doc(tsvector, bigint, text);
