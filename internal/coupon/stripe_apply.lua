-- stripe_apply.lua: write one stripe of a striped campaign (docs/COUPONS.md
-- "Stripes"). Only the campaign's one writer calls it, under the campaign's
-- row lock in PostgreSQL (sync.go); claims and moves between stripes run
-- meanwhile. A stripe holds `share` units: its claims plus its stock, so
-- claimed + stock = share, and the shares plus the units in transit between
-- stripes add up to the campaign's total.
--   KEYS[1] coupon:{id.s}:meta     hash: state, starts_at, ends_at, total, share, gen, stripes,
--                                  in:<transfer id> for each move given to this stripe (give.lua)
--   KEYS[2] coupon:{id.s}:stock    string: coupons left on this stripe
--   KEYS[3] coupon:{id.s}:claimed  hash: user id -> claimed at (unix ms)
--   KEYS[4] coupon:{id.s}:out      hash: transfer id -> "to:n:unix s", units taken from this stripe
--   ARGV[1] mode:
--           "freeze"  stop claims and moves on the stripe (stock, gen and the
--                     transfer records removed), before its units are spread again
--           "create"  the stripe holds ARGV[7] units from now on, in generation ARGV[6]
--           "sync"    copy PostgreSQL's state, window and total; keep the share
--   ARGV[2] state   ARGV[3] starts_at (unix ms)   ARGV[4] ends_at (unix ms)   ARGV[5] total
--   ARGV[6] generation (create)   ARGV[7] share (create)   ARGV[8] the campaign's stripes
--   ARGV[9] claims the caller counted on this stripe since its freeze (create)
-- Returns {status, n}:
--   {"frozen", claimed}         freeze: the stripe's claims, which no longer change
--   {"frozen_lost", claimed}    freeze of a stripe whose keys were missing: its
--                               claimed hash must be rebuilt before it is trusted
--   {"ok", stock}               sync: the stripe held the figures already
--   {"changed", stock}          create, or sync that replaced other figures
--   {"below_claimed", claimed}  create with a share below the stripe's claims: nothing written
--   {"missing", 0}              sync: a key is missing, or stock is not share less claims: rebuild;
--                               create: the claimed hash holds fewer than counted (lost
--                               meanwhile): nothing written, the stripe stays frozen
local mode = ARGV[1]
local claimed = redis.call('HLEN', KEYS[3])
if mode == 'freeze' then
  local warm = redis.call('HGET', KEYS[1], 'gen') and redis.call('EXISTS', KEYS[2]) == 1
  redis.call('DEL', KEYS[2], KEYS[4])
  redis.call('HDEL', KEYS[1], 'gen')
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, 3) == 'in:' then
      redis.call('HDEL', KEYS[1], f)
    end
  end
  if warm then
    return {'frozen', claimed}
  end
  return {'frozen_lost', claimed}
end
local meta = redis.call('HMGET', KEYS[1], 'state', 'starts_at', 'ends_at', 'total', 'share', 'gen', 'stripes')
local stock = redis.call('GET', KEYS[2])
local share = tonumber(meta[5])
if mode == 'create' then
  share = tonumber(ARGV[7])
  if claimed < tonumber(ARGV[9]) then
    return {'missing', 0}
  end
  if share < claimed then
    return {'below_claimed', claimed}
  end
  redis.call('HSET', KEYS[1], 'share', share, 'gen', ARGV[6])
elseif not meta[1] or not stock or not share or not meta[6] or tonumber(stock) ~= share - claimed then
  -- Claims, takes and gives keep stock = share - claimed: a stripe that
  -- disagrees lost part of its keys (its claimed hash deleted alone), and
  -- stock recomputed from that hash would be offered twice.
  return {'missing', 0}
end
local left = share - claimed
if mode == 'sync' and meta[1] == ARGV[2] and meta[2] == ARGV[3] and meta[3] == ARGV[4] and meta[4] == ARGV[5]
    and meta[7] == ARGV[8] and tonumber(stock) == left then
  return {'ok', left}
end
redis.call('SET', KEYS[2], left)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'starts_at', ARGV[3], 'ends_at', ARGV[4], 'total', ARGV[5], 'stripes', ARGV[8])
return {'changed', left}
