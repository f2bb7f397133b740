-- The audit trail (internal/audit).

-- name: InsertAudit :exec
INSERT INTO audit_log (admin_id, kind, action, subject, before, after) VALUES ($1, $2, $3, $4, $5, $6);

-- name: AuditEntries :many
-- Newest first by (created_at, id), the page after the cursor's entry; each
-- filter optional. Planned for its arguments (db.ReadPlanned), each shape
-- reads one index range in list order: audit_log_created_idx, or the
-- kind's (or else the admin's) (…, created_at, id) index. The kind and the
-- admin are matched as ranges of one value and lead the order, for the
-- reason AdminOrders gives (queries/order.sql): with = the planner may walk
-- audit_log_created_idx and filter, reading every newer entry first.
SELECT * FROM audit_log
WHERE (sqlc.narg(before_id)::bigint IS NULL
       OR (created_at, id) < (SELECT c.created_at, c.id FROM audit_log c WHERE c.id = sqlc.narg(before_id)::bigint))
  AND (sqlc.narg(admin_id)::bigint IS NULL OR (admin_id >= sqlc.narg(admin_id)::bigint AND admin_id <= sqlc.narg(admin_id)::bigint))
  AND (sqlc.narg(kind)::text IS NULL OR (kind >= sqlc.narg(kind)::text AND kind <= sqlc.narg(kind)::text))
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until)::timestamptz)
ORDER BY CASE WHEN sqlc.narg(kind)::text IS NULL THEN NULL ELSE kind END DESC,
         CASE WHEN sqlc.narg(kind)::text IS NULL AND sqlc.narg(admin_id)::bigint IS NOT NULL THEN admin_id END DESC,
         created_at DESC, id DESC
LIMIT @lim;
