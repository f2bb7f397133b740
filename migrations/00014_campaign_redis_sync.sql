-- +goose Up
-- A campaign's configuration (state, window, total) is decided in PostgreSQL
-- and copied to Redis by one writer at a time, under the campaign's row lock
-- (internal/coupon/sync.go). While a committed change has not reached Redis
-- yet, this says since when; the background sync retries until it is NULL.
ALTER TABLE campaigns ADD COLUMN redis_pending_since timestamptz;

-- +goose Down
ALTER TABLE campaigns DROP COLUMN redis_pending_since;
