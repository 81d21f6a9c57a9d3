-- SPDX-License-Identifier: MIT
-- funneld partition claim (run by src/io/store.c with EVALSHA; layer io).
--   KEYS[1] part hash <p>:part:<topic>:<partition>
--   KEYS[2] dedupe list <p>:dedupe:<topic>:<partition>
--   KEYS[3] the set <p>:parts of every part hash ever claimed (the metrics feed reads their
--           offsets as the source of a row)
--   ARGV[1] instance id   ARGV[2] nonce (16 hex chars made in C)
-- Takes the next epoch of the partition and stores token = epoch:instance:nonce, which fences
-- every earlier owner (their token no longer matches). The nonce keeps tokens unique even when a
-- Redis without persistence restarts and the epoch counter starts again from 1. Returns
-- {token, stored next offset or nil, staged batch id or nil, dedupe chunk, dedupe chunk, ...}:
-- the dedupe horizon is read in the same atomic step, so it matches the offset exactly; a
-- staged batch (docs/redis.md, "Staged batches") is one committed and not fully applied yet,
-- which the claimer finishes before it reads anything else.
local part, dedupe = KEYS[1], KEYS[2]
-- types first: a script that fails half way is not rolled back
for i, want in ipairs({'hash', 'list', 'set'}) do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'none' and t ~= want then
    error('funneld claim: ' .. KEYS[i] .. ' is a ' .. t .. ', expected a ' .. want, 0)
  end
end
local epoch = redis.call('HINCRBY', part, 'epoch', 1)
local token = epoch .. ':' .. ARGV[1] .. ':' .. ARGV[2]
redis.call('HSET', part, 'token', token)
redis.call('SADD', KEYS[3], part)
local r = {token, redis.call('HGET', part, 'next'), redis.call('HGET', part, 'staged')}
local chunks = redis.call('LRANGE', dedupe, 0, -1)
for i = 1, #chunks do r[#r + 1] = chunks[i] end
return r
