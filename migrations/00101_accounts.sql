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
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE users;
