-- CSV exports (internal/export): each reads a batch after a keyset cursor,
-- so an export of any size is many short statements, each within the
-- request's statement timeout, and holds one batch in memory.

-- name: ExportOrders :many
-- Orders placed in [from, before), of one status or all, in the order of
-- orders_created_idx (created_at, id).
SELECT o.id, o.created_at, o.user_id, u.email, o.status, o.subtotal, o.discount, o.points_used,
       o.charged, o.points_earned, o.coupon_id, o.cancelled_at
FROM orders o
JOIN users u ON u.id = o.user_id
WHERE (o.created_at, o.id) > (@after_at::timestamptz, @after_id::bigint)
  AND o.created_at < @before::timestamptz
  AND (sqlc.narg(status)::text IS NULL OR o.status = sqlc.narg(status)::text)
ORDER BY o.created_at, o.id
LIMIT @lim;

-- name: ExportClaims :many
-- A campaign's coupons in the order of its unique (campaign_id, user_id) index.
SELECT c.id, c.user_id, u.email, c.status, c.claimed_at, c.expires_at, c.used_at, c.order_id
FROM coupons c
JOIN users u ON u.id = c.user_id
WHERE c.campaign_id = @campaign_id AND c.user_id > @after_user
ORDER BY c.user_id
LIMIT @lim;

-- name: ExportStockLedger :many
SELECT id, product_id, delta, reason, order_id, actor_id, created_at
FROM stock_ledger WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: ExportBalanceLedger :many
SELECT id, user_id, delta, reason, note, order_id, created_at
FROM balance_ledger WHERE id > @after_id ORDER BY id LIMIT @lim;

-- name: ExportPointsLedger :many
SELECT id, user_id, delta, reason, note, order_id, created_at
FROM points_ledger WHERE id > @after_id ORDER BY id LIMIT @lim;
