-- apply.lua: write a campaign's configuration into Redis, as PostgreSQL has
-- it. Only the campaign's one writer calls it, under the campaign's row lock
-- in PostgreSQL (sync.go); claims run meanwhile, and the stock is recomputed
-- from the claimed hash in the same atomic step, so claimed + stock = total.
--   KEYS[1] coupon:{id}:meta     hash: state, starts_at, ends_at (unix ms), total
--   KEYS[2] coupon:{id}:stock    string: coupons left
--   KEYS[3] coupon:{id}:claimed  hash: user id -> claimed at (unix ms)
--   ARGV[1] mode:
--           "resize"  the admin lowers the total: refused below what is claimed
--           "sync"    copy PostgreSQL's figures over whatever Redis has
--           "create"  the last step of a rebuild: the keys may be missing
--   ARGV[2] state   ARGV[3] starts_at (unix ms)   ARGV[4] ends_at (unix ms)   ARGV[5] total
--   ARGV[6] claims the hash must hold: PostgreSQL's coupons, or for create
--           every claim the rebuild counted; a claimed hash smaller is behind
-- Returns {status, n}:
--   {"ok", remaining}          Redis holds the figures (nothing written when it already did)
--   {"changed", remaining}     Redis held other figures, now replaced
--   {"below_claimed", claimed} mode resize only: nothing changed
--   {"missing", 0}             the claimed hash is behind, or (not mode
--                              create) a key is missing or the stock is not
--                              the total less the claims: the caller
--                              rebuilds; nothing written
local mode, total = ARGV[1], tonumber(ARGV[5])
local claimed = redis.call('HLEN', KEYS[3])
local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at', 'total')
local stock = redis.call('GET', KEYS[2])
if claimed < tonumber(ARGV[6]) or (mode ~= 'create' and (not meta[1] or not meta[4] or not stock)) then
  return {'missing', 0}
end
-- Claims keep stock = total - claimed (0 when more are claimed). Keys that
-- disagree lost part of themselves (the claimed hash deleted alone): stock
-- recomputed from that hash would be offered twice, so the caller rebuilds.
if mode ~= 'create' and tonumber(stock) ~= math.max(0, tonumber(meta[4]) - claimed) then
  return {'missing', 0}
end
if mode == 'resize' and total < claimed then
  return {'below_claimed', claimed}
end
local left = math.max(0, total - claimed)
if meta[1] == ARGV[2] and meta[2] == ARGV[3] and meta[3] == ARGV[4] and meta[4] == ARGV[5]
    and stock and tonumber(stock) == left then
  return {'ok', left}
end
redis.call('SET', KEYS[2], left)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'starts_at', ARGV[3], 'ends_at', ARGV[4], 'total', ARGV[5])
return {'changed', left}
