-- +goose Up
-- The admin dashboard and order pages (issue 6, dashboard half).

-- Claims per second over the last minutes: a range scan on claimed_at across
-- every campaign (coupons_user_idx and the unique (campaign_id, user_id) cannot serve it).
CREATE INDEX coupons_claimed_at_idx ON coupons (claimed_at);

-- An order's detail page lists the ledger rows it caused; without these each
-- ledger would be scanned whole. Partial: top-ups and admin stock changes have no order.
CREATE INDEX balance_ledger_order_idx ON balance_ledger (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX points_ledger_order_idx ON points_ledger (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX coupon_ledger_order_idx ON coupon_ledger (order_id);
CREATE INDEX stock_ledger_order_idx ON stock_ledger (order_id) WHERE order_id IS NOT NULL;

-- +goose Down
DROP INDEX stock_ledger_order_idx;
DROP INDEX coupon_ledger_order_idx;
DROP INDEX points_ledger_order_idx;
DROP INDEX balance_ledger_order_idx;
DROP INDEX coupons_claimed_at_idx;
