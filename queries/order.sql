-- Carts, checkout, cancel and the wallet (internal/order).
-- Lock order everywhere: the shopper's users row, then the order row, then the
-- coupon row, then product_stock rows in ascending product id. One fixed order
-- means no deadlocks between checkouts, cancels and top-ups.

-- name: CartLines :many
-- Current prices and stock (read without locks: for showing and pre-checks only).
SELECT ci.product_id, ci.quantity, p.name, p.price, s.stock
FROM cart_items ci
JOIN products p ON p.id = ci.product_id
JOIN product_stock s ON s.product_id = ci.product_id
WHERE ci.user_id = $1
ORDER BY ci.product_id;

-- name: SetCartItem :one
-- Sets a line's quantity; no row when the product does not exist.
INSERT INTO cart_items (user_id, product_id, quantity)
SELECT sqlc.arg(user_id), p.id, sqlc.arg(quantity) FROM products p WHERE p.id = sqlc.arg(product_id)
ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity
RETURNING product_id;

-- name: DeleteCartItem :execrows
DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2;

-- name: CartLineCount :one
-- Read under the shopper's lock (LockShopper), which every cart add takes:
-- how many lines the cart has, and whether this product is one of them.
SELECT count(*)::bigint AS lines, coalesce(bool_or(product_id = sqlc.arg(product_id)), false)::bool AS has_line
FROM cart_items WHERE user_id = sqlc.arg(user_id);

-- name: CartQuantity :one
-- The header badge: units in the cart.
SELECT coalesce(sum(quantity), 0)::bigint FROM cart_items WHERE user_id = $1;

-- name: ClearOrderedLines :exec
-- Only the lines that were ordered: a line added in another tab meanwhile stays.
DELETE FROM cart_items WHERE user_id = $1 AND product_id = ANY(sqlc.arg(product_ids)::bigint[]);

-- name: LockShopper :one
-- First lock of every checkout, cancel, top-up and cart add: serialises one
-- shopper's money movements (and repeated idempotency keys) and the cart's
-- line limit. NO KEY UPDATE so that rows referencing the user (cart lines,
-- claimed coupons) can still be inserted.
SELECT balance, points FROM users WHERE id = $1 FOR NO KEY UPDATE;

-- name: TopUpsLastDay :one
-- Read under the shopper's lock (LockShopper), which every top-up takes: what
-- they topped up in the last 24 hours (balance_ledger_topup_idx).
SELECT coalesce(sum(delta), 0)::bigint FROM balance_ledger
WHERE user_id = $1 AND reason = 'topup' AND created_at > now() - interval '24 hours';

-- name: Wallet :one
SELECT balance, points FROM users WHERE id = $1;

-- name: OrderByKey :one
SELECT * FROM orders WHERE user_id = $1 AND idempotency_key = $2;

-- name: CouponForCheckout :one
-- Locks the coupon for this transaction; the campaign supplies the discount.
SELECT c.id, c.user_id, c.status, c.expires_at, k.name, k.discount_type, k.discount_value, k.max_discount, k.min_order_amount
FROM coupons c
JOIN campaigns k ON k.id = c.campaign_id
WHERE c.id = $1
FOR UPDATE OF c;

-- name: CouponTerms :one
-- The same coupon read without a lock: the checkout preview only shows a
-- price, and checkout decides again under CouponForCheckout's lock.
SELECT c.id, c.user_id, c.status, c.expires_at, k.name, k.discount_type, k.discount_value, k.max_discount, k.min_order_amount
FROM coupons c
JOIN campaigns k ON k.id = c.campaign_id
WHERE c.id = $1;

-- name: CheckoutCoupons :many
-- The shopper's coupons for the checkout form: every unused one, usable
-- first, and those used or expired in the last 30 days, which the form shows
-- disabled with the reason. Each is checked against the cart in Go.
SELECT c.id, c.campaign_id, c.status, c.expires_at, k.name, k.discount_type, k.discount_value, k.max_discount, k.min_order_amount
FROM coupons c
JOIN campaigns k ON k.id = c.campaign_id
WHERE c.user_id = $1
  AND c.expires_at > now() - interval '30 days'
  AND (c.status = 'issued' OR c.used_at > now() - interval '30 days')
