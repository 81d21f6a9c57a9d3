-- A complete sweep's clock, only while the lease is ours and only forwards (one stale or
-- deposed writer must not move the shared clock back or pin it ahead).
-- KEYS[1] the lease, KEYS[2] the clock hash; ARGV[1] token, ARGV[2] clock. Returns 0 when the
-- lease is not ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], 'evaluated_ms') or '0') or 0
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[2], 'evaluated_ms', ARGV[2]) end
return 1
