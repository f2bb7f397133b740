-- The audit trail (internal/audit).

-- name: InsertAudit :exec
INSERT INTO audit_log (admin_id, kind, action, subject, before, after) VALUES ($1, $2, $3, $4, $5, $6);

-- name: AuditEntries :many
-- Newest first by (created_at, id), the page after the cursor's entry; each
-- filter optional. Planned for its arguments (db.ReadPlanned), each shape
-- reads one index range in list order: audit_log_created_idx, or the
-- admin's or the kind's (…, created_at, id) index.
SELECT * FROM audit_log
WHERE (sqlc.narg(before_id)::bigint IS NULL
       OR (created_at, id) < (SELECT c.created_at, c.id FROM audit_log c WHERE c.id = sqlc.narg(before_id)::bigint))
  AND (sqlc.narg(admin_id)::bigint IS NULL OR admin_id = sqlc.narg(admin_id)::bigint)
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until)::timestamptz)
ORDER BY created_at DESC, id DESC
LIMIT @lim;
