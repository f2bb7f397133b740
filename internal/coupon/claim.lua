-- claim.lua: one shopper claims one coupon of one campaign, atomically.
--
-- Every key shares the campaign's hash tag, so the script runs unchanged on a
-- Redis Cluster. Keys are never built here.
--   KEYS[1] coupon:{id}:meta     hash: state, starts_at, ends_at (unix ms), total
--   KEYS[2] coupon:{id}:stock    string: coupons left
--   KEYS[3] coupon:{id}:claimed  hash: user id -> claimed at (unix ms)
--   KEYS[4] coupon:{id}:claims   stream: one entry per claim (user, at), read by the flusher
--   KEYS[1] also holds `stripes` when the campaign is striped (stripes.go;
--   every stripe has these keys under its own hash tag)
--   ARGV[1] the shopper's user id
--   ARGV[2] the stripes the caller believes the campaign has (absent: 1); the
--           keys are those of the shopper's stripe among them
--
-- Returns {result, remaining}, result one of:
--   "claimed"          the shopper got a coupon; remaining is the stock after it
--   "already_claimed"  the shopper holds one already; nothing changed
--   "sold_out"         no stock left; nothing changed
--   "not_active"       not active or outside the claim window; nothing changed
--   "missing"          the campaign's keys are not in Redis (never warmed, or
--                      lost, in part too): the caller rebuilds them from
--                      PostgreSQL first
--   "stripes"          the campaign has another number of stripes, which
--                      remaining is: nothing changed; the caller claims again
-- The clock is Redis's own (TIME), so every app instance agrees on the window.
local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at', 'stripes', 'total', 'share')
local stock = redis.call('GET', KEYS[2])
if not meta[1] or not meta[2] or not meta[3] or not stock then
  return {'missing', 0}
end
if (meta[4] or '1') ~= (ARGV[2] or '1') then
  return {'stripes', tonumber(meta[4] or '1')}
end
stock = tonumber(stock)
-- The keys hold stock = total (a stripe: its share) - claimed, 0 when more
-- are claimed. Keys that disagree lost part of themselves (the claimed hash
-- deleted alone would let every holder claim again): rebuild first.
local held = tonumber(meta[6] or meta[5])
if not held or stock ~= math.max(0, held - redis.call('HLEN', KEYS[3])) then
  return {'missing', 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if meta[1] ~= 'active' or now < tonumber(meta[2]) or now >= tonumber(meta[3]) then
  return {'not_active', stock}
end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return {'already_claimed', stock}
end
if stock <= 0 then
  return {'sold_out', 0}
end
redis.call('HSET', KEYS[3], ARGV[1], now)
stock = redis.call('DECR', KEYS[2])
redis.call('XADD', KEYS[4], '*', 'user', ARGV[1], 'at', now)
return {'claimed', stock}
