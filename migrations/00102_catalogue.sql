-- +goose Up
-- The catalogue and what search reads (docs/SEARCH.md). internal/catalog
-- writes these tables; internal/search only reads them.

CREATE TABLE categories (
    id   bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100)
);

-- Product text as the search reads it: NFKC, as the search reads a keyword
-- (full-width "ＺＥＢＲＡ" is "zebra"). ASCII text is already NFKC: skipping
-- normalize() for it, seeding a million products took 96 s against 107 s.
-- +goose StatementBegin
CREATE FUNCTION search_text(t text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN octet_length(t) = length(t) THEN t ELSE normalize(t, NFKC) END;
-- +goose StatementEnd

-- The wide, indexed catalogue row. The hot stock counter lives in
-- product_stock, so that checkout updates a narrow row and leaves these
-- indexes alone.
CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         text        NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    brand       text        NOT NULL CHECK (length(brand) BETWEEN 1 AND 100),
    category_id bigint      NOT NULL REFERENCES categories (id),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    price       bigint      NOT NULL CHECK (price > 0),
    popularity  bigint      NOT NULL DEFAULT 0 CHECK (popularity >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- "stock > 0", copied from product_stock by the trigger below, so that the
    -- in_stock filter is answered by the catalogue's own indexes.
    in_stock    boolean     NOT NULL DEFAULT false,
    -- The product's picture as its URLs name it, "<hash>.<jpg|png>", copied
    -- from product_pictures by the upload (docs/PICTURES.md), so that search
    -- shows pictures without a join. NULL: no picture.
    image_key   text CHECK (image_key ~ '^[0-9a-f]{32}\.(jpg|png)$'),
    -- The words a keyword search matches: name (weight A), brand (B) and
    -- description (C). 'english' stems, so "headphone" finds "headphones".
    search      tsvector    GENERATED ALWAYS AS (
        setweight(to_tsvector('english', search_text(name)), 'A') ||
        setweight(to_tsvector('english', search_text(brand)), 'B') ||
        setweight(to_tsvector('english', search_text(description)), 'C')) STORED
);
-- A SKU names one product however it is typed: "abc-1" is "ABC-1".
CREATE UNIQUE INDEX products_sku_idx ON products (lower(sku));

CREATE TABLE product_stock (
    product_id    bigint PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    stock         bigint NOT NULL CHECK (stock >= 0),
    -- stock as it was when the product was created: stock = opening_stock + sum(stock_ledger.delta).
    opening_stock bigint NOT NULL CHECK (opening_stock >= 0),
    -- bumped on every change; the optimistic checkout compares it.
    version       bigint NOT NULL DEFAULT 0
);

-- One row for every change of stock after the product was created.
CREATE TABLE stock_ledger (
    id         bigserial PRIMARY KEY,
    product_id bigint      NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    delta      bigint      NOT NULL CHECK (delta <> 0),
    reason     text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    order_id   bigint,
    actor_id   bigint REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_ledger_product_idx ON stock_ledger (product_id, id);
-- An order's page lists the stock rows it caused; admin changes have no order.
CREATE INDEX stock_ledger_order_idx ON stock_ledger (order_id) WHERE order_id IS NOT NULL;

-- A row trigger that fires only when stock crosses zero: the sell-out of a
-- product (or its restock) writes products.in_stock; every other stock
-- change stays on the narrow row.
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

-- A product's picture (docs/PICTURES.md): the file the admin uploaded and
-- the two sizes the shop shows, made from it on upload. Here, not on disk, so
-- that every app instance serves them and a backup holds them. One row per
-- product; a new picture replaces the row (and products.image_key) in one
-- transaction.
CREATE TABLE product_pictures (
    product_id    bigint      PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    -- The first 128 bits of the original's SHA-256 in hex: the sizes' URLs
    -- name it, so a new picture has new URLs and an old one can be cached for ever.
    hash          text        NOT NULL CHECK (hash ~ '^[0-9a-f]{32}$'),
    alt           text        NOT NULL CHECK (length(alt) BETWEEN 1 AND 200),
    original_type text        NOT NULL CHECK (original_type IN ('image/jpeg', 'image/png', 'image/webp')),
    original      bytea       NOT NULL,
    width         int         NOT NULL CHECK (width > 0),
    height        int         NOT NULL CHECK (height > 0),
    -- Both sizes are JPEG, or PNG when the original has transparency.
    sized_type    text        NOT NULL CHECK (sized_type IN ('image/jpeg', 'image/png')),
    large         bytea       NOT NULL, -- at most 960 px wide
    large_width   int         NOT NULL CHECK (large_width > 0),
    large_height  int         NOT NULL CHECK (large_height > 0),
    small         bytea       NOT NULL, -- at most 320 px wide
    small_width   int         NOT NULL CHECK (small_width > 0),
    small_height  int         NOT NULL CHECK (small_height > 0),
    uploaded_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);
-- Serving finds a size by the hash in its URL. Not unique: two products may
-- carry the same file, and then the same bytes.
CREATE INDEX product_pictures_hash_idx ON product_pictures (hash);
-- The files are compressed already: stored out of line without another try.
ALTER TABLE product_pictures ALTER COLUMN original SET STORAGE EXTERNAL,
    ALTER COLUMN large SET STORAGE EXTERNAL, ALTER COLUMN small SET STORAGE EXTERNAL;

-- Search (docs/SEARCH.md says which shape uses which index).
--
-- The words of every product for a keyword's matches, with its category and
-- brand beside them as two more lexemes ("#c 5", "#b Cleanary": no word
-- parses to one that begins with "#"). A keyword with those filters is then
-- one intersection inside the index, which reads the rarer side and skips
-- through the other, instead of two bitmaps of tens of thousands of rows
-- joined after the fact (3-6x the time, docs/SEARCH.md). Writes go straight
-- into the index (fastupdate off): a pending list would be read by every
-- search until it is merged.
-- +goose StatementBegin
CREATE FUNCTION search_doc(words tsvector, category_id bigint, brand text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN words || array_to_tsvector(ARRAY['#c ' || category_id, '#b ' || brand]);
-- +goose StatementEnd
CREATE INDEX products_search_idx ON products USING gin (search_doc(search, category_id, brand)) WITH (fastupdate = off);
-- A brand sells in one category or few: without this the planner takes a
-- brand and its category for independent filters, expects a few rows where
-- the whole brand matches, and sorts them instead of walking the brand's index.
CREATE STATISTICS products_category_brand (dependencies) ON category_id, brand FROM products;
-- Every word (lexeme) of products.search with the number of products that
-- hold it, and of those whose name or brand does, kept exact by the row
-- trigger below. A search reads it before it touches an index: the last
-- word is a prefix, and an OR of the few words it begins costs the index a
-- fraction of a prefix scan (of a word 100,000 products hold: 44-61 ms
-- against 15 ms for the word alone, here); a word no product holds needs no
-- search; one word that more than a thousand products hold matches
-- "1,000+" without a count; and relevance knows when no name holds the
-- words, or few enough to sort them at once.
CREATE TABLE search_words (
    lexeme   text COLLATE "C" PRIMARY KEY, -- byte order: a prefix is a range
    products bigint NOT NULL CHECK (products >= 0),
    titles   bigint NOT NULL CHECK (titles >= 0 AND titles <= products)
);

-- Fires only when a product's text changes (or it comes or goes), never on
-- a stock change. Rows are written in the key's order, so two statements
-- that each write one product queue instead of deadlocking (the app writes
-- one product per transaction; a transaction writing several can deadlock
-- with another and must be retried).
-- +goose StatementBegin
CREATE FUNCTION search_words_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- d: each lexeme's change in products and in titles. The row proposed
    -- for insertion must pass the CHECKs before ON CONFLICT sees the row it
    -- conflicts with, so it carries no negative count; the change itself is
    -- applied by the update.
    WITH d AS (
        SELECT c.lexeme, sum(c.delta) AS p, coalesce(sum(c.delta) FILTER (WHERE c.title), 0) AS t
        FROM (SELECT u.lexeme, 1, u.weights && '{A,B}' FROM unnest(CASE WHEN TG_OP <> 'DELETE' THEN NEW.search END) AS u
              UNION ALL
              SELECT u.lexeme, -1, u.weights && '{A,B}' FROM unnest(CASE WHEN TG_OP <> 'INSERT' THEN OLD.search END) AS u
             ) AS c(lexeme, delta, title)
        GROUP BY c.lexeme
        HAVING sum(c.delta) <> 0 OR coalesce(sum(c.delta) FILTER (WHERE c.title), 0) <> 0)
    INSERT INTO search_words AS w (lexeme, products, titles)
    SELECT d.lexeme, greatest(d.p, 0), greatest(least(d.t, d.p), 0) FROM d
    ORDER BY d.lexeme
    ON CONFLICT (lexeme) DO UPDATE SET products = w.products + (SELECT d.p FROM d WHERE d.lexeme = EXCLUDED.lexeme),
                                       titles = w.titles + (SELECT d.t FROM d WHERE d.lexeme = EXCLUDED.lexeme);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER products_search_words AFTER INSERT OR DELETE OR UPDATE OF name, brand, description ON products
    FOR EACH ROW EXECUTE FUNCTION search_words_count();

-- The words of name and brand only: relevance puts these matches first, and
-- for a word that many descriptions hold but few names this finds them
-- without reading every description match.
-- Name and brand are parsed apart, as products.search does: joined by a
-- space, the parser could read one token across them (a tag "<b" + "Zebco>").
CREATE INDEX products_title_idx ON products USING gin ((to_tsvector('english', search_text(name)) || to_tsvector('english', search_text(brand))))
    WITH (fastupdate = off);
-- Every order a shopper can sort by, alone, within a category and within a
-- brand: the equality column, then the sort key, then id (the keyset
-- tie-break). Descending orders walk them backwards. in_stock rides along so
-- that a capped count with in_stock=1 reads only the index.
CREATE INDEX products_price_idx         ON products (price, id) INCLUDE (in_stock);
CREATE INDEX products_created_idx       ON products (created_at, id) INCLUDE (in_stock);
CREATE INDEX products_popular_idx       ON products (popularity, id) INCLUDE (in_stock);
CREATE INDEX products_cat_price_idx     ON products (category_id, price, id) INCLUDE (in_stock);
CREATE INDEX products_cat_created_idx   ON products (category_id, created_at, id) INCLUDE (in_stock);
CREATE INDEX products_cat_popular_idx   ON products (category_id, popularity, id) INCLUDE (in_stock);
CREATE INDEX products_brand_price_idx   ON products (brand, price, id) INCLUDE (in_stock);
CREATE INDEX products_brand_created_idx ON products (brand, created_at, id) INCLUDE (in_stock);
CREATE INDEX products_brand_popular_idx ON products (brand, popularity, id) INCLUDE (in_stock);

-- +goose Down
DROP TRIGGER products_search_words ON products;
DROP FUNCTION search_words_count();
DROP TABLE search_words;
DROP STATISTICS products_category_brand;
DROP INDEX products_search_idx;
DROP FUNCTION search_doc(tsvector, bigint, text);
DROP TABLE product_pictures;
DROP TABLE stock_ledger;
DROP TABLE product_stock;
DROP FUNCTION products_sync_in_stock();
DROP TABLE products;
DROP FUNCTION search_text(text);
DROP TABLE categories;
