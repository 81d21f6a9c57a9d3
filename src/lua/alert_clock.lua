-- The shared event clock: per partition the latest event time applied (p:<topic>:<partition>)
-- and when that last moved on the wall clock (s:...), the overall latest (event_ms) and the
-- earliest event (first_ms); every value only moves forward (first_ms backward).
-- KEYS[1] the clock hash; ARGV[1] first, then (partition field, latest) pairs.
local now = redis.call('TIME')
local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
local f = redis.call('HGET', KEYS[1], 'first_ms')
if not f or tonumber(ARGV[1]) < tonumber(f) then
  redis.call('HSET', KEYS[1], 'first_ms', ARGV[1])
end
for i = 2, #ARGV - 1, 2 do
  local v = tonumber(ARGV[i + 1])
  if v > tonumber(redis.call('HGET', KEYS[1], 'p:' .. ARGV[i]) or '0') then
    redis.call('HSET', KEYS[1], 'p:' .. ARGV[i], ARGV[i + 1], 's:' .. ARGV[i], wall)
  end
  if v > tonumber(redis.call('HGET', KEYS[1], 'event_ms') or '0') then
    redis.call('HSET', KEYS[1], 'event_ms', ARGV[i + 1])
  end
end
return 1