ORDER BY (c.status = 'issued' AND c.expires_at > now()) DESC, c.expires_at, c.id
LIMIT 50;

-- name: ProductForCart :one
-- Name and stock for a cart add's limit (read without a lock: stock is not
-- reserved by a cart, checkout decides under its locks).
SELECT p.name, s.stock
FROM products p
JOIN product_stock s ON s.product_id = p.id
WHERE p.id = $1;

-- name: InsertOrder :one
-- With a copy of the shopper's address address_id (0: the default one); no
-- row when the shopper has no such address.
INSERT INTO orders (user_id, idempotency_key, subtotal, discount, points_used, charged, points_earned, coupon_id, address)
SELECT @user_id, @idempotency_key, @subtotal, @discount, @points_used, @charged, @points_earned, sqlc.narg(coupon_id),
       jsonb_build_object('recipient', a.recipient, 'phone', a.phone, 'postal_code', a.postal_code, 'line1', a.line1, 'line2', a.line2)
FROM addresses a
WHERE a.user_id = @user_id AND (a.id = @address_id::bigint OR @address_id::bigint = 0 AND a.is_default)
RETURNING *;

-- name: InsertOrderItems :exec
INSERT INTO order_items (order_id, product_id, name, price, quantity)
SELECT sqlc.arg(order_id), unnest(sqlc.arg(product_ids)::bigint[]), unnest(sqlc.arg(names)::text[]),
       unnest(sqlc.arg(prices)::bigint[]), unnest(sqlc.arg(quantities)::int[]);

-- name: UseCoupon :execrows
UPDATE coupons SET status = 'used', order_id = $2, used_at = now() WHERE id = $1 AND status = 'issued';

-- name: InsertCouponEvent :exec
INSERT INTO coupon_ledger (coupon_id, order_id, event) VALUES ($1, $2, $3);

-- name: MoveWallet :exec
-- Applies signed changes; the CHECKs (balance, points >= 0) are the last guard.
UPDATE users SET balance = balance + sqlc.arg(balance_delta), points = points + sqlc.arg(points_delta) WHERE id = sqlc.arg(id);

-- name: InsertBalanceEntry :exec
INSERT INTO balance_ledger (user_id, delta, reason, order_id) VALUES ($1, $2, $3, $4);

-- name: InsertPointsEntry :exec
INSERT INTO points_ledger (user_id, delta, reason, order_id) VALUES ($1, $2, $3, $4);

-- name: TakeStockGuarded :execrows
-- Pessimistic: the row lock is taken by the update itself; the guard makes
-- "check and deduct" one statement. Zero rows means not enough stock.
UPDATE product_stock SET stock = stock - sqlc.arg(quantity), version = version + 1
WHERE product_id = sqlc.arg(product_id) AND stock >= sqlc.arg(quantity);

-- name: ReadStock :one
-- Optimistic: read without a lock, write back only if nobody changed it since.
SELECT stock, version FROM product_stock WHERE product_id = $1;

-- name: TakeStockVersioned :execrows
UPDATE product_stock SET stock = sqlc.arg(new_stock), version = version + 1
WHERE product_id = sqlc.arg(product_id) AND version = sqlc.arg(version);

-- name: ReturnStock :exec
UPDATE product_stock SET stock = stock + sqlc.arg(quantity), version = version + 1 WHERE product_id = sqlc.arg(product_id);

-- name: InsertStockEntries :exec
INSERT INTO stock_ledger (product_id, delta, reason, order_id, actor_id)
SELECT unnest(sqlc.arg(product_ids)::bigint[]), unnest(sqlc.arg(deltas)::bigint[]), sqlc.arg(reason), sqlc.arg(order_id), sqlc.arg(actor_id);

