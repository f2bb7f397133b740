-- +goose Up
-- A used coupon names the order that used it. The index serves a cancel's
-- "give back this order's coupon" (RestoreCoupon), which otherwise scans every
-- coupon while holding the shopper's lock, and the foreign key's check when an
-- order row goes away. Only used coupons name an order, so the index is partial.
CREATE INDEX coupons_order_idx ON coupons (order_id) WHERE order_id IS NOT NULL;

-- The app never writes a coupon naming a missing order; only a hand edit
-- can have. Such a coupon is drift to be understood (the consistency report
-- shows it), not data for a migration to rewrite: refuse, and say which.
-- +goose StatementBegin
DO $$
DECLARE
    orphans bigint[];
BEGIN
    SELECT array_agg(c.id ORDER BY c.id) INTO orphans
    FROM coupons c
    WHERE c.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = c.order_id);
    IF orphans IS NOT NULL THEN
        RAISE EXCEPTION 'coupons % name orders that do not exist; point them at their order (or set them issued with no order) before this migration', orphans;
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE coupons ADD CONSTRAINT coupons_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);

-- The daily top-up cap sums one shopper's top-ups of the last 24 hours under
-- their row lock (internal/order/wallet.go).
CREATE INDEX balance_ledger_topup_idx ON balance_ledger (user_id, created_at) WHERE reason = 'topup';

-- +goose Down
DROP INDEX balance_ledger_topup_idx;
ALTER TABLE coupons DROP CONSTRAINT coupons_order_id_fkey;
DROP INDEX coupons_order_idx;
