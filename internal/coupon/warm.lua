-- warm.lua: write (or repair) a campaign's Redis state from PostgreSQL.
--
-- A merge, safe to run at any moment, also while claims are served: the
-- shoppers given are added to the claimed hash (a shopper already there keeps
-- their entry), and the stock becomes total minus everyone claimed, in one
-- atomic step. So it restores keys Redis lost, and catches up a Redis that
-- came back behind PostgreSQL, without ever giving a coupon twice.
--   KEYS[1] coupon:{id}:meta     KEYS[2] coupon:{id}:stock    KEYS[3] coupon:{id}:claimed
--   ARGV[1] state   ARGV[2] starts_at (unix ms)   ARGV[3] ends_at (unix ms)   ARGV[4] total
--   ARGV[5..] pairs: user id, claimed at (unix ms) — persisted coupons and pending stream entries
-- Returns {claimed, remaining}.
for i = 5, #ARGV, 2000 do
  local last = math.min(i + 1999, #ARGV)
  local args = {}
  for j = i, last, 2 do
    if redis.call('HEXISTS', KEYS[3], ARGV[j]) == 0 then
      args[#args + 1] = ARGV[j]
      args[#args + 1] = ARGV[j + 1]
    end
  end
  if #args > 0 then
    redis.call('HSET', KEYS[3], unpack(args))
  end
end
local total = tonumber(ARGV[4])
local claimed = redis.call('HLEN', KEYS[3])
local stock = total - claimed
if stock < 0 then stock = 0 end
redis.call('SET', KEYS[2], stock)
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'starts_at', ARGV[2], 'ends_at', ARGV[3], 'total', ARGV[4])
return {claimed, stock}
