-- release.lua: gives back one unit that reserve.lua took, when the attempt it
-- paid for turned out not to count (a right password, a busy server).
--
--   KEYS[1] the budget's counter (as in reserve.lua)
--
-- Returns the units still taken in the window. A counter whose window has
-- ended stays gone: a DECR would recreate it without an expiry.
if not redis.call('GET', KEYS[1]) then
  return 0
end
local left = redis.call('DECR', KEYS[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
return left
