-- One arrival at a campaign's waiting room (internal/room, docs/HTTP.md).
-- The room admits one arrival per interval, in arrival order (the generic
-- cell rate algorithm: tat is when the line, at the admission rate, will
-- next be free). An arrival that fits the rate within the burst tolerance
-- passes at once (the room is skipped); later ones get a numbered ticket for
-- the moment their turn comes. Redis's clock is the one clock, so app
-- instances on several machines share one line.
--
-- KEYS[1] room:{id}:tat      the line's theoretical arrival time, µs
-- KEYS[2] room:{id}:tickets  hash: session id -> "seq:slot_µs" of its ticket
-- KEYS[3] room:{id}:seq      tickets issued so far
-- KEYS[4] coupon:{id}:meta   the campaign in Redis: no room without it
-- ARGV[1] interval µs between admissions (1e6 / rate)
-- ARGV[2] burst tolerance µs (arrivals that may pass at once × interval)
-- ARGV[3] session id
-- ARGV[4] admitted window µs: how long a ticket may claim after its slot
--
-- Returns {kind, seq, slot_µs, now_µs}:
--   {"skip", 0, now, now}       pass now, no ticket (also: campaign not in Redis)
--   {"ticket", seq, slot, now}  this session's ticket, new or already held
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if redis.call('EXISTS', KEYS[4]) == 0 then
  return {'skip', 0, now, now}
end
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local window = tonumber(ARGV[4])

local held = redis.call('HGET', KEYS[2], ARGV[3])
if held then
  local seq, slot = string.match(held, '^(%d+):(%d+)$')
  if seq and now <= tonumber(slot) + window then
    return {'ticket', tonumber(seq), tonumber(slot), now}
  end
end

local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local slot = tat - tau
local nexttat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', nexttat), 'PX', math.floor((nexttat - now) / 1000) + 1000)
if slot <= now then
  return {'skip', 0, now, now}
end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[3], string.format('%d:%d', seq, slot))
-- Later tickets have later slots, so each one stretches the line's keys to
-- cover itself; the room leaves nothing behind once its last ticket is over.
local ttl = math.floor((slot - now + window) / 1000) + 60000
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {'ticket', seq, slot, now}
