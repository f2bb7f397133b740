-- +goose Up
-- Carts, orders and the ledgers that explain every change of balance, points
-- and coupons (stock changes go to stock_ledger, 00102_catalogue.sql). Invariants the
-- consistency report checks:
--   users.balance = sum(balance_ledger.delta), users.points = sum(points_ledger.delta)
--   orders.charged = subtotal - discount - points_used

-- The cart persisted per shopper: one row per product.
CREATE TABLE cart_items (
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id bigint      NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity   integer     NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);

CREATE TABLE orders (
    id              bigserial PRIMARY KEY,
    user_id         bigint      NOT NULL REFERENCES users (id),
    -- from the checkout form; a repeat of the key answers with this order.
    idempotency_key text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- placed → preparing → shipped → delivered, or cancelled before delivery.
    status          text        NOT NULL DEFAULT 'placed'
                    CHECK (status IN ('placed', 'preparing', 'shipped', 'delivered', 'cancelled')),
    subtotal        bigint      NOT NULL CHECK (subtotal > 0),
    discount        bigint      NOT NULL DEFAULT 0 CHECK (discount >= 0),
    points_used     bigint      NOT NULL DEFAULT 0 CHECK (points_used >= 0),
    charged         bigint      NOT NULL CHECK (charged >= 0),
    points_earned   bigint      NOT NULL DEFAULT 0 CHECK (points_earned >= 0),
    coupon_id       bigint REFERENCES coupons (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    cancel_reason   text        CHECK (length(cancel_reason) BETWEEN 1 AND 200),
    -- The delivery address as it was at checkout (recipient, phone,
    -- postal_code, line1, line2): editing or deleting the shopper's
    -- address later changes no order.
    address         jsonb,
    carrier         text        CHECK (length(carrier) BETWEEN 1 AND 50),
    tracking_number text        CHECK (length(tracking_number) BETWEEN 1 AND 50),
    -- What partial refunds and a cancel gave back so far: never more than
    -- was charged, used or earned (the ledgers hold each movement).
    refunded        bigint      NOT NULL DEFAULT 0,
    points_returned bigint      NOT NULL DEFAULT 0,
    points_clawed   bigint      NOT NULL DEFAULT 0,
    UNIQUE (user_id, idempotency_key),
    CHECK (charged = subtotal - discount - points_used),
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    CHECK (status NOT IN ('shipped', 'delivered') OR tracking_number IS NOT NULL),
    CHECK (refunded BETWEEN 0 AND charged),
    CHECK (points_returned BETWEEN 0 AND points_used),
    CHECK (points_clawed BETWEEN 0 AND points_earned)
);
-- The shopper's order list, newest first.
CREATE INDEX orders_user_idx ON orders (user_id, id DESC);
-- Admin lists, "orders today" and the orders export's keyset (created_at, id).
CREATE INDEX orders_created_idx ON orders (created_at, id);
-- The admin list filtered by status, newest first, alone or with dates.
CREATE INDEX orders_status_created_idx ON orders (status, created_at, id);
-- The order that used a coupon: removing a coupon checks that none names it,
-- which without this reads every order. Only orders with a coupon are in it.
CREATE INDEX orders_coupon_idx ON orders (coupon_id) WHERE coupon_id IS NOT NULL;
ALTER TABLE coupons ADD CONSTRAINT coupons_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);

-- Lines as bought: name and price are copied so the order never changes with the catalogue.
CREATE TABLE order_items (
    order_id   bigint  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id bigint  NOT NULL REFERENCES products (id),
    name       text    NOT NULL,
    price      bigint  NOT NULL CHECK (price > 0),
    quantity   integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    refunded   integer NOT NULL DEFAULT 0, -- units refunded so far
    PRIMARY KEY (order_id, product_id),
    CHECK (refunded BETWEEN 0 AND quantity)
);

-- An order's timeline after it was placed: each status an admin (or the
-- shopper, cancelling) moved it to, and each partial refund.
CREATE TABLE order_events (
    id         bigserial   PRIMARY KEY,
    order_id   bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status     text        NOT NULL CHECK (status IN ('preparing', 'shipped', 'delivered', 'cancelled', 'refunded')),
    note       text        NOT NULL DEFAULT '',
    actor_id   bigint      REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Partial refunds, by line: what each gave back. Their amounts add up to
-- orders.refunded (less what a later cancel returned).
CREATE TABLE order_refunds (
    id              bigserial   PRIMARY KEY,
    order_id        bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id      bigint      NOT NULL,
    quantity        integer     NOT NULL CHECK (quantity > 0),
    amount          bigint      NOT NULL CHECK (amount >= 0),
    points_returned bigint      NOT NULL CHECK (points_returned >= 0),
    points_clawed   bigint      NOT NULL CHECK (points_clawed >= 0),
    restocked       boolean     NOT NULL,
    reason          text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    actor_id        bigint      NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (order_id, product_id) REFERENCES order_items (order_id, product_id)
);
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id, id);

-- One row for every change of a shopper's balance.
CREATE TABLE balance_ledger (
    id         bigserial PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    delta      bigint      NOT NULL CHECK (delta <> 0),
    -- adjustment: an admin's correction, with the admin's words in note.
    reason     text        NOT NULL CHECK (reason IN ('topup', 'order', 'refund', 'adjustment')),
    note       text        CHECK (length(note) BETWEEN 1 AND 200),
    order_id   bigint REFERENCES orders (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX balance_ledger_user_idx ON balance_ledger (user_id, id DESC);
-- An order's page lists the ledger rows it caused; top-ups have no order.
CREATE INDEX balance_ledger_order_idx ON balance_ledger (order_id) WHERE order_id IS NOT NULL;
-- The daily top-up cap sums one shopper's top-ups of the last 24 hours under
-- their row lock (internal/order/wallet.go).
CREATE INDEX balance_ledger_topup_idx ON balance_ledger (user_id, created_at) WHERE reason = 'topup';

-- One row for every change of a shopper's points.
CREATE TABLE points_ledger (
    id         bigserial PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    delta      bigint      NOT NULL CHECK (delta <> 0),
    -- spent on an order, earned by one, given back or taken back by a cancel.
    reason     text        NOT NULL CHECK (reason IN ('spent', 'earned', 'refund', 'clawback', 'adjustment')),
    note       text        CHECK (length(note) BETWEEN 1 AND 200),
    order_id   bigint REFERENCES orders (id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX points_ledger_user_idx ON points_ledger (user_id, id DESC);
CREATE INDEX points_ledger_order_idx ON points_ledger (order_id) WHERE order_id IS NOT NULL;

-- Every use of a coupon by an order and every return by a cancel.
CREATE TABLE coupon_ledger (
    id         bigserial PRIMARY KEY,
    coupon_id  bigint      NOT NULL REFERENCES coupons (id),
    order_id   bigint      NOT NULL REFERENCES orders (id),
    event      text        NOT NULL CHECK (event IN ('used', 'restored')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_ledger_coupon_idx ON coupon_ledger (coupon_id);
CREATE INDEX coupon_ledger_order_idx ON coupon_ledger (order_id);

-- +goose Down
DROP TABLE coupon_ledger;
DROP TABLE points_ledger;
DROP TABLE balance_ledger;
DROP TABLE order_refunds;
DROP TABLE order_events;
DROP TABLE order_items;
ALTER TABLE coupons DROP CONSTRAINT coupons_order_id_fkey;
DROP TABLE orders;
DROP TABLE cart_items;
