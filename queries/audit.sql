-- The audit trail (internal/audit).

-- name: InsertAudit :exec
INSERT INTO audit_log (admin_id, kind, action, subject, before, after) VALUES ($1, $2, $3, $4, $5, $6);

-- name: AuditEntries :many
-- Newest first, the page before the cursor; each filter optional. The
-- primary key is walked backwards (or the admin's or the kind's index).
SELECT * FROM audit_log
WHERE id < @before_id::bigint
  AND (sqlc.narg(admin_id)::bigint IS NULL OR admin_id = sqlc.narg(admin_id)::bigint)
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(until)::timestamptz IS NULL OR created_at < sqlc.narg(until)::timestamptz)
ORDER BY id DESC
LIMIT @lim;
