-- session.lua: record a new session of one user.
--   KEYS[1] session:{user id}   hash: session id -> started at (unix µs);
--                               "ended" -> when all sessions were last ended (unix µs)
--   ARGV[1] the new session id   ARGV[2] now (unix µs)   ARGV[3] lifetime (ms)
--   ARGV[4] at most this many sessions per user: the oldest beyond it end
--   ARGV[5] when the password that opens this session was checked (unix µs)
-- Returns the number of sessions the user has now, or -1 when the user's
-- sessions were ended after the password was checked (it changed meanwhile):
-- nothing is recorded then.
local ended = redis.call('HGET', KEYS[1], 'ended')
if ended and tonumber(ended) > tonumber(ARGV[5]) then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local max = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
local n = #all / 2
if ended then n = n - 1 end
while n > max do
  local oldest, at = nil, nil
  for i = 1, #all, 2 do
    if all[i] ~= 'ended' and all[i] ~= false then
      local t = tonumber(all[i + 1])
      if at == nil or t < at then oldest, at = i, t end
    end
  end
  redis.call('HDEL', KEYS[1], all[oldest])
  all[oldest] = false
  n = n - 1
end
return n
