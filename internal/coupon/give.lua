-- give.lua: the second half of a move (take.lua): the borrower receives the
-- units in transit. Idempotent by transfer id, so the mover and the sync that
-- finishes a move left half-done may both run it and the units land once.
-- The ids given are fields of the meta hash ("in:<id>"), not a key of their
-- own: a record lost alone would let a move land twice, and a lost meta
-- makes the stripe cold, so it is rebuilt in a new generation.
--   KEYS[1] coupon:{id.s}:meta   hash: share, gen, in:<transfer id>
--   KEYS[2] coupon:{id.s}:stock  string: coupons left on the borrower
--   ARGV[1] the lender's generation   ARGV[2] transfer id   ARGV[3] units
-- Returns {status, stock}:
--   {"given", stock}  the units are on the borrower (now, or already before)
--   {"stale", 0}      the stripes were spread again since the take: the spread
--                     counted these units; nothing changed
--   {"missing", 0}    the borrower's keys are missing or frozen; nothing changed
local gen = redis.call('HGET', KEYS[1], 'gen')
local stock = redis.call('GET', KEYS[2])
if not gen or not stock then
  return {'missing', 0}
end
if gen ~= ARGV[1] then
  return {'stale', 0}
end
if redis.call('HSETNX', KEYS[1], 'in:' .. ARGV[2], 1) == 0 then
  return {'given', tonumber(stock)}
end
redis.call('HINCRBY', KEYS[1], 'share', ARGV[3])
return {'given', redis.call('INCRBY', KEYS[2], ARGV[3])}
