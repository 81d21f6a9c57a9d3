-- SPDX-License-Identifier: MIT
-- funneld metrics publisher: end a round once Kafka acknowledged every message of it (run by
-- src/io/metricstore.c; layer io).
--   KEYS[1] the lease   KEYS[2] the publisher hash   KEYS[3] the taken set
--   ARGV[1] the lease token   ARGV[2] the position the round covered   ARGV[3] rows published
--   ARGV[4] '1' when the round was a snapshot   ARGV[5] now, ms since the epoch
-- Returns 1, or 0 without the lease (the next holder publishes the taken set again).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[2], 'position', ARGV[2], 'updated_ms', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'published', ARGV[3])
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[2], 'snapshots', 1) end
return 1
