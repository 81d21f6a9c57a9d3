-- Every partition of a consumed topic holds the watermark, even one no instance has been
-- assigned yet (its owner is still joining): registered at 0 and seen now, unless it is
-- registered already. KEYS[1] the clock hash; ARGV the partition fields.
local now = redis.call('TIME')
local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
for i = 1, #ARGV do
  if redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[i], '0') == 1 then
    redis.call('HSET', KEYS[1], 's:' .. ARGV[i], wall)
  end
end
return 1
