-- name: CreateCampaign :one
INSERT INTO campaigns (name, discount_type, discount_value, max_discount, min_order_amount,
                       total_quantity, starts_at, ends_at, valid_days, stripes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: GetCampaign :one
SELECT * FROM campaigns WHERE id = $1;

-- name: LockCampaign :one
-- The one writer of a campaign's configuration, in PostgreSQL and in Redis,
-- across instances (internal/coupon/sync.go). It also holds the flusher's
-- persisted_count update back, so a rebuild reads coupons and the stream
-- while neither moves.
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: SetCampaignTxBudget :exec
-- SET LOCAL lock_timeout, statement_timeout and
-- idle_in_transaction_session_timeout (milliseconds), in the form that takes
-- parameters: the campaign's writer waits briefly for the lock, then may
-- take as long as a rebuild needs.
SELECT set_config('lock_timeout', sqlc.arg(lock_timeout)::text, true),
       set_config('statement_timeout', sqlc.arg(budget)::text, true),
       set_config('idle_in_transaction_session_timeout', sqlc.arg(budget)::text, true);

-- name: UpdateDraftCampaign :one
UPDATE campaigns
SET name = $2, discount_type = $3, discount_value = $4, max_discount = $5, min_order_amount = $6,
    total_quantity = $7, starts_at = $8, ends_at = $9, valid_days = $10, stripes = $11, updated_at = now()
WHERE id = $1 AND state = 'draft'
RETURNING *;

-- name: SetCampaignQuantity :one
-- The CHECK persisted_count <= total_quantity backs up the service's claimed-count check.
-- Redis learns of the change after the commit (redis_pending_since).
UPDATE campaigns SET total_quantity = $2, redis_pending_since = coalesce(redis_pending_since, now()), updated_at = now()
WHERE id = $1
RETURNING *;

-- name: SetCampaignState :one
UPDATE campaigns SET state = $2, redis_pending_since = coalesce(redis_pending_since, now()), updated_at = now()
WHERE id = $1
RETURNING *;

-- name: ClearRedisPending :exec
UPDATE campaigns SET redis_pending_since = NULL WHERE id = $1 AND redis_pending_since IS NOT NULL;

-- name: CampaignsInRedis :many
-- Every campaign that Redis should hold (all past draft), with what it should
-- hold and whether a committed change has not reached it yet: the background
-- check compares them with Redis in one pipeline.
SELECT id, state, total_quantity, persisted_count, stripes, (redis_pending_since IS NOT NULL)::boolean AS pending
FROM campaigns WHERE state <> 'draft' ORDER BY id;

-- name: ListCampaigns :many
SELECT * FROM campaigns ORDER BY id DESC LIMIT 500;

-- name: ListCampaignsInStates :many
-- campaigns_state_idx.
SELECT * FROM campaigns WHERE state = ANY(@states::text[]) ORDER BY id;

-- name: ListFlushableCampaigns :many
-- Campaigns whose stream may still hold claims: live ones, and ended ones for a week.
SELECT id, stripes, redis_epoch FROM campaigns
WHERE state IN ('active', 'paused') OR (state = 'ended' AND updated_at > now() - interval '7 days')
ORDER BY id;

-- name: BumpRedisEpoch :exec
-- A rebuild of the campaign's Redis keys, under its row lock (InsertClaims).
UPDATE campaigns SET redis_epoch = redis_epoch + 1 WHERE id = $1;

-- name: InsertClaims :one
-- The one idempotent write of claims, used by the flusher and by SyncUser:
-- rows that already exist are skipped, and persisted_count grows by exactly
-- the rows inserted, in the same statement (so in the caller's transaction).
-- With an epoch, claims read from Redis in that epoch: after a rebuild
-- (BumpRedisEpoch) nothing is written and no row is returned.
WITH claims AS (
    -- Two set-returning functions in one select list advance together (zip).
    SELECT unnest(@user_ids::bigint[]) AS user_id, unnest(@claimed_ats::timestamptz[]) AS claimed_at
), ins AS (
    INSERT INTO coupons (campaign_id, user_id, claimed_at, expires_at)
    SELECT c.id, claims.user_id, claims.claimed_at, claims.claimed_at + make_interval(days => c.valid_days)
    FROM campaigns c, claims
    WHERE c.id = @campaign_id AND (sqlc.narg(epoch)::bigint IS NULL OR c.redis_epoch = sqlc.narg(epoch))
    ON CONFLICT (campaign_id, user_id) DO NOTHING
    RETURNING 1
)
UPDATE campaigns
SET persisted_count = persisted_count + (SELECT count(*) FROM ins), updated_at = now()
WHERE campaigns.id = @campaign_id AND (sqlc.narg(epoch)::bigint IS NULL OR campaigns.redis_epoch = sqlc.narg(epoch))
RETURNING (SELECT count(*) FROM ins)::bigint AS inserted;

-- name: CampaignUserIDs :many
SELECT user_id, claimed_at FROM coupons WHERE campaign_id = $1;

-- name: UnsyncedCampaignsForUser :many
-- Campaigns whose stream may still hold claims (as ListFlushableCampaigns:
-- an ended one too, claimed just before it ended) in which this shopper holds
-- no persisted coupon yet: a claim there may still be waiting in Redis.
SELECT c.id, c.redis_epoch FROM campaigns c
WHERE (c.state IN ('active', 'paused') OR (c.state = 'ended' AND c.updated_at > now() - interval '7 days'))
  AND NOT EXISTS (SELECT 1 FROM coupons WHERE campaign_id = c.id AND user_id = $1)
ORDER BY c.id;

-- name: ListUserCoupons :many
SELECT k.id, k.campaign_id, k.status, k.claimed_at, k.expires_at, k.used_at, k.order_id,
       c.name AS campaign_name, c.discount_type, c.discount_value, c.max_discount, c.min_order_amount
FROM coupons k JOIN campaigns c ON c.id = k.campaign_id
WHERE k.user_id = $1
ORDER BY k.claimed_at DESC, k.id DESC;

-- name: InsertDeadLetter :exec
INSERT INTO coupon_dead_letters (campaign_id, stream_id, payload, error, attempts)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (campaign_id, stream_id) DO NOTHING;

-- name: CampaignDeadLetterPayloads :many
-- Claims that failed to persist are still claims: a rebuild counts them, so
-- their stock is never offered twice.
SELECT payload FROM coupon_dead_letters WHERE campaign_id = $1 AND resolved_at IS NULL;

-- name: ListDeadLetters :many
SELECT * FROM coupon_dead_letters WHERE campaign_id = $1 AND resolved_at IS NULL ORDER BY id LIMIT 100;

-- name: CountDeadLetters :one
SELECT count(*) FROM coupon_dead_letters WHERE resolved_at IS NULL;

-- name: InsertCampaignEvent :exec
INSERT INTO campaign_events (campaign_id, kind, detail) VALUES ($1, $2, $3);

-- name: ListCampaignEvents :many
SELECT * FROM campaign_events WHERE campaign_id = $1 ORDER BY id DESC LIMIT 20;

-- name: ClaimsPerBucket :many
-- Persisted claims of every campaign counted per bucket of @step since
-- @since, set-based: one range scan of coupons_claimed_at_idx, grouped by
-- date_bin. Empty buckets are not returned (the service fills them in).
SELECT date_bin(make_interval(secs => @step_seconds::int), claimed_at, @since::timestamptz)::timestamptz AS bucket, count(*)::bigint AS claims
FROM coupons
WHERE claimed_at >= @since::timestamptz AND claimed_at < @until::timestamptz
GROUP BY 1
ORDER BY 1;

-- name: FlushableCampaignsPersisted :many
-- The write-back figures cover the same campaigns the flusher reads (ListFlushableCampaigns).
SELECT id, persisted_count FROM campaigns
WHERE state IN ('active', 'paused') OR (state = 'ended' AND updated_at > now() - interval '7 days')
ORDER BY id;

-- name: UnresolvedDeadLetters :many
-- Dead letters to re-drive: all, or one campaign's ($1 = 0 means all).
SELECT * FROM coupon_dead_letters
WHERE resolved_at IS NULL AND (campaign_id = sqlc.arg(campaign_id) OR sqlc.arg(campaign_id)::bigint = 0)
ORDER BY campaign_id, id
LIMIT 10000;

-- name: ResolveDeadLetters :execrows
UPDATE coupon_dead_letters SET resolved_at = now() WHERE id = ANY(@ids::bigint[]) AND resolved_at IS NULL;

-- name: ListShopperCampaigns :many
-- What shoppers see (internal/coupon/sale.go): campaigns past draft whose
-- window ends after @since and starts before @until; an ended one only while
-- its end is recent (updated_at is when it was ended). campaigns_state_idx.
SELECT * FROM campaigns
WHERE state IN ('active', 'paused', 'ended')
  AND ends_at > @since::timestamptz AND starts_at < @until::timestamptz
  AND (state <> 'ended' OR updated_at > @since::timestamptz)
ORDER BY starts_at, id
LIMIT 50;

-- name: OverdueCampaigns :many
-- Active or paused campaigns whose claim window is over: the auto-end job
-- ends them (internal/coupon/autoend.go).
SELECT id FROM campaigns
WHERE state IN ('active', 'paused') AND ends_at <= @now::timestamptz
ORDER BY id;
