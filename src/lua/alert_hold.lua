-- Assigned partitions hold the watermark: a partition never seen gets latest 0 (nothing known:
-- no window can be judged), and every assigned one counts as active from now, even if its last
-- event is old (a restart with a backlog). KEYS[1] the clock hash; ARGV the partition fields.
local now = redis.call('TIME')
local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))
for i = 1, #ARGV do
  redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[i], '0')
  redis.call('HSET', KEYS[1], 's:' .. ARGV[i], wall)
end
return 1
