-- +goose NO TRANSACTION
-- +goose Up
-- The full-text indexes take each product write at once instead of through
-- GIN's pending list. With the list on (PostgreSQL's default), every write
-- that changes a product row — an edit, or checkout selling the last unit
-- (in_stock) — appends its entries to a list that every keyword search then
-- reads in full, until a write that crosses gin_pending_list_limit (4 MB),
-- a VACUUM or an ANALYZE merges it: 2,000 such writes (291 list pages) made
-- "pro" in audio 1.5-2.5 ms slower at p50, and the write that merges pays
-- for all of them. Without the list a single-row update took about 0.5 ms
-- longer here (400 updates, 0.92 s against 0.73 s). The catalogue is read
-- far more than it is written, so searches should not wait on writes.
ALTER INDEX products_match_doc_idx SET (fastupdate = off);
ALTER INDEX products_title_search_idx SET (fastupdate = off);
-- Turning the list off leaves what it holds; merge it now. Outside a
-- transaction, so that the index's lock is not held while merging.
SELECT gin_clean_pending_list('products_match_doc_idx'::regclass);
SELECT gin_clean_pending_list('products_title_search_idx'::regclass);

-- +goose Down
ALTER INDEX products_match_doc_idx RESET (fastupdate);
ALTER INDEX products_title_search_idx RESET (fastupdate);
