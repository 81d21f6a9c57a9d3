-- SPDX-License-Identifier: MIT
-- funneld metrics publisher: read rows (run by src/io/metricstore.c; layer io).
--   KEYS[1] the set <p>:parts of every claimed part hash; KEYS[2..] the metric hashes to read
-- Returns {{part key, next offset or '', ...}, fields and values of KEYS[2], of KEYS[3], ...}
-- (an empty list for a hash that no longer exists: retention expired it). One atomic step, so
-- every row reflects exactly the messages before the offsets returned with it.
local src = {}
for _, part in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  src[#src + 1] = part
  src[#src + 1] = redis.call('HGET', part, 'next') or ''
end
local out = {src}
for i = 2, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
