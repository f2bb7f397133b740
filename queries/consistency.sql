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
-- negative) come back, at most $1 of them.
SELECT s.product_id, p.name, s.stock, (s.opening_stock + coalesce(l.total, 0))::bigint AS expected
FROM product_stock s
JOIN products p ON p.id = s.product_id
LEFT JOIN (SELECT product_id, sum(delta) AS total FROM stock_ledger GROUP BY product_id) l ON l.product_id = s.product_id
WHERE s.stock <> s.opening_stock + coalesce(l.total, 0) OR s.stock < 0
ORDER BY s.product_id
LIMIT $1;

-- name: CountProductStock :one
SELECT count(*) FROM product_stock;