-- name: ListOrders :many
-- A page of the shopper's orders, newest first, before the cursor
-- (orders_user_idx).
SELECT * FROM orders WHERE user_id = @user_id AND id < @before::bigint ORDER BY id DESC LIMIT @lim;

-- name: GetOrder :one
SELECT * FROM orders WHERE id = $1 AND user_id = $2;

-- name: LockOrder :one
SELECT * FROM orders WHERE id = $1 AND user_id = $2 FOR UPDATE;

-- name: OrderItems :many
SELECT * FROM order_items WHERE order_id = $1 ORDER BY product_id;

-- name: MarkCancelled :exec
-- A cancel gives back everything partial refunds had not.
UPDATE orders SET status = 'cancelled', cancelled_at = now(), cancel_reason = sqlc.narg(reason),
       refunded = charged, points_returned = points_used, points_clawed = points_earned
WHERE id = sqlc.arg(id);

-- name: OrderOwner :one
-- Read without a lock: whose order it is, so its shopper is locked first.
SELECT user_id FROM orders WHERE id = $1;

-- name: SetOrderStatus :exec
UPDATE orders SET status = sqlc.arg(status),
       carrier = coalesce(sqlc.narg(carrier), carrier), tracking_number = coalesce(sqlc.narg(tracking_number), tracking_number)
WHERE id = sqlc.arg(id);

-- name: InsertOrderEvent :exec
INSERT INTO order_events (order_id, status, note, actor_id) VALUES ($1, $2, $3, $4);

-- name: OrderEvents :many
SELECT * FROM order_events WHERE order_id = $1 ORDER BY id;

-- name: RecordRefund :exec
-- One partial refund: the line's refunded units, the order's totals, and
-- the refund's own row, in one statement.
WITH line AS (
    UPDATE order_items SET refunded = refunded + sqlc.arg(quantity)::int
    WHERE order_id = sqlc.arg(order_id) AND product_id = sqlc.arg(product_id)
), totals AS (
    UPDATE orders SET refunded = refunded + sqlc.arg(amount)::bigint,
           points_returned = points_returned + sqlc.arg(points_returned)::bigint,
           points_clawed = points_clawed + sqlc.arg(points_clawed)::bigint
    WHERE id = sqlc.arg(order_id)
)
INSERT INTO order_refunds (order_id, product_id, quantity, amount, points_returned, points_clawed, restocked, reason, actor_id)
VALUES (sqlc.arg(order_id), sqlc.arg(product_id), sqlc.arg(quantity), sqlc.arg(amount), sqlc.arg(points_returned),
        sqlc.arg(points_clawed), sqlc.arg(restocked), sqlc.arg(reason), sqlc.arg(actor_id));

-- name: RestoreCoupon :many
UPDATE coupons SET status = 'issued', order_id = NULL, used_at = NULL WHERE order_id = $1 RETURNING id;

-- name: BalanceHistory :many
SELECT * FROM balance_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2;

-- name: PointsHistory :many
SELECT * FROM points_ledger WHERE user_id = $1 ORDER BY id DESC LIMIT $2;


-- name: OrdersSince :one
-- Orders and revenue since the start of the day (orders_created_idx).
-- Revenue counts what was charged less what refunds and cancels gave back.
SELECT count(*)::bigint AS orders,
       coalesce(sum(charged - refunded), 0)::bigint AS revenue
FROM orders
WHERE created_at >= @since::timestamptz;

-- name: OrdersPerBucket :many
-- Orders per bucket of @step since @since (orders_created_idx), set-based;
-- empty buckets are not returned (the service fills them in).
SELECT date_bin(make_interval(secs => @step_seconds::int), created_at, @since::timestamptz)::timestamptz AS bucket, count(*)::bigint AS orders
FROM orders
WHERE created_at >= @since::timestamptz AND created_at < @until::timestamptz
GROUP BY 1
ORDER BY 1;

