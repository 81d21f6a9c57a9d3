-- SPDX-License-Identifier: MIT
-- funneld scorer: write one period's scorecards, rankings and adjustments atomically, fenced by
-- the scorer lease (run by src/io/scorestore.c; layer io). Reference: docs/redis.md
-- "Scorecard keys".
--   KEYS[1] the lease <p>:score:lease   KEYS[2] the state hash <p>:score:state
--   KEYS[3] the periods zset <p>:score:periods
--   KEYS[4] <p>:rank:<period>:rep   KEYS[5] <p>:rank:<period>:teams
--   KEYS[6] <p>:score:rep:<period>:   KEYS[7] <p>:score:team:<period>:   (prefixes: + id)
--   KEYS[8] <p>:rank:<period>:team:  (prefix: + team)
--   KEYS[9..] the keys of the operations, in their order (card: its hash; adj: its hash, then
--   its list)
--   ARGV[1] the lease token   ARGV[2] the period id   ARGV[3] its start ms
--   ARGV[4] '1': rank the period again after the writes (live, grace, and the finalisation);
--           '0': adjustments only (a final period's rankings are frozen)
--   ARGV[5] S, then S field/value pairs for the state hash
--   then operations:
--     'card', scope, id, team ('' none), score ('' when nothing scored), n, n field/value
--       pairs: the hash is replaced whole; the rankings follow the score
--     'adj', scope, id, entry (JSON, '' none), n, n field/value pairs: the entry is appended to
--       the adjustment list and the pairs set in the (frozen) hash
-- Ranks: by score descending, ties by id ascending (byte order); 1 = best. Reps get rank_org /
-- of_org among every rep of the period and rank_team / of_team within their team; teams
-- rank_org / of_org among the teams. Returns 1, or 0 (nothing written) without the lease.
local tonumber, unpack = tonumber, unpack
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local state, periods, rank_reps, rank_teams = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local score_pfx = {rep = KEYS[6], team = KEYS[7]}
local team_pfx = KEYS[8]
local period, start, rerank_all = ARGV[2], ARGV[3], ARGV[4] == '1'

local i = 5
local ns = tonumber(ARGV[i])
i = i + 1
if ns > 0 then
  redis.call('HSET', state, unpack(ARGV, i, i + 2 * ns - 1))
end
i = i + 2 * ns
redis.call('ZADD', periods, start, period)

local k = 9
local touched = {}
while i <= #ARGV do
  local op, scope, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'card' then
    local team, score, n = ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
    local key = KEYS[k]
    k = k + 1
    local old_team = false
    if scope == 'rep' then old_team = redis.call('HGET', key, 'team') end
    redis.call('DEL', key)
    if n > 0 then redis.call('HSET', key, unpack(ARGV, i + 6, i + 5 + 2 * n)) end
    i = i + 6 + 2 * n
    if scope == 'rep' then
      if old_team and old_team ~= '' and old_team ~= team then
        redis.call('ZREM', team_pfx .. old_team, id)
        touched[old_team] = true
      end
      if score == '' then
        redis.call('ZREM', rank_reps, id)
        if team ~= '' then redis.call('ZREM', team_pfx .. team, id) end
      else
        redis.call('ZADD', rank_reps, score, id)
        if team ~= '' then redis.call('ZADD', team_pfx .. team, score, id) end
      end
      if team ~= '' then touched[team] = true end
    elseif score == '' then
      redis.call('ZREM', rank_teams, id)
    else
      redis.call('ZADD', rank_teams, score, id)
    end
  elseif op == 'adj' then
    local entry, n = ARGV[i + 3], tonumber(ARGV[i + 4])
    local key, list = KEYS[k], KEYS[k + 1]
    k = k + 2
    if entry ~= '' then redis.call('RPUSH', list, entry) end
    if n > 0 then redis.call('HSET', key, unpack(ARGV, i + 5, i + 4 + 2 * n)) end
    i = i + 5 + 2 * n
  else
    return redis.error_reply('score_commit: unknown operation ' .. tostring(op))
  end
end

-- Writes rank and of into the hash of every member of zset (prefix .. member).
local function rerank(zset, prefix, rank_field, of_field)
  local flat = redis.call('ZRANGE', zset, 0, -1, 'WITHSCORES')
  local m = {}
  for j = 1, #flat, 2 do m[#m + 1] = {id = flat[j], score = tonumber(flat[j + 1])} end
  table.sort(m, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.id < b.id
  end)
  local of = tostring(#m)
  for r, e in ipairs(m) do
    local key = prefix .. e.id
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, rank_field, tostring(r), of_field, of)
    end
  end
end

if rerank_all then
  rerank(rank_reps, score_pfx.rep, 'rank_org', 'of_org')
  rerank(rank_teams, score_pfx.team, 'rank_org', 'of_org')
  for team in pairs(touched) do
    rerank(team_pfx .. team, score_pfx.rep, 'rank_team', 'of_team')
  end
end
return 1
