-- SPDX-License-Identifier: MIT
-- A lease (the alert evaluator's, the metrics publisher's): take it when free, renew it when ours.
-- KEYS[1] the lease; ARGV[1] our token, ARGV[2] the lease in ms, or 0 to release it (when
-- ours). Returns 1 when held.
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
