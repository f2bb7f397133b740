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

-- name: SetPassword :execrows
-- Only over the hash the current password was checked against: of two changes
-- that both knew the old password, the second finds it gone and changes nothing.
UPDATE users SET password_hash = @new_hash WHERE id = @id AND password_hash = @checked_hash;

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

-- name: SearchRecentShoppers :many
-- A shopper search in two steps (internal/account/shoppers.go); this is the
-- first: shoppers whose email or name (lower-cased) starts with q among the
-- newest @walk ids before the cursor, the primary key walked backwards.
-- The walk is bounded: a prefix many shoppers share is found here at once,
-- and one whose shoppers all signed up long ago costs @walk rows, not the
-- whole table (U+10FFFF sorts after every character a prefix goes on with).
SELECT id, email, name, balance, points, disabled_at, created_at FROM users
WHERE role = 'shopper' AND id < @before::bigint
  AND id >= (SELECT coalesce(max(m.id), 0) FROM users m WHERE m.id < @before::bigint) - @walk::bigint
  AND ((email COLLATE "C" >= @q::text AND email COLLATE "C" < @q::text || chr(1114111))
    OR (lower(name) COLLATE "C" >= @q::text AND lower(name) COLLATE "C" < @q::text || chr(1114111)))
ORDER BY id DESC
LIMIT @lim;

-- name: SearchOlderShoppers :many
-- The second step, when the first found less than a page: the matches below
-- the first step's ids, gathered through the two prefix indexes (one bitmap
-- of both ranges) and sorted: the cost grows with the matches, not with the
-- shoppers. OFFSET 0 keeps the planner from walking the primary key down
-- instead (reading every newer shopper before the first match: seeded names
-- and emails cluster by id) and the id bound out of the bitmap.
SELECT m.* FROM (
    SELECT id, email, name, balance, points, disabled_at, created_at FROM users
    WHERE role = 'shopper'
      AND ((email COLLATE "C" >= @q::text AND email COLLATE "C" < @q::text || chr(1114111))
        OR (lower(name) COLLATE "C" >= @q::text AND lower(name) COLLATE "C" < @q::text || chr(1114111)))
    OFFSET 0
) m
WHERE m.id < (SELECT coalesce(max(x.id), 0) FROM users x WHERE x.id < @before::bigint) - @walk::bigint
ORDER BY m.id DESC
LIMIT @lim;

-- name: SetShopperDisabled :one
-- Disables (or, with false, enables) a shopper; no row for an admin, an
-- unknown id, or a shopper already so (also one another admin changed while
-- this waited for the row's lock).
UPDATE users SET disabled_at = CASE WHEN @disabled::boolean THEN now() END
WHERE id = @id AND role = 'shopper' AND (disabled_at IS NOT NULL) <> @disabled::boolean
RETURNING *;
