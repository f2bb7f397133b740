-- +goose Up
-- Money, balances, points and stock are whole numbers (won, units) in bigint.
-- CHECK constraints back up the code: nothing here can ever go negative.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text        NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          text        NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'admin')),
    balance       bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    points        bigint      NOT NULL DEFAULT 0 CHECK (points >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE categories (
    id   bigserial PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100)
);

-- The wide, indexed catalogue row. Stock lives in product_stock so that the
-- hot counter updates at checkout touch a narrow row and leave these indexes alone.
CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    sku         text        NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    brand       text        NOT NULL CHECK (length(brand) BETWEEN 1 AND 100),
    category_id bigint      NOT NULL REFERENCES categories (id),
    description text        NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    price       bigint      NOT NULL CHECK (price > 0),
    popularity  bigint      NOT NULL DEFAULT 0 CHECK (popularity >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

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
CREATE INDEX stock_ledger_product_idx ON stock_ledger (product_id);

-- +goose Down
DROP TABLE stock_ledger;
DROP TABLE product_stock;
DROP TABLE products;
DROP TABLE categories;
DROP TABLE users;