-- name: AdminOrders :many
-- The admin list, newest first by (created_at, id), the page after the
-- cursor's order (keyset, no OFFSET). Every filter is optional: the service
-- runs it planned for its arguments (db.ReadPlanned), so the absent ones
-- fold away and each shape reads one index range in list order:
-- orders_created_idx (no filter, dates), orders_status_created_idx (a
-- status, with or without dates), the primary key (an order number). A
-- shopper's orders (the service looks the email up first) come from
-- orders_user_idx and are sorted: a few thousand at most.
-- The status is matched as a range of one value and leads the order, not
-- as "= status": with = the planner drops status from the order and may
-- walk orders_created_idx instead, filtering, which reads every newer order
-- first (delivered orders are a week old: 89,000 rows at a million).
SELECT sqlc.embed(o), u.email
FROM orders o
JOIN users u ON u.id = o.user_id
WHERE (sqlc.narg(order_id)::bigint IS NULL OR o.id = sqlc.narg(order_id))
  AND (sqlc.narg(user_id)::bigint IS NULL OR o.user_id = sqlc.narg(user_id))
  AND (sqlc.narg(status)::text IS NULL OR (o.status >= sqlc.narg(status) AND o.status <= sqlc.narg(status)))
  AND (sqlc.narg(created_from)::timestamptz IS NULL OR o.created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_before)::timestamptz IS NULL OR o.created_at < sqlc.narg(created_before))
  AND (sqlc.narg(before_id)::bigint IS NULL
       OR (o.created_at, o.id) < (SELECT c.created_at, c.id FROM orders c WHERE c.id = sqlc.narg(before_id)))
ORDER BY CASE WHEN sqlc.narg(status)::text IS NULL THEN NULL ELSE o.status END DESC, o.created_at DESC, o.id DESC
LIMIT sqlc.arg(lim);

-- name: UserIDByEmail :one
SELECT id FROM users WHERE email = $1;

-- name: AdminOrder :one
SELECT o.*, u.email, u.name AS shopper_name, k.campaign_id AS coupon_campaign_id, c.name AS coupon_campaign_name
FROM orders o
JOIN users u ON u.id = o.user_id
LEFT JOIN coupons k ON k.id = o.coupon_id
LEFT JOIN campaigns c ON c.id = k.campaign_id
WHERE o.id = $1;

-- name: OrderLedger :many
-- Every ledger row one order caused, oldest first (the *_order_idx indexes).
-- subject_id is the shopper for balance and points, the product for stock,
-- the coupon for coupons (delta -1 used, +1 restored).
SELECT l.ledger, l.subject_id, l.delta, l.reason, l.created_at FROM (
    SELECT 'balance'::text AS ledger, b.user_id AS subject_id, b.delta, b.reason, b.created_at, b.id FROM balance_ledger b WHERE b.order_id = @order_id::bigint
    UNION ALL
    SELECT 'points', p.user_id, p.delta, p.reason, p.created_at, p.id FROM points_ledger p WHERE p.order_id = @order_id::bigint
    UNION ALL
    SELECT 'stock', s.product_id, s.delta, s.reason, s.created_at, s.id FROM stock_ledger s WHERE s.order_id = @order_id::bigint
    UNION ALL
    SELECT 'coupon', c.coupon_id, CASE c.event WHEN 'used' THEN -1 ELSE 1 END::bigint, c.event, c.created_at, c.id FROM coupon_ledger c WHERE c.order_id = @order_id::bigint
) l
ORDER BY l.created_at, l.ledger, l.id;

-- name: InsertBalanceAdjustment :exec
INSERT INTO balance_ledger (user_id, delta, reason, note) VALUES ($1, $2, 'adjustment', $3);

-- name: InsertPointsAdjustment :exec
INSERT INTO points_ledger (user_id, delta, reason, note) VALUES ($1, $2, 'adjustment', $3);
