-- SPDX-License-Identifier: MIT
-- funneld partition reload under the claim held (run by src/io/store.c with EVALSHA; layer io).
--   KEYS[1] part hash <p>:part:<topic>:<partition>
--   KEYS[2] dedupe list <p>:dedupe:<topic>:<partition>
--   ARGV[1] the claim's token
-- A batch refused before any write (a deal folded as new whose state Redis holds) is read again
-- under the same claim: no new epoch, no rebalance. This reads what claim.lua reads, in one
-- atomic step so that the dedupe horizon matches the offset exactly, and writes nothing.
-- Returns {'FENCED'} when the token is no longer the part's (a newer claim took it);
-- {'STAGED', id} when a staged batch waits on the part (a claim finishes it first); else
-- {'OK', stored next offset or false, dedupe chunk, dedupe chunk, ...}.
local part, dedupe = KEYS[1], KEYS[2]
for i, want in ipairs({'hash', 'list'}) do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'none' and t ~= want then
    error('funneld reload: ' .. KEYS[i] .. ' is a ' .. t .. ', expected a ' .. want, 0)
  end
end
local got = redis.call('HMGET', part, 'token', 'next', 'staged')
if got[1] ~= ARGV[1] then return {'FENCED'} end
if got[3] and got[3] ~= '' then return {'STAGED', got[3]} end
local r = {'OK', got[2]}
local chunks = redis.call('LRANGE', dedupe, 0, -1)
for i = 1, #chunks do r[#r + 1] = chunks[i] end
return r
