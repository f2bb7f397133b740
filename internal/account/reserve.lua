-- reserve.lua: takes one unit of a fixed-window budget before the attempt it
-- pays for is judged, or refuses without changing anything.
--
-- One key per call: the budgets of one attempt (an email's and an address's)
-- may live on different Redis Cluster slots. Keys are never built here.
--   KEYS[1] the budget's counter (string: units taken in the current window)
--   ARGV[1] the limit: units per window (at least 1)
--   ARGV[2] the window in milliseconds, counted from its first unit
--
-- Returns {taken, wait_ms}:
--   {1, 0}        a unit was taken; release.lua gives it back
--   {0, wait_ms}  the budget is spent; nothing changed; it refills in wait_ms
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if used >= tonumber(ARGV[1]) then
  if ttl < 0 then
    -- A counter without expiry would refuse forever: start its window now.
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return {0, ttl}
end
redis.call('INCR', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, 0}
