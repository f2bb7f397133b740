-- +goose Up
-- A keyword search counts its matches in search_docs: a narrow copy of each
-- product's words (its tsvector without positions or weights, plus its brand
-- as '#brand <brand>'), price and in_stock, partitioned by category. Counting
-- to the 10,000 cap visits a heap page per match or so, and that is the
-- count's cost: "robot vacuum" (10,468 matches, all in appliances) visits
-- 9,477 pages of products, spread through the whole catalogue, and 3,143
-- pages of appliances' partition (24 rows a page against products' 12),
-- 8 ms instead of 15-19 ms here. The row is written in the same transaction
-- as the product, by the triggers below, so a count sees what its search
-- sees.
-- +goose StatementBegin
CREATE FUNCTION search_doc(search tsvector, brand text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN strip(search) || array_to_tsvector(ARRAY['#brand ' || brand]);
-- +goose StatementEnd

CREATE TABLE search_docs (
    category_id bigint NOT NULL,
    id          bigint NOT NULL,
    price       bigint NOT NULL,
    in_stock    boolean NOT NULL,
    doc         tsvector NOT NULL,
    PRIMARY KEY (id, category_id) -- id first: the triggers find a product's row by its id
) PARTITION BY LIST (category_id);

-- Every category has its partition, made when the category is, in its
-- transaction. CREATE TABLE ... PARTITION OF locks search_docs (ACCESS
-- EXCLUSIVE) until that transaction ends: counts and product writes wait for
-- the admin who adds a category. That lock is what makes every other session
-- see the partition before it can see the category: with ATTACH PARTITION,
-- which locks less, a product written into the new category right after it
-- was committed sometimes found no partition (the committing session's cache
-- invalidations had not reached the writer yet; 1 run in 15 of the
-- concurrency test). A transaction must create its category before it writes
-- products, or it can deadlock with another doing the same.
-- +goose StatementBegin
CREATE FUNCTION search_docs_add_partition(category bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF search_docs FOR VALUES IN (%s)', 'search_docs_' || category, category);
END
$$;
CREATE FUNCTION categories_add_search_docs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_docs_add_partition(NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER categories_search_docs AFTER INSERT ON categories
    FOR EACH ROW EXECUTE FUNCTION categories_add_search_docs();
SELECT search_docs_add_partition(id) FROM categories;

-- Once per statement, as search_terms (migration 00009): a COPY of a million
-- products writes their rows in one go. The rows of the products a statement
-- touched (for an update, those whose words, brand, category, price or stock
-- state changed) are written again from products as they are when the
-- trigger runs, not from the transition rows: one query can change a product
-- again before this trigger runs (inserting a product and its stock in one
-- statement flips in_stock first), and the last trigger to run then still
-- leaves the product's row as it is. A product that changes category moves
-- to that category's partition.
-- +goose StatementBegin
CREATE FUNCTION search_docs_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(n.id) INTO ids FROM new_rows n JOIN old_rows o USING (id)
        WHERE (n.search, n.brand, n.category_id, n.price, n.in_stock) IS DISTINCT FROM (o.search, o.brand, o.category_id, o.price, o.in_stock);
    ELSE
        SELECT array_agg(id) INTO ids FROM old_rows;
    END IF;
    DELETE FROM search_docs d USING unnest(ids) AS t(id) WHERE d.id = t.id;
    INSERT INTO search_docs (category_id, id, price, in_stock, doc)
    SELECT p.category_id, p.id, p.price, p.in_stock, search_doc(p.search, p.brand)
    FROM products p JOIN unnest(ids) AS t(id) ON t.id = p.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER products_search_docs_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_docs_sync();
CREATE TRIGGER products_search_docs_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_docs_sync();
CREATE TRIGGER products_search_docs_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION search_docs_sync();

-- CREATE TRIGGER has locked products against writes until this transaction
-- ends, so none is missed: an open shop can search but not edit or sell out a
-- product meanwhile, 12 s at a million products with the index.
INSERT INTO search_docs (category_id, id, price, in_stock, doc)
SELECT category_id, id, price, in_stock, search_doc(search, brand) FROM products;
-- Built after the rows are in: one sort per partition. No pending list, as
-- for products' full-text indexes (migration 00012).
CREATE INDEX search_docs_doc_idx ON search_docs USING gin (doc) WITH (fastupdate = off);

-- +goose Down
DROP TRIGGER products_search_docs_delete ON products;
DROP TRIGGER products_search_docs_update ON products;
DROP TRIGGER products_search_docs_insert ON products;
DROP FUNCTION search_docs_sync();
DROP TRIGGER categories_search_docs ON categories;
DROP FUNCTION categories_add_search_docs();
DROP FUNCTION search_docs_add_partition(bigint);
DROP TABLE search_docs;
DROP FUNCTION search_doc(tsvector, text);
