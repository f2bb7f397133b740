-- name: CreateUser :one
INSERT INTO users (email, password_hash, name, role)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE id = $1;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = $1;

-- name: UpsertAdmin :one
-- Admin bootstrap from ADMIN_EMAIL / ADMIN_PASSWORD: the configured password wins.
INSERT INTO users (email, password_hash, name, role)
VALUES ($1, $2, $3, 'admin')
ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'admin'
RETURNING *;

-- name: CountUsers :one
SELECT count(*) FROM users;

-- name: SetPassword :exec
UPDATE users SET password_hash = $2 WHERE id = $1;

-- name: ListAddresses :many
-- The default first, then the newest (addresses_user_idx).
SELECT * FROM addresses WHERE user_id = $1 ORDER BY is_default DESC, id DESC;

-- name: CountAddresses :one
SELECT count(*) FROM addresses WHERE user_id = $1;

-- name: InsertAddress :one
INSERT INTO addresses (user_id, recipient, phone, postal_code, line1, line2, is_default)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: UpdateAddress :one
-- Only the shopper's own address; no row otherwise.
UPDATE addresses SET recipient = $3, phone = $4, postal_code = $5, line1 = $6, line2 = $7
WHERE id = $1 AND user_id = $2
RETURNING *;

-- name: DeleteAddress :execrows
DELETE FROM addresses WHERE id = $1 AND user_id = $2;

-- name: ClearDefaultAddress :exec
-- First half of moving the default: the partial unique index is checked row
-- by row, so the old default is cleared before the new one is set.
UPDATE addresses SET is_default = false WHERE user_id = $1 AND is_default AND id <> $2;

-- name: MarkDefaultAddress :execrows
UPDATE addresses SET is_default = true WHERE id = $1 AND user_id = $2;

-- name: PromoteNewestAddress :exec
-- After the default is deleted, the newest address left becomes it.
UPDATE addresses SET is_default = true
WHERE id = (SELECT max(id) FROM addresses a WHERE a.user_id = $1)
  AND NOT EXISTS (SELECT FROM addresses a WHERE a.user_id = $1 AND a.is_default);

-- name: ListShoppers :many
-- Newest first, the page before the cursor (the primary key, backwards).
SELECT id, email, name, balance, points, disabled_at, created_at FROM users
WHERE role = 'shopper' AND id < @before::bigint
ORDER BY id DESC
LIMIT @lim;

-- name: SearchShoppers :many
-- Shoppers whose email or name (lower-cased) starts with q, newest first:
-- two range scans of the prefix indexes (U+10FFFF sorts after every
-- character a prefix goes on with), then the page before the cursor.
SELECT id, email, name, balance, points, disabled_at, created_at FROM users
WHERE role = 'shopper' AND id < @before::bigint
  AND ((email COLLATE "C" >= @q::text AND email COLLATE "C" < @q::text || chr(1114111))
    OR (lower(name) COLLATE "C" >= @q::text AND lower(name) COLLATE "C" < @q::text || chr(1114111)))
ORDER BY id DESC
LIMIT @lim;

-- name: SetShopperDisabled :one
-- Disables (or, with false, enables) a shopper; no row for an admin or an
-- unknown id. A disable keeps the first time it was set.
UPDATE users SET disabled_at = CASE WHEN @disabled::boolean THEN coalesce(disabled_at, now()) END
WHERE id = @id AND role = 'shopper'
RETURNING *;
