-- Gives every seeded shopper who has no ledger rows yet two placed orders of
-- one unit each (items, stock taken, stock/balance/points ledger rows) and a
-- top-up that pays for them, in set-based statements, so that the
-- consistency report is measured over full ledgers (docs/PERFORMANCE.md).
-- Run once on a seeded database: psql "$DATABASE_URL" -f tools/ledger-load.sql
BEGIN;
CREATE TEMP TABLE load_orders ON COMMIT DROP AS
SELECT u.id AS user_id, k, p.id AS product_id, p.name, p.price
FROM users u
CROSS JOIN generate_series(1, 2) k
JOIN products p ON p.id = (SELECT min(id) FROM products) + (u.id * 7 + k * 1009) % (SELECT count(*) FROM products)
JOIN product_stock s ON s.product_id = p.id AND s.stock >= 4
WHERE u.role = 'shopper' AND NOT EXISTS (SELECT 1 FROM balance_ledger b WHERE b.user_id = u.id);

CREATE TEMP TABLE load_placed ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO orders (user_id, idempotency_key, subtotal, charged, points_earned)
    SELECT user_id, 'load-' || k || '-' || product_id, price, price, price / 100 FROM load_orders
    ON CONFLICT DO NOTHING
    RETURNING id, user_id, subtotal, points_earned, idempotency_key
)
SELECT ins.id, ins.user_id, ins.subtotal AS price, ins.points_earned, l.product_id, l.name
FROM ins JOIN load_orders l ON l.user_id = ins.user_id AND ins.idempotency_key = 'load-' || l.k || '-' || l.product_id;

INSERT INTO order_items (order_id, product_id, name, price, quantity) SELECT id, product_id, name, price, 1 FROM load_placed;
INSERT INTO balance_ledger (user_id, delta, reason) SELECT user_id, sum(price) + 10000, 'topup' FROM load_placed GROUP BY user_id;
INSERT INTO balance_ledger (user_id, delta, reason, order_id) SELECT user_id, -price, 'order', id FROM load_placed;
INSERT INTO points_ledger (user_id, delta, reason, order_id) SELECT user_id, points_earned, 'earned', id FROM load_placed WHERE points_earned > 0;
UPDATE users u SET balance = u.balance + 10000, points = u.points + t.pts
FROM (SELECT user_id, sum(points_earned) AS pts FROM load_placed GROUP BY user_id) t WHERE t.user_id = u.id;
INSERT INTO stock_ledger (product_id, delta, reason, order_id) SELECT product_id, -1, 'order', id FROM load_placed;
UPDATE product_stock s SET stock = s.stock - t.n, version = s.version + 1
FROM (SELECT product_id, count(*) AS n FROM load_placed GROUP BY product_id) t WHERE t.product_id = s.product_id;
SELECT count(*) AS orders_loaded FROM load_placed;
COMMIT;
ANALYZE;
