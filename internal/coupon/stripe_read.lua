-- stripe_read.lua: read one stripe whole, atomically (a claim, a take or a
-- give is before or after it), so that its claims, stock and share agree.
-- Stripes are each their own slot, so a pipeline of these reads a campaign.
--   KEYS[1] coupon:{id.s}:meta     KEYS[2] coupon:{id.s}:stock
--   KEYS[3] coupon:{id.s}:claimed  KEYS[4] coupon:{id.s}:claims
--   KEYS[5] coupon:{id.s}:out
-- Returns {state, total, share, gen, stock, claimed, pending, out}: the meta
-- fields and the stock as strings ("" when missing), claimed and pending
-- (stream length) as integers, and out as a flat list of transfer id, record
-- pairs. The borrowers' records of moves given are not read: a move whose give landed but
-- whose out record is not removed yet counts twice for that moment, and
-- whoever sees a sum too high finishes the moves (giving twice is a no-op).
local meta = redis.call('HMGET', KEYS[1], 'state', 'total', 'share', 'gen')
local stock = redis.call('GET', KEYS[2])
return {meta[1] or '', meta[2] or '', meta[3] or '', meta[4] or '', stock or '',
  redis.call('HLEN', KEYS[3]), redis.call('XLEN', KEYS[4]),
  redis.call('HGETALL', KEYS[5])}
