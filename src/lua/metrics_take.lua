-- SPDX-License-Identifier: MIT
-- funneld metrics publisher: start a round (run by src/io/metricstore.c; layer io).
--   KEYS[1] the lease <p>:metrics:lease   KEYS[2] the publisher hash <p>:metrics:publisher
--   KEYS[3] the dirty set <p>:metrics:dirty   KEYS[4] the taken set <p>:metrics:taken
--   KEYS[5] the change feed <p>:changes
--   ARGV[1] the lease token
-- The apply script adds every changed hash to the dirty set in its atomic step; a round takes
-- the set whole (RENAME to taken), so every later change lands in a new dirty set and the next
-- round. Modes: 'resume' (taken exists: a round that did not finish, published again whole),
-- 'snapshot' (no position yet, or an apply ran with the topic off ('untracked'): every metric
-- hash is published; the position is removed until the snapshot is done, so a crash starts it
-- again), 'dirty', or 'none' (nothing changed). Returns {mode, version, position, keys taken}:
-- version grows with every round (ms of Redis' clock, above the last one); position is the id
-- of the change feed's last entry, the step the round covers. {'FENCED'} without the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'FENCED'} end
local pub, dirty, taken = KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local version = math.max((tonumber(redis.call('HGET', pub, 'version') or '0') or 0) + 1, now)
redis.call('HSET', pub, 'version', string.format('%d', version))
local pos = '0-0'
if redis.call('EXISTS', KEYS[5]) == 1 then
  local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
  if last[1] then pos = last[1][1] end
end
local mode = 'none'
if redis.call('EXISTS', taken) == 1 then
  mode = 'resume'
elseif redis.call('HEXISTS', pub, 'position') == 0 or redis.call('HEXISTS', pub, 'untracked') == 1 then
  mode = 'snapshot'
  redis.call('DEL', dirty)
  redis.call('HDEL', pub, 'position', 'untracked')
elseif redis.call('EXISTS', dirty) == 1 then
  mode = 'dirty'
  redis.call('RENAME', dirty, taken)
end
return {mode, string.format('%d', version), pos, redis.call('SCARD', taken)}
