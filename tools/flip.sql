-- A sell-out flip for pgbench (docs/PERFORMANCE.md, Search): one product's
-- stock crosses zero one way or the other, which also flips products.in_stock.
\set id random(1, 1000000)
UPDATE product_stock SET stock = CASE WHEN stock > 0 THEN 0 ELSE 5 END, version = version + 1 WHERE product_id = :id;
