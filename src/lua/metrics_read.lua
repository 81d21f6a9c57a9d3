-- SPDX-License-Identifier: MIT
-- funneld metrics publisher: read rows (run by src/io/metricstore.c; layer io).
--   KEYS[1] the lease <p>:metrics:lease; KEYS[2] the set <p>:parts of every claimed part hash;
--   KEYS[3..] the metric hashes to read
--   ARGV[1] the lease token
-- Returns {{part key, next offset or '', ...}, fields and values of KEYS[3], of KEYS[4], ...}
-- (an empty list for a hash that no longer exists: retention expired it), or {'FENCED'} when
-- the lease is no longer ours (a deposed publisher reads nothing more to produce). One atomic
-- step, so every row reflects exactly the messages before the offsets returned with it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'FENCED'} end
local src = {}
for _, part in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  src[#src + 1] = part
  src[#src + 1] = redis.call('HGET', part, 'next') or ''
end
local out = {src}
for i = 3, #KEYS do out[i - 1] = redis.call('HGETALL', KEYS[i]) end
return out
