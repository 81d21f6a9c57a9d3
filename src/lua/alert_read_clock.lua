-- The clock hash and Redis's TIME in one step: {seconds, microseconds, HGETALL}.
-- KEYS[1] the clock hash.
local t = redis.call('TIME')
return {tonumber(t[1]), tonumber(t[2]),
        redis.call('HGETALL', KEYS[1])}
