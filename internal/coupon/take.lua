-- take.lua: the first half of a move of stock between two stripes of one
-- campaign (docs/COUPONS.md "Stripes"): the lender gives up units, recorded
-- as in transit until the borrower has them (give.lua). Atomic in the
-- lender's slot, so a unit is on the lender or in transit, never both.
--   KEYS[1] coupon:{id.s}:meta   hash: share, gen (stripe_apply.lua)
--   KEYS[2] coupon:{id.s}:stock  string: coupons left on the lender
--   KEYS[3] coupon:{id.s}:out    hash: transfer id -> "to:n:unix s"
--   ARGV[1] generation the caller read (a move never crosses a respread)
--   ARGV[2] transfer id   ARGV[3] the borrower's stripe   ARGV[4] most units wanted
-- Takes at most half the lender's stock (rounded up), so two stripes short at
-- once do not strip one lender bare. Returns {status, n}:
--   {"taken", n}    n units left the lender and are in transit
--   {"empty", 0}    the lender has no stock; nothing changed
--   {"stale", 0}    the stripes were spread again since the read; nothing changed
--   {"missing", 0}  the lender's keys are missing or frozen; nothing changed
-- Run twice (a client that resent its pipeline after a timeout), a take
-- answers what it took the first time, and takes nothing more.
local done = redis.call('HGET', KEYS[3], ARGV[2])
if done then
  return {'taken', tonumber(string.match(done, '^[^:]*:([^:]*):'))}
end
local gen = redis.call('HGET', KEYS[1], 'gen')
local stock = redis.call('GET', KEYS[2])
if not gen or not stock then
  return {'missing', 0}
end
if gen ~= ARGV[1] then
  return {'stale', 0}
end
local n = math.min(tonumber(ARGV[4]), math.ceil(tonumber(stock) / 2))
if n <= 0 then
  return {'empty', 0}
end
redis.call('DECRBY', KEYS[2], n)
redis.call('HINCRBY', KEYS[1], 'share', -n)
local t = redis.call('TIME')
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. ':' .. n .. ':' .. t[1])
return {'taken', n}
