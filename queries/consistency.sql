-- name: InsertConsistencyRun :one
INSERT INTO consistency_runs (kind, trigger, actor_id, took_ms, ok, summary, checks)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: LatestConsistencyRuns :many
SELECT id, kind, trigger, actor_id, ran_at, took_ms, ok, summary FROM consistency_runs
ORDER BY ran_at DESC, id DESC
LIMIT $1;

-- name: GetConsistencyRun :one
SELECT * FROM consistency_runs WHERE id = $1;

-- name: LastConsistencyRun :one
SELECT * FROM consistency_runs WHERE kind = 'run' ORDER BY ran_at DESC, id DESC LIMIT 1;

-- name: ProductStockDrift :many
-- Set-based: one pass over product_stock joined to the ledger's sums. Only
-- products whose stock differs from opening stock plus their ledger (or is
-- negative) come back, at most $1 of them. products (the wide row) is joined
-- only to those few, for their names: joining it to a million rows first
-- quadruples the run (measured in docs/PERFORMANCE.md).
SELECT d.product_id, p.name, d.stock, d.expected
FROM (
    SELECT s.product_id, s.stock, (s.opening_stock + coalesce(l.total, 0))::bigint AS expected
    FROM product_stock s
    LEFT JOIN (SELECT product_id, sum(delta)::bigint AS total FROM stock_ledger GROUP BY product_id) l ON l.product_id = s.product_id
    WHERE s.stock <> s.opening_stock + coalesce(l.total, 0) OR s.stock < 0
    ORDER BY s.product_id
    LIMIT $1
) d
JOIN products p ON p.id = d.product_id
ORDER BY d.product_id;

-- name: CountProductStock :one
SELECT count(*) FROM product_stock;

-- name: CountSubjects :one
-- The denominators of the summary rows, in one round trip.
SELECT (SELECT count(*) FROM users)::bigint                        AS users,
       (SELECT count(*) FROM orders)::bigint                       AS orders,
       (SELECT count(*) FROM coupons WHERE status = 'used')::bigint AS used_coupons;

-- name: WalletDrift :many
-- Set-based: each ledger is summed once per shopper (one pass each over
-- balance_ledger and points_ledger), joined to users. Only shoppers whose
-- balance or points differ from their ledger, or are negative, come back.
SELECT u.id, u.email, u.balance, u.points,
       coalesce(b.total, 0)::bigint AS balance_ledger, coalesce(b.n, 0)::bigint AS balance_rows,
       coalesce(b.last_id, 0)::bigint AS balance_last_id,
       coalesce(p.total, 0)::bigint AS points_ledger, coalesce(p.n, 0)::bigint AS points_rows,
       coalesce(p.last_id, 0)::bigint AS points_last_id
FROM users u
LEFT JOIN (SELECT user_id, sum(delta)::bigint AS total, count(*) AS n, max(id) AS last_id FROM balance_ledger GROUP BY user_id) b ON b.user_id = u.id
LEFT JOIN (SELECT user_id, sum(delta)::bigint AS total, count(*) AS n, max(id) AS last_id FROM points_ledger GROUP BY user_id) p ON p.user_id = u.id
WHERE u.balance <> coalesce(b.total, 0) OR u.points <> coalesce(p.total, 0) OR u.balance < 0 OR u.points < 0
ORDER BY u.id
LIMIT $1;

-- name: OrderLedgerGaps :many
-- The rows that explain a drifting wallet: the shoppers' orders whose ledger
-- rows do not add up to what the order moved: -charged + refunded, and the
-- points earned less those clawed back, minus the points used less those
-- returned (a cancelled order gave everything back, so it moved nothing).
-- Only for the few shoppers WalletDrift returned; the ledgers are reached
-- through their (user_id, id) indexes.
SELECT o.id, o.user_id, o.status,
       (o.refunded - o.charged)::bigint AS balance_expected,
       coalesce((SELECT sum(b.delta) FROM balance_ledger b WHERE b.user_id = o.user_id AND b.order_id = o.id), 0)::bigint AS balance_ledger,
       ((o.points_earned - o.points_clawed) - (o.points_used - o.points_returned))::bigint AS points_expected,
       coalesce((SELECT sum(p.delta) FROM points_ledger p WHERE p.user_id = o.user_id AND p.order_id = o.id), 0)::bigint AS points_ledger
FROM orders o
WHERE o.user_id = ANY(@user_ids::bigint[])
ORDER BY o.id;

