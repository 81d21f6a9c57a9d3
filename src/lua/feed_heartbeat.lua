-- SPDX-License-Identifier: MIT
-- funneld change-feed heartbeat (run by src/io/store.c with EVALSHA; layer io): an instance
-- that wrote no entry for feeds.heartbeat_ms says it is alive, with the watermark and its
-- partitions' lag, so that a reader tells "idle" from "stalled" (docs/feeds.md).
--   KEYS[1] the change feed <p>:changes   KEYS[2] the feed hash <p>:feed
--   ARGV[1] MAXLEN ~ cap   ARGV[2] instance   ARGV[3] interval in ms
--   ARGV[4] the partitions held, one line each: <topic>:<partition>:<next>:<lag>
-- Returns the entry's id.
for i, want in ipairs({'stream', 'hash'}) do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'none' and t ~= want then
    error('funneld heartbeat: ' .. KEYS[i] .. ' is a ' .. t .. ', expected a ' .. want, 0)
  end
end
local wm = redis.call('HGET', KEYS[2], 'watermark') or '0'
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'kind', 'heartbeat',
  'watermark', wm, 'instance', ARGV[2], 'interval_ms', ARGV[3], 'parts', ARGV[4])
