-- +goose Up
-- Shoppers and admins. Money, balances, points and stock everywhere in the
-- schema are whole numbers (won, units) in bigint, and CHECK constraints back
-- up the code: none of them can go negative. Sessions live in Redis
-- (internal/account/session.go).
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text        NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role          text        NOT NULL DEFAULT 'shopper' CHECK (role IN ('shopper', 'admin')),
    balance       bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    points        bigint      NOT NULL DEFAULT 0 CHECK (points >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set by an admin: the account cannot log in, and its sessions were ended.
    disabled_at   timestamptz
);
-- Admins find shoppers by the start of their email or name (either case):
-- range scans in code-point order, which a generic plan can use as well.
CREATE INDEX users_email_prefix_idx ON users ((email COLLATE "C"));
CREATE INDEX users_name_prefix_idx ON users ((lower(name) COLLATE "C"));

-- A shopper's delivery addresses. At most one is the default (the partial
-- unique index), which checkout uses when none is chosen; an order keeps a
-- copy of the address it ships to, so deleting one here changes no order.
CREATE TABLE addresses (
    id          bigserial   PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient   text        NOT NULL CHECK (length(recipient) BETWEEN 1 AND 100),
    phone       text        NOT NULL CHECK (phone ~ '^[0-9]{9,11}$'),
    postal_code text        NOT NULL CHECK (postal_code ~ '^[0-9]{5}$'),
    line1       text        NOT NULL CHECK (length(line1) BETWEEN 1 AND 200),
    line2       text        NOT NULL DEFAULT '' CHECK (length(line2) <= 200),
    is_default  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_user_idx ON addresses (user_id, id);
CREATE UNIQUE INDEX addresses_one_default_idx ON addresses (user_id) WHERE is_default;

-- +goose Down
DROP TABLE addresses;
DROP TABLE users;
