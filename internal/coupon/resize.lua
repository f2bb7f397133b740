-- resize.lua: change a live campaign's total quantity, refusing to go below
-- what shoppers have already claimed (checked atomically against claims).
--   KEYS[1] coupon:{id}:meta     KEYS[2] coupon:{id}:stock    KEYS[3] coupon:{id}:claimed
--   ARGV[1] the new total
-- Returns {status, n}: {"ok", remaining}, {"below_claimed", claimed}, or
-- {"missing", 0} when the campaign's keys are not in Redis.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then
  return {'missing', 0}
end
local total = tonumber(ARGV[1])
local claimed = redis.call('HLEN', KEYS[3])
if total < claimed then
  return {'below_claimed', claimed}
end
redis.call('SET', KEYS[2], total - claimed)
redis.call('HSET', KEYS[1], 'total', ARGV[1])
return {'ok', total - claimed}
