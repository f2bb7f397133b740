-- 100,000 shoppers and 1,000,000 orders (a tenth cancelled, over 90 days) for measuring
-- exports and order pages at scale (docs/PERFORMANCE.md, Exports). Run once on a database
-- of its own: psql "$DATABASE_URL" -f tools/scale-orders.sql
INSERT INTO users (email, password_hash, name)
SELECT 'scale' || i || '@example.test', 'x', 'Scale Shopper ' || i FROM generate_series(1, 100000) i;
INSERT INTO orders (user_id, idempotency_key, status, subtotal, charged, created_at, cancelled_at)
SELECT u.first + (i % 100000), 'scale-' || i,
       CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'placed' END,
       1000 + (i % 97) * 1000, 1000 + (i % 97) * 1000,
       now() - ((i % 90) || ' days')::interval - ((i % 86400) || ' seconds')::interval,
       CASE WHEN i % 10 = 0 THEN now() END
FROM generate_series(1, 1000000) i, (SELECT min(id) AS first FROM users WHERE email LIKE 'scale%') u;
ANALYZE users; ANALYZE orders;
