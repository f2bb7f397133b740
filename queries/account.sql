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
