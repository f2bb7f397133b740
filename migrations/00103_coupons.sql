-- +goose Up
-- Coupon campaigns. Claims happen in Redis (internal/coupon); this is where
-- they are persisted by the write-back flusher and used at checkout.
CREATE TABLE campaigns (
    id               bigserial PRIMARY KEY,
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    discount_type    text        NOT NULL CHECK (discount_type IN ('fixed', 'percent')),
    -- fixed: won off; percent: 1–100 percent off, capped by max_discount won.
    discount_value   bigint      NOT NULL CHECK (discount_value > 0),
    max_discount     bigint      CHECK (max_discount > 0),
    min_order_amount bigint      NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
    total_quantity   bigint      NOT NULL CHECK (total_quantity > 0),
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    valid_days       integer     NOT NULL DEFAULT 7 CHECK (valid_days BETWEEN 1 AND 365),
    -- Redis stripes the stock is split over, each on its own hash slot
    -- (docs/COUPONS.md "Stripes"); fixed once the campaign leaves draft.
    stripes          integer     NOT NULL DEFAULT 1 CHECK (stripes BETWEEN 1 AND 16),
    state            text        NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'active', 'paused', 'ended')),
    -- PostgreSQL decides state, window and total; Redis holds a copy, written
    -- under this row's lock (internal/coupon/sync.go). While a committed
    -- change has not reached Redis yet, this says since when, and the
    -- background sync retries until it is NULL.
    redis_pending_since timestamptz,
    -- coupons persisted so far, updated by the flusher in the same transaction as the inserts.
    persisted_count  bigint      NOT NULL DEFAULT 0 CHECK (persisted_count >= 0),
    -- Rebuilds of the campaign's Redis keys so far. A claim read from Redis
    -- before a rebuild is persisted only under the epoch it was read in: a
    -- stream wiped meanwhile was not counted by the rebuild, which offered
    -- its stock again (docs/COUPONS.md, "What a wipe can and cannot restore").
    redis_epoch      bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (discount_type = 'fixed' OR (discount_value <= 100 AND max_discount IS NOT NULL)),
    CHECK (persisted_count <= total_quantity)
);

-- One coupon per shopper per campaign: the flusher inserts with ON CONFLICT DO NOTHING.
CREATE TABLE coupons (
    id          bigserial PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES campaigns (id),
    user_id     bigint      NOT NULL REFERENCES users (id),
    status      text        NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'used')),
    claimed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    order_id    bigint, -- the order that used it (foreign key in 00104_orders.sql)
    UNIQUE (campaign_id, user_id),
    CHECK ((status = 'used') = (order_id IS NOT NULL))
);
CREATE INDEX coupons_user_idx ON coupons (user_id);
-- Claims per second on the dashboard: a range over every campaign.
CREATE INDEX coupons_claimed_at_idx ON coupons (claimed_at);
-- A cancel gives back its order's coupon; only used coupons name an order.
CREATE INDEX coupons_order_idx ON coupons (order_id) WHERE order_id IS NOT NULL;

-- Stream entries that can never be persisted (unparsable, or refused by a
-- constraint), kept for an admin to inspect and re-drive. One row per entry.
CREATE TABLE coupon_dead_letters (
    id          bigserial PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES campaigns (id),
    stream_id   text        NOT NULL,
    payload     text        NOT NULL,
    error       text        NOT NULL,
    attempts    integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (campaign_id, stream_id)
);

-- What happened to a campaign's Redis state: warmed on activation or start,
-- rebuilt after Redis lost its keys. Read by the consistency report.
CREATE TABLE campaign_events (
    id          bigserial PRIMARY KEY,
    campaign_id bigint      NOT NULL REFERENCES campaigns (id),
    kind        text        NOT NULL CHECK (kind IN ('warm', 'rebuild', 'state')),
    detail      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_events_campaign_idx ON campaign_events (campaign_id, id);
-- The shoppers' page and the flusher list campaigns by state.
CREATE INDEX campaigns_state_idx ON campaigns (state, id);

-- +goose Down
DROP TABLE campaign_events;
DROP TABLE coupon_dead_letters;
DROP TABLE coupons;
DROP TABLE campaigns;
