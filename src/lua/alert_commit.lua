-- State changes and their notifications, all or nothing, and only while the lease is ours.
-- KEYS[1] lease, KEYS[2] firing hash, KEYS[3] stream, KEYS[4] outbox, KEYS[5..] the state hashes
-- written; ARGV[1] token, ARGV[2] stream cap, ARGV[3] channel, then groups of 7: index of the
-- state hash in KEYS, state field, state text, notification state ("" = none), firing field,
-- alert_id, JSON. Returns 0 when the lease is not ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
-- Redis does not roll a failed script back: check every key's type before writing.
local function want(k, ty)
  local t = redis.call('TYPE', k).ok
  if t ~= 'none' and t ~= ty then
    return redis.error_reply('funneld alerts: ' .. k .. ' is a ' .. t .. ', expected a ' .. ty)
  end
end
local bad = want(KEYS[2], 'hash') or want(KEYS[3], 'stream') or want(KEYS[4], 'hash')
if bad then return bad end
for k = 5, #KEYS do
  bad = want(KEYS[k], 'hash')
  if bad then return bad end
end
local i = 4
while i + 6 <= #ARGV do
  redis.call('HSET', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  local kind = ARGV[i + 3]
  if kind ~= '' then
    local js = ARGV[i + 6]
    if kind == 'firing' then redis.call('HSET', KEYS[2], ARGV[i + 4], js)
    else redis.call('HDEL', KEYS[2], ARGV[i + 4]) end
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'alert_id', ARGV[i + 5],
               'state', kind, 'json', js)
    redis.call('HSET', KEYS[4], ARGV[i + 5], js)
    redis.call('PUBLISH', ARGV[3], js)
  end
  i = i + 7
end
return 1
