-- session.lua: record a new session of one user.
--   KEYS[1] session:{user id}   hash: session id -> started at (unix ms)
--   ARGV[1] the new session id   ARGV[2] now (unix ms)   ARGV[3] lifetime (ms)
--   ARGV[4] at most this many sessions per user: the oldest beyond it end
-- Returns the number of sessions the user has now.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local max = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
local n = #all / 2
while n > max do
  local oldest, at = nil, nil
  for i = 1, #all, 2 do
    local t = tonumber(all[i + 1])
    if all[i] ~= false and (at == nil or t < at) then oldest, at = i, t end
  end
  redis.call('HDEL', KEYS[1], all[oldest])
  all[oldest] = false
  n = n - 1
end
return n