-- name: OrderAmountDrift :many
-- Set-based: order_items summed once per order. An order whose subtotal is
-- not its items, or whose charge is not items - discount - points, comes back.
SELECT o.id, o.user_id, o.status, o.subtotal, o.discount, o.points_used, o.charged,
       coalesce(i.items, 0)::bigint AS items, coalesce(i.lines, 0)::bigint AS lines
FROM orders o
LEFT JOIN (SELECT order_id, sum(price * quantity)::bigint AS items, count(*) AS lines FROM order_items GROUP BY order_id) i ON i.order_id = o.id
WHERE o.subtotal <> coalesce(i.items, 0) OR o.charged <> coalesce(i.items, 0) - o.discount - o.points_used
ORDER BY o.id
LIMIT $1;

-- name: CouponOrderDrift :many
-- A used coupon belongs to exactly one live (not cancelled) order, the one
-- it names, and a coupon a live order names is used by that order. live
-- gathers the live orders per coupon in one pass; the coupons table is
-- scanned once.
WITH live AS (
    SELECT coupon_id, count(*) AS n, min(id) AS first_id, array_agg(id ORDER BY id)::bigint[] AS order_ids
    FROM orders
    WHERE status <> 'cancelled' AND coupon_id IS NOT NULL
    GROUP BY coupon_id
)
SELECT c.id, c.user_id, c.campaign_id, c.status, c.order_id,
       o.status AS order_status,
       coalesce(l.n, 0)::bigint AS live_orders,
       coalesce(l.order_ids, '{}')::bigint[] AS live_order_ids
FROM coupons c
LEFT JOIN live l ON l.coupon_id = c.id
LEFT JOIN orders o ON o.id = c.order_id
WHERE (c.status = 'used' AND (coalesce(l.n, 0) <> 1 OR l.first_id <> c.order_id))
   OR (c.status <> 'used' AND l.n > 0)
ORDER BY c.id
LIMIT $1;

-- name: CheckedCampaigns :many
-- Campaigns whose Redis state is compared: every one past draft.
SELECT id FROM campaigns WHERE state <> 'draft' ORDER BY id;

-- name: CampaignCounts :many
-- PostgreSQL's side of each campaign, read after Redis's snapshot. The
-- stream arrays are the entries pending at the snapshot (campaign, user);
-- already_persisted counts those the flusher has since written (or had
-- written but not yet deleted), so that they are not counted twice.
SELECT c.id, c.name, c.state, c.total_quantity, c.persisted_count,
       (SELECT count(*) FROM coupons k WHERE k.campaign_id = c.id)::bigint AS coupons,
       (SELECT count(*)
        FROM (SELECT unnest(@stream_campaign_ids::bigint[]) AS campaign_id, unnest(@stream_user_ids::bigint[]) AS user_id) s
        JOIN coupons k ON k.campaign_id = s.campaign_id AND k.user_id = s.user_id
        WHERE s.campaign_id = c.id)::bigint AS already_persisted,
       (SELECT count(*) FROM coupon_dead_letters d WHERE d.campaign_id = c.id AND d.resolved_at IS NULL)::bigint AS dead_letters
FROM campaigns c
WHERE c.id = ANY(@ids::bigint[])
ORDER BY c.id;

-- name: InStockDrift :many
-- products.in_stock, the copy of "stock > 0" that search filters on, against
-- product_stock; at most $1 products that disagree.
SELECT p.id AS product_id, p.name, p.in_stock, s.stock
FROM products p
JOIN product_stock s ON s.product_id = p.id
WHERE p.in_stock <> (s.stock > 0)
ORDER BY p.id
LIMIT $1;

-- name: OrderRefundDrift :many
-- Refunds never give back more than was charged, and what an order says it
-- gave back (refunds and a cancel) is what the balance ledger holds for it.
-- The refund rows are summed once (balance_ledger_order_idx is partial on
-- order_id; refunds are few).
SELECT o.id, o.user_id, o.charged, o.refunded, coalesce(r.total, 0)::bigint AS ledger
FROM orders o
LEFT JOIN (SELECT order_id, sum(delta)::bigint AS total FROM balance_ledger
           WHERE reason = 'refund' AND order_id IS NOT NULL GROUP BY order_id) r ON r.order_id = o.id
WHERE o.refunded > o.charged OR o.refunded <> coalesce(r.total, 0)
ORDER BY o.id
LIMIT $1;
