// SPDX-License-Identifier: MIT
// Redis adapter: partition claims with fencing tokens, deal-state and dedupe loads, the atomic
// batch apply (one Lua script per batch) and metric reads; reconnects on demand (layer 3;
// hiredis stays inside this file). Key layout: docs/redis.md.
#include "io/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis.h>

#include "base/map.h"

#define SHA_LEN      40
#define ERRSTR_MAX   512
#define MGET_CHUNK   1000 /* keys per MGET: bounded replies, still one round trip (pipelined) */
#define NONCE_HEX    16
#define APPLY_LAYOUT "3"                /* ARGV layout version: must match the apply script */
#define DELTA_BIG    1000000000000000LL /* 10^15: deltas from here on travel as digits */

/* Claim: ARGV = part key, dedupe key, instance id, nonce (16 hex chars made in C).
 * Takes the next epoch of the partition and stores token = epoch:instance:nonce, which fences
 * every earlier owner (their token no longer matches). The nonce keeps tokens unique even when a
 * Redis without persistence restarts and the epoch counter starts again from 1. Returns
 * {token, stored next offset or nil, dedupe chunk, dedupe chunk, ...}: the dedupe horizon is read
 * in the same atomic step, so it matches the offset exactly. */
static const char claim_lua[] = "local epoch = redis.call('HINCRBY', ARGV[1], 'epoch', 1)\n"
                                "local token = epoch .. ':' .. ARGV[3] .. ':' .. ARGV[4]\n"
                                "redis.call('HSET', ARGV[1], 'token', token)\n"
                                "local r = {token, redis.call('HGET', ARGV[1], 'next')}\n"
                                "local chunks = redis.call('LRANGE', ARGV[2], 0, -1)\n"
                                "for i = 1, #chunks do r[#r + 1] = chunks[i] end\n"
                                "return r\n";

/* The apply script: one atomic step per batch. Its ARGV layout is documented at its top (and
 * built by build_apply_args below). */
static const char apply_lua[] =
    "-- funneld batch apply, ARGV layout 3 (counts as decimal text, hash deltas in binary):\n"
    "--   [1] layout version '3'   [2] stats hash key\n"
    "--   S, then S stage names (the last is the won stage)\n"
    "--   F, then F metric field names (deltas refer to them by index 0..F-1);\n"
    "--      won_amount and feedback_sum are amounts in hundredths\n"
    "--   P, then P parts of 8: part key, token, from ('' = no stored offset),\n"
    "--      next ('' only when from is '' and the part read nothing), dedupe key,\n"
    "--      dedupe chunk (binary, 16 bytes per id, may be ''), ids in the chunk,\n"
    "--      dedupe max (ids the list must keep; 0 = never trim)\n"
    "--   X, then X deal keys that must not exist (deals folded as new: their first event\n"
    "--      seen was a deal.created and funneld did not read them)\n"
    "--   H, then H hashes of 2: key, deltas (binary): expire_at_s (0 = none) as a varint,\n"
    "--      then per changed field its index (one byte) and its delta: a varint in\n"
    "--      1 .. 10^15-1, or for a bigger one a 0 byte, a length byte L and L digits.\n"
    "--      Varint: 7 bits a byte, least significant first, high bit set = more follow.\n"
    "--   D, then D x (deal key, encoded deal state)\n"
    "--   N, then N x (stats field, delta >= 0)\n"
    "-- Returns {'OK'}; {'ALREADY'} when this very batch was applied before (a retry);\n"
    "-- {'FENCED', i}; {'GAP', i, stored next} (i = part number from 1); {'EXISTS', key}\n"
    "-- when a deal folded as new has a stored state; or an error reply\n"
    "-- when the input or a stored value is malformed. Redis does not roll back a script\n"
    "-- that fails half way, so phase 1 checks everything with reads only and phase 2\n"
    "-- writes: nothing is written unless the answer is OK.\n"
    "local A, nargs, pos = ARGV, #ARGV, 1\n"
    "local byte, find, format, gsub, sub, floor, tonumber, unpack =\n"
    "  string.byte, string.find, string.format, string.gsub, string.sub, math.floor, tonumber,\n"
    "  unpack\n"
    "local function fail(msg) error('funneld apply: ' .. msg, 0) end\n"
    "local function take()\n"
    "  if pos > nargs then fail('ARGV ends early at ' .. pos) end\n"
    "  pos = pos + 1\n"
    "  return A[pos - 1]\n"
    "end\n"
    "local function take_uint(what)\n"
    "  local v = take()\n"
    "  if #v > 18 or not find(v, '^%d+$') then\n"
    "    fail(what .. ' at ARGV[' .. (pos - 1) .. ']: expected an unsigned integer')\n"
    "  end\n"
    "  return tonumber(v), v\n"
    "end\n"
    "local function check_type(key, want)\n"
    "  local t = redis.call('TYPE', key).ok\n"
    "  if t ~= 'none' and t ~= want then\n"
    "    fail(key .. ' is a ' .. t .. ', expected a ' .. want)\n"
    "  end\n"
    "end\n"
    "-- Exact addition of two digit strings, for values beyond the fast path below.\n"
    "local function add_digits(a, b)\n"
    "  local out, i, j, carry = {}, #a, #b, 0\n"
    "  while i >= 1 or j >= 1 or carry > 0 do\n"
    "    local d = carry\n"
    "    if i >= 1 then d = d + byte(a, i) - 48; i = i - 1 end\n"
    "    if j >= 1 then d = d + byte(b, j) - 48; j = j - 1 end\n"
    "    out[#out + 1] = d % 10\n"
    "    carry = (d - d % 10) / 10\n"
    "  end\n"
    "  local s = gsub(string.reverse(table.concat(out)), '^0+', '')\n"
    "  if s == '' then return '0' end\n"
    "  return s\n"
    "end\n"
    "-- Amounts are stored as '%.2f' text and kept exactly in hundredths.\n"
    "local function add_hundredths(cur, delta)\n"
    "  local s = add_digits(cur and gsub(cur, '%.', '') or '0', delta)\n"
    "  s = string.rep('0', 3 - #s) .. s\n"
    "  return sub(s, 1, -3) .. '.' .. sub(s, -2)\n"
    "end\n"
    "-- The fast path keeps values as doubles below BIG = 10^15: exact, and so is the sum of\n"
    "-- two (< 2^53); anything bigger takes the exact digit-string path. Converting between\n"
    "-- text and numbers costs more than the rest of the work, and the same small counts\n"
    "-- recur in most hashes, so both directions are memoised: number_of[text] (a checked\n"
    "-- stored count: its value, or false from BIG on) and text_of[number].\n"
    "local BIG = 1e15\n"
    "local number_of = {}\n"
    "local text_of = setmetatable({}, {__index = function(t, n)\n"
    "  -- integers below 10^14 print exactly with Lua's '%.14g'\n"
    "  local s = n < 1e14 and n .. '' or format('%d', n)\n"
    "  t[n] = s\n"
    "  return s\n"
    "end})\n"
    "\n"
    "-- phase 1a: shapes of ARGV up to the parts (the rest is checked as it is read)\n"
    "if take() ~= '3' then fail('ARGV layout version is not 3') end\n"
    "local stats_key = take()\n"
    "local nstages = take_uint('stage count')\n"
    "if nstages < 2 then fail('expected at least 2 stages') end\n"
    "local stages = {}\n"
    "for s = 1, nstages do stages[s] = take() end\n"
    "local nfields = take_uint('field count')\n"
    "if nfields > 256 then fail('more than 256 fields') end\n"
    "local fields = {}\n"
    "for f = 1, nfields do fields[f] = take() end\n"
    "local parts = {}\n"
    "for i = 1, take_uint('part count') do\n"
    "  local p = {}\n"
    "  p.key = take(); p.token = take(); p.from = take(); p.next = take()\n"
    "  p.dkey = take(); p.chunk = take()\n"
    "  p.nids = take_uint('dedupe ids'); p.max = take_uint('dedupe max')\n"
    "  if p.from ~= '' and not find(p.from, '^%d+$') then\n"
    "    fail('from of part ' .. i)\n"
    "  end\n"
    "  if not find(p.next, '^%d*$') or (p.next == '' and p.from ~= '') then\n"
    "    fail('next of part ' .. i)\n"
    "  end\n"
    "  if #p.chunk ~= 16 * p.nids then\n"
    "    fail('dedupe chunk of part ' .. i .. ' has the wrong length')\n"
    "  end\n"
    "  parts[i] = p\n"
    "end\n"
    "\n"
    "-- phase 1b: fencing and offsets. A batch retried after a client-side timeout may\n"
    "-- already be applied: then every part's stored next already equals the batch's next.\n"
    "local stored = {}\n"
    "for i, p in ipairs(parts) do\n"
    "  check_type(p.key, 'hash')\n"
    "  check_type(p.dkey, 'list')\n"
    "  local v = redis.call('HMGET', p.key, 'token', 'next')\n"
    "  if v[1] ~= p.token then return {'FENCED', i} end\n"
    "  stored[i] = v[2] or ''\n"
    "end\n"
    "if #parts > 0 then\n"
    "  local already = true\n"
    "  for i, p in ipairs(parts) do if stored[i] ~= p.next then already = false end end\n"
    "  if already then return {'ALREADY'} end\n"
    "end\n"
    "for i, p in ipairs(parts) do\n"
    "  if stored[i] ~= p.from then return {'GAP', i, stored[i]} end\n"
    "end\n"
    "-- deals folded as new must have no stored state (else they were folded from the wrong\n"
    "-- state: funneld reads them and folds again)\n"
    "local nnew = take_uint('new deal count')\n"
    "if pos + nnew - 1 > nargs then fail('ARGV ends early in the new deals') end\n"
    "for first = pos, pos + nnew - 1, 500 do\n"
    "  local last = math.min(first + 499, pos + nnew - 1)\n"
    "  if redis.call('EXISTS', unpack(A, first, last)) > 0 then\n"
    "    for i = first, last do\n"
    "      if redis.call('EXISTS', A[i]) > 0 then return {'EXISTS', A[i]} end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "pos = pos + nnew\n"
    "\n"
    "-- phase 1c: each hash update reads, with one HMGET, the fields it changes and the other\n"
    "-- input of each derived field they feed, and computes everything it will write. Only\n"
    "-- derived fields with a changed input are recomputed: the others still match their\n"
    "-- unchanged inputs. Derived field d is x / (y * scale[d]), or x / (x + y) when sum[d].\n"
    "-- Fields are handled by their index k (1-based) in the field list: fname[k], famount[k]\n"
    "-- (an amount in hundredths), fderived[k] (the derived field it feeds), fpartner[k] (the\n"
    "-- other input of that derived field).\n"
    "local fname, famount, fderived, fpartner, index_of = fields, {}, {}, {}, {}\n"
    "for k = 1, nfields do index_of[fields[k]] = k end\n"
    "famount[index_of.won_amount or 0] = true\n"
    "famount[index_of.feedback_sum or 0] = true\n"
    "local dname, din1, din2, dscale, dsum, dmemo = {}, {}, {}, {}, {}, {}\n"
    "local memo4, memo2 = {}, {} -- formatted values by quotient\n"
    "local function derived(name, x, y, scale, sum, memo)\n"
    "  local kx, ky = index_of[x], index_of[y]\n"
    "  if not kx or not ky then fail('the field list lacks ' .. x .. ' or ' .. y) end\n"
    "  local d = #dname + 1\n"
    "  dname[d], din1[d], din2[d], dscale[d], dsum[d], dmemo[d] = name, kx, ky, scale, sum, memo\n"
    "  fderived[kx], fderived[ky], fpartner[kx], fpartner[ky] = d, d, ky, kx\n"
    "end\n"
    "for s = 1, nstages - 1 do\n"
    "  local n = stages[s]\n"
    "  derived('conv:' .. n, 'advanced:' .. n, 'entered:' .. n, 1, false, memo4)\n"
    "  derived('exit_conv:' .. n, 'moved_on:' .. n, 'lost_at:' .. n, 1, true, memo4)\n"
    "  -- every rate is ONE division of exact integers, so the printed value is that of the\n"
    "  -- double nearest the exact quotient (any reader can reproduce it): hours = ms / 3.6e6\n"
    "  derived('dwell_hours:' .. n, 'dwell_sum_ms:' .. n, 'dwell_count:' .. n, 3600000, false,\n"
    "          memo2)\n"
    "end\n"
    "derived('win_rate', 'won', 'lost', 1, true, memo4)\n"
    "-- feedback_sum is stored as d.dd text; its value here is in hundredths\n"
    "derived('feedback_avg', 'feedback_sum', 'feedback_count', 100, false, memo2)\n"
    "\n"
    "check_type(stats_key, 'hash')\n"
    "-- What phase 2 writes, without a table per hash: the HSET arguments of hash h are\n"
    "-- W[hw[h] .. hw[h + 1] - 1]; its key is ARGV[hpos[h]], hexp[h] its expiry (0 = none);\n"
    "-- hdel[h] lists fields to delete (rare: a zero count or a zero denominator).\n"
    "local W, nw, hw, hpos, hexp, hdel, seen = {}, 0, {}, {}, {}, {}, {}\n"
    "-- scratch of the current hash h: fields to read (rk: index, rf: name), deltas (rd: a\n"
    "-- number, or false beyond the fast path, with its digits in rs), new values (val);\n"
    "-- stamp[k] == h and dstamp[d] == h mark what belongs to hash h\n"
    "local rk, rf, rd, rs, val, stamp, dstamp = {}, {}, {}, {}, {}, {}, {}\n"
    "-- Decodes the varint at b[i]; returns its value and the index after it.\n"
    "local function varint(b, i, key)\n"
    "  local v, mul, c = 0, 1, b[i]\n"
    "  while c and c >= 128 and mul < 2 ^ 49 do\n"
    "    v = v + (c - 128) * mul\n"
    "    mul = mul * 128\n"
    "    i = i + 1\n"
    "    c = b[i]\n"
    "  end\n"
    "  if not c or c >= 128 then fail('deltas of ' .. key .. ': bad varint') end\n"
    "  v = v + c * mul\n"
    "  if v >= BIG then fail('deltas of ' .. key .. ': varint beyond 10^15') end\n"
    "  return v, i + 1\n"
    "end\n"
    "local nhashes = take_uint('hash count')\n"
    "if pos + 2 * nhashes - 1 > nargs then fail('ARGV ends early in the hashes') end\n"
    "for h = 1, nhashes do\n"
    "  local key, deltas = A[pos], A[pos + 1]\n"
    "  hpos[h], hw[h] = pos, nw + 1\n"
    "  pos = pos + 2\n"
    "  if seen[key] then fail(key .. ' is listed twice') end\n"
    "  seen[key] = true\n"
    "  -- the deltas: varint expiry, then (field index, varint delta) pairs\n"
    "  local b = {byte(deltas, 1, -1)}\n"
    "  local nb, n, i = #b, 0\n"
    "  hexp[h], i = varint(b, 1, key)\n"
    "  while i <= nb do\n"
    "    local k = b[i] + 1\n"
    "    if not fname[k] or stamp[k] == h then\n"
    "      fail('deltas of ' .. key .. ': field ' .. (k - 1) .. ' unknown or twice')\n"
    "    end\n"
    "    stamp[k] = h\n"
    "    local d = b[i + 1]\n"
    "    if d and d < 128 then\n"
    "      i = i + 2 -- the common one-byte varint\n"
    "    else\n"
    "      d, i = varint(b, i + 1, key)\n"
    "    end\n"
    "    n = n + 1\n"
    "    rk[n], rf[n], rd[n] = k, fname[k], d\n"
    "    if d == 0 then\n"
    "      -- a delta beyond the fast path, as digits\n"
    "      local len = b[i] or 0\n"
    "      local s = sub(deltas, i + 1, i + len)\n"
    "      if #s ~= len or len > 20 or not find(s, '^%d+$') then\n"
    "        fail('deltas of ' .. key .. ': bad digits of ' .. fname[k])\n"
    "      end\n"
    "      rd[n], rs[n] = false, s\n"
    "      i = i + 1 + len\n"
    "    end\n"
    "  end\n"
    "  local nread = n\n"
    "  for j = 1, n do\n"
    "    local p = fpartner[rk[j]]\n"
    "    if p and stamp[p] ~= h then\n"
    "      stamp[p] = h\n"
    "      nread = nread + 1\n"
    "      rk[nread], rf[nread] = p, fname[p]\n"
    "    end\n"
    "  end\n"
    "  local v = nread > 0 and redis.call('HMGET', key, unpack(rf, 1, nread)) or {}\n"
    "  for j = n + 1, nread do\n"
    "    local k, cur = rk[j], v[j]\n"
    "    if cur and famount[k] then cur = gsub(cur, '%.', '') end\n"
    "    val[k] = cur and tonumber(cur) or 0\n"
    "  end\n"
    "  local del\n"
    "  for j = 1, n do\n"
    "    local k, cur, d = rk[j], v[j], rd[j]\n"
    "    local new, text\n"
    "    if not famount[k] then\n"
    "      -- a counter: digits, as HINCRBY writes them\n"
    "      local c = 0\n"
    "      if cur then\n"
    "        c = number_of[cur]\n"
    "        if c == nil then\n"
    "          if not find(cur, '^%d+$') then\n"
    "            fail(key .. ' ' .. fname[k] .. ' holds ' .. cur .. ', expected digits')\n"
    "          end\n"
    "          c = tonumber(cur)\n"
    "          if c >= BIG then c = false end\n"
    "          number_of[cur] = c\n"
    "        end\n"
    "      end\n"
    "      if c and d then\n"
    "        new = c + d\n"
    "        text = text_of[new]\n"
    "      else\n"
    "        text = add_digits(c and text_of[c] or cur, d and text_of[d] or rs[j])\n"
    "        new = tonumber(text)\n"
    "      end\n"
    "    else\n"
    "      -- an amount: '%.2f' text of hundredths. With up to 13 integer digits, the double\n"
    "      -- nearest the text times 100 is within 0.1 of the exact count of hundredths.\n"
    "      local c = 0\n"
    "      if cur then\n"
    "        if not find(cur, '^%d+%.%d%d$') then\n"
    "          fail(key .. ' ' .. fname[k] .. ' holds ' .. cur .. ', expected d.dd')\n"
    "        end\n"
    "        c = #cur <= 16 and floor(tonumber(cur) * 100 + 0.5)\n"
    "      end\n"
    "      if c and d and c + d < BIG then\n"
    "        new = c + d\n"
    "        local cents = new % 100\n"
    "        text = format('%d.%02d', (new - cents) / 100, cents)\n"
    "      else\n"
    "        text = add_hundredths(cur, d and text_of[d] or rs[j])\n"
    "        new = tonumber((gsub(text, '%.', '')))\n"
    "      end\n"
    "    end\n"
    "    val[k] = new\n"
    "    if new == 0 then\n"
    "      del = del or {}\n"
    "      del[#del + 1] = fname[k]\n"
    "    else\n"
    "      W[nw + 1], W[nw + 2] = fname[k], text\n"
    "      nw = nw + 2\n"
    "    end\n"
    "  end\n"
    "  for j = 1, n do\n"
    "    local d = fderived[rk[j]]\n"
    "    if d and dstamp[d] ~= h then\n"
    "      dstamp[d] = h\n"
    "      local x, y = val[din1[d]], val[din2[d]]\n"
    "      local den\n"
    "      if dsum[d] then den = x + y else den = y * dscale[d] end\n"
    "      if den > 0 then\n"
    "        local q = x / den\n"
    "        local memo = dmemo[d]\n"
    "        local text = memo[q]\n"
    "        if not text then\n"
    "          text = format(memo == memo4 and '%.4f' or '%.2f', q)\n"
    "          if q == q then memo[q] = text end\n"
    "        end\n"
    "        W[nw + 1], W[nw + 2] = dname[d], text\n"
    "        nw = nw + 2\n"
    "      else\n"
    "        del = del or {}\n"
    "        del[#del + 1] = dname[d]\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  hdel[h] = del\n"
    "end\n"
    "hw[nhashes + 1] = nw + 1\n"
    "local ndeals = take_uint('deal count')\n"
    "local deal_pos = pos\n"
    "if pos + 2 * ndeals - 1 > nargs then fail('ARGV ends early in the deals') end\n"
    "pos = pos + 2 * ndeals\n"
    "local stats_pos = pos\n"
    "local sfields = {}\n"
    "for f = 1, take_uint('stats count') do sfields[f] = take(); take_uint('stats delta') end\n"
    "if pos ~= nargs + 1 then fail((nargs + 1 - pos) .. ' ARGV entries left over') end\n"
    "-- HINCRBY below must not fail half way: every stats field it adds to must hold an\n"
    "-- integer small enough (17 digits) that a batch's delta cannot overflow it.\n"
    "if #sfields > 0 then\n"
    "  local sv = redis.call('HMGET', stats_key, unpack(sfields))\n"
    "  for f = 1, #sfields do\n"
    "    if sv[f] and (#sv[f] > 17 or not find(sv[f], '^%d+$')) then\n"
    "      fail(stats_key .. ' ' .. sfields[f] .. ' holds ' .. sv[f] .. ', expected digits')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "\n"
    "-- phase 2: writes. Derived fields were computed from the counters written beside them,\n"
    "-- so a reader never sees a rate that does not match the counts in the same hash.\n"
    "for h = 1, nhashes do\n"
    "  local key = A[hpos[h]]\n"
    "  local first, last = hw[h], hw[h + 1] - 1\n"
    "  if last >= first then redis.call('HSET', key, unpack(W, first, last)) end\n"
    "  if hdel[h] then redis.call('HDEL', key, unpack(hdel[h])) end\n"
    "  if hexp[h] > 0 then redis.call('EXPIREAT', key, hexp[h]) end\n"
    "end\n"
    "-- deal states, by 500 per MSET (Lua's stack limits unpack)\n"
    "local last_deal = deal_pos + 2 * ndeals - 1\n"
    "for first = deal_pos, last_deal, 1000 do\n"
    "  redis.call('MSET', unpack(A, first, math.min(first + 999, last_deal)))\n"
    "end\n"
    "pos = stats_pos\n"
    "for f = 1, take_uint('stats count') do\n"
    "  local field = take()\n"
    "  redis.call('HINCRBY', stats_key, field, take())\n"
    "end\n"
    "-- dedupe: one list element (chunk) per applied batch; whole oldest chunks are\n"
    "-- dropped while the list would still keep at least max ids without them.\n"
    "-- dedupe_n = ids in the list.\n"
    "for _, p in ipairs(parts) do\n"
    "  local n = tonumber(redis.call('HGET', p.key, 'dedupe_n') or '0') or 0\n"
    "  if p.nids > 0 then\n"
    "    redis.call('RPUSH', p.dkey, p.chunk)\n"
    "    n = n + p.nids\n"
    "  end\n"
    "  if p.max > 0 then\n"
    "    while true do\n"
    "      local oldest = redis.call('LINDEX', p.dkey, 0)\n"
    "      if not oldest or n - #oldest / 16 < p.max then break end\n"
    "      redis.call('LPOP', p.dkey)\n"
    "      n = n - #oldest / 16\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSET', p.key, 'dedupe_n', string.format('%d', n))\n"
    "  if p.next ~= '' then redis.call('HSET', p.key, 'next', p.next) end\n"
    "end\n"
    "return {'OK'}\n";

enum { SCRIPT_CLAIM = 0, SCRIPT_APPLY, SCRIPT_COUNT };

static const char *const script_src[SCRIPT_COUNT] = {claim_lua, apply_lua};
static const char *const script_name[SCRIPT_COUNT] = {"claim", "apply"};

struct fd_store {
    const fd_funnel_t *fn;
    char *host, *user, *password, *prefix;
    int port, db, timeout_ms;
    redisContext *c; /* NULL while disconnected */
    char sha[SCRIPT_COUNT][SHA_LEN + 1];
    char errstr[ERRSTR_MAX];
    /* the apply in flight: its command as RESP (owned), and whether this connection carries it */
    char *cmd;
    size_t cmd_len;
    bool cmd_sent;
    /* the next apply, built while that one runs (owned; not sent yet) */
    char *next;
    size_t next_len;
    /* the last connect failed because Redis refused AUTH, SELECT or SCRIPT LOAD (not a transient
     * error such as LOADING or BUSY): see fd_store_is_refusal */
    bool refused;
};

static void set_err(fd_store_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(fd_store_t *st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errstr, sizeof st->errstr, fmt, ap);
    va_end(ap);
}

/* Drops the connection. After a timeout a hiredis 0.14 context is unusable (a late reply would
 * be read as the answer to the next command), so the next call always builds a fresh one. */
static void disconnect(fd_store_t *st) {
    if (st->c != NULL) redisFree(st->c);
    st->c = NULL;
}

/* The connection failed (I/O error, timeout, protocol error): remember why and drop it. */
static fd_err_t io_fail(fd_store_t *st, const char *what) {
    if (st->c != NULL && st->c->err != 0)
        set_err(st, "%s: %s (%s:%d)", what, st->c->errstr, st->host, st->port);
    else
        set_err(st, "%s: no reply (%s:%d)", what, st->host, st->port);
    disconnect(st);
    return FD_ERR_REDIS;
}

/* An answer of an unexpected shape: the stream may be out of step, so drop the connection. */
static fd_err_t protocol_fail(fd_store_t *st, const char *what, redisReply *r) {
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        set_err(st, "%s: %s", what, r->str);
    else
        set_err(st, "%s: unexpected reply type %d", what, r != NULL ? r->type : -1);
    if (r != NULL) freeReplyObject(r);
    disconnect(st);
    return FD_ERR_REDIS;
}

/* A heap string printed from fmt; NULL when out of memory. */
static char *str_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *dup_or_empty(const char *s) {
    return strdup(s != NULL ? s : "");
}

fd_store_t *fd_store_new(const fd_funnel_t *fn, const fd_store_opts_t *opts) {
    fd_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) return NULL;
    st->fn = fn;
    st->host = dup_or_empty(opts->host);
    st->user = dup_or_empty(opts->user);
    st->password = dup_or_empty(opts->password);
    st->prefix = dup_or_empty(opts->prefix);
    if (st->host == NULL || st->user == NULL || st->password == NULL || st->prefix == NULL) {
        fd_store_destroy(st);
        return NULL;
    }
    st->port = opts->port;
    st->db = opts->db;
    st->timeout_ms = opts->timeout_ms;
    return st;
}

void fd_store_destroy(fd_store_t *st) {
    if (st == NULL) return;
    fd_store_apply_abandon(st);
    disconnect(st);
    free(st->host);
    free(st->user);
    if (st->password != NULL) {
        /* a secret: do not leave it in freed memory */
        volatile char *p = st->password;
        while (*p != '\0')
            *p++ = '\0';
        free(st->password);
    }
    free(st->prefix);
    free(st);
}

const char *fd_store_errstr(const fd_store_t *st) {
    return st->errstr;
}

static fd_err_t load_scripts(fd_store_t *st) {
    for (int i = 0; i < SCRIPT_COUNT; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", script_src[i]};
        redisReply *r = redisCommandArgv(st->c, 3, argv, NULL);
        if (r == NULL) return io_fail(st, "SCRIPT LOAD");
        if (r->type != REDIS_REPLY_STRING || r->len != SHA_LEN) {
            char what[64];
            snprintf(what, sizeof what, "SCRIPT LOAD of the %s script", script_name[i]);
            st->refused = r->type == REDIS_REPLY_ERROR && fd_store_is_refusal(r->str);
            return protocol_fail(st, what, r);
        }
        memcpy(st->sha[i], r->str, SHA_LEN);
        st->sha[i][SHA_LEN] = '\0';
        freeReplyObject(r);
    }
    return FD_OK;
}

bool fd_store_is_refusal(const char *error) {
    static const char *const refusals[] = {
        "NOAUTH",       "WRONGPASS",           "NOPERM", "ERR AUTH", "ERR invalid password",
        "ERR DB index", "ERR invalid DB index"};
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++)
        if (strncmp(error, refusals[i], strlen(refusals[i])) == 0) return true;
    return false;
}

/* Runs a setup command whose answer must be +OK; any other answer drops the connection. */
static fd_err_t setup_command(fd_store_t *st, const char *what, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(st->c, argc, argv, NULL);
    if (r == NULL) return io_fail(st, what);
    if (r->type != REDIS_REPLY_STATUS) {
        st->refused = r->type == REDIS_REPLY_ERROR && fd_store_is_refusal(r->str);
        return protocol_fail(st, what, r);
    }
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_store_connect(fd_store_t *st) {
    if (st->c != NULL) return FD_OK;
    st->refused = false;
    struct timeval tv = {.tv_sec = st->timeout_ms / 1000,
                         .tv_usec = (st->timeout_ms % 1000) * 1000};
    st->c = st->timeout_ms > 0 ? redisConnectWithTimeout(st->host, st->port, tv)
                               : redisConnect(st->host, st->port);
    if (st->c == NULL) {
        set_err(st, "connect %s:%d: out of memory", st->host, st->port);
        return FD_ERR_REDIS;
    }
    if (st->c->err != 0) {
        set_err(st, "connect %s:%d: %s", st->host, st->port, st->c->errstr);
        disconnect(st);
        return FD_ERR_REDIS;
    }
    /* redisConnectWithTimeout only bounds the connect; the command timeout is separate */
    if (st->timeout_ms > 0 && redisSetTimeout(st->c, tv) != REDIS_OK)
        return io_fail(st, "set command timeout");

    fd_err_t err;
    char what[160];
    if (st->password[0] != '\0') {
        /* the error text names the user, never the password */
        if (st->user[0] != '\0') {
            const char *argv[] = {"AUTH", st->user, st->password};
            snprintf(what, sizeof what, "AUTH as user '%s' (redis.user, redis.password) on %s:%d",
                     st->user, st->host, st->port);
            err = setup_command(st, what, 3, argv);
        } else {
            const char *argv[] = {"AUTH", st->password};
            snprintf(what, sizeof what, "AUTH (redis.password) on %s:%d", st->host, st->port);
            err = setup_command(st, what, 2, argv);
        }
        if (err != FD_OK) return err;
    }
    if (st->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", st->db);
        const char *argv[] = {"SELECT", db};
        snprintf(what, sizeof what, "SELECT %d (redis.db) on %s:%d", st->db, st->host, st->port);
        if ((err = setup_command(st, what, 2, argv)) != FD_OK) return err;
    }
    return load_scripts(st);
}

fd_err_t fd_store_check(fd_store_t *st) {
    fd_err_t err = fd_store_connect(st);
    if (err != FD_ERR_REDIS || !st->refused) return err;
    if (st->password[0] == '\0' && strstr(st->errstr, "NOAUTH") != NULL) {
        size_t n = strlen(st->errstr);
        snprintf(st->errstr + n, sizeof st->errstr - n, " (redis.password is not set)");
    }
    return FD_ERR_CONFIG;
}

/* EVALSHA of script `which` with argv[3..argc-1] as ARGV; argv[0..2] are filled here. When
 * Redis lost the script (restart, SCRIPT FLUSH: NOSCRIPT) it is loaded again and run once more.
 * *out gets the reply (maybe an error reply) on FD_OK. */
static fd_err_t eval_script(fd_store_t *st, int which, int argc, const char **argv, size_t *len,
                            redisReply **out) {
    for (int attempt = 0;; attempt++) {
        argv[0] = "EVALSHA";
        len[0] = 7;
        argv[1] = st->sha[which];
        len[1] = SHA_LEN;
        argv[2] = "0";
        len[2] = 1;
        redisReply *r = redisCommandArgv(st->c, argc, argv, len);
        if (r == NULL) return io_fail(st, script_name[which]);
        if (attempt == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            fd_err_t err = load_scripts(st);
            if (err != FD_OK) return err;
            continue;
        }
        *out = r;
        return FD_OK;
    }
}

static fd_err_t make_nonce(fd_store_t *st, char *hex) {
    unsigned char raw[NONCE_HEX / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    if (got < sizeof raw) { /* old kernel without getrandom(2) */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
        if (fd >= 0) close(fd);
        if (n != (ssize_t)sizeof raw) {
            set_err(st, "claim: no random bytes for the token nonce (getrandom, /dev/urandom)");
            return FD_ERR_IO;
        }
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
    hex[NONCE_HEX] = '\0';
    return FD_OK;
}

/* An error reply that retrying cannot cure: the apply or claim script refused malformed input or
 * stored data (its messages start "funneld "), or a key has the wrong type. */
static fd_err_t reply_error_code(const char *msg) {
    return strstr(msg, "funneld ") != NULL || strstr(msg, "WRONGTYPE") != NULL ? FD_ERR_PARSE
                                                                               : FD_ERR_REDIS;
}

/* Parses a stored offset (decimal text). */
static bool parse_offset(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 18) return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* The connection carries an apply whose answer is not read yet: no other command may use it. */
static bool busy(fd_store_t *st, const char *what) {
    if (st->cmd == NULL) return false;
    set_err(st, "%s: an apply is in flight on this connection (read with a second store)", what);
    return true;
}

fd_err_t fd_store_claim(fd_store_t *st, const char *topic, int32_t partition, const char *instance,
                        char *token, size_t token_size, int64_t *next, fd_dedupe_t *dd) {
    if (busy(st, "claim")) return FD_ERR_INVAL;
    /* epoch (<= 20 digits) + ':' + instance + ':' + nonce must fit with its NUL */
    if (strlen(instance) + 20 + 2 + NONCE_HEX + 1 > token_size) {
        set_err(st, "claim %s/%" PRId32 ": instance id '%s' is too long for a %zu-byte token",
                topic, partition, instance, token_size);
        return FD_ERR_INVAL;
    }
    char nonce[NONCE_HEX + 1];
    fd_err_t err = make_nonce(st, nonce);
    if (err != FD_OK) return err;
    if ((err = fd_store_connect(st)) != FD_OK) return err;

    char *part_key = NULL, *dedupe_key = NULL, *blob = NULL;
    redisReply *r = NULL;
    err = FD_ERR_NOMEM;
    part_key = str_fmt("%s:part:%s:%" PRId32, st->prefix, topic, partition);
    dedupe_key = str_fmt("%s:dedupe:%s:%" PRId32, st->prefix, topic, partition);
    if (part_key == NULL || dedupe_key == NULL) goto fail;
    const char *argv[7] = {NULL, NULL, NULL, part_key, dedupe_key, instance, nonce};
    size_t len[7] = {0, 0, 0, strlen(part_key), strlen(dedupe_key), strlen(instance), NONCE_HEX};
    if ((err = eval_script(st, SCRIPT_CLAIM, 7, argv, len, &r)) != FD_OK) goto fail;

    char what[FD_TOPIC_MAX + 64];
    snprintf(what, sizeof what, "claim %s/%" PRId32, topic, partition);
    if (r->type == REDIS_REPLY_ERROR) {
        /* e.g. the part key is not a hash: the connection itself is fine */
        set_err(st, "%s: %s", what, r->str);
        err = reply_error_code(r->str);
        goto fail;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        err = protocol_fail(st, what, r);
        r = NULL;
        goto fail;
    }
    const redisReply *tok = r->element[0], *nx = r->element[1];
    if (tok->len >= token_size) {
        set_err(st, "%s: token of %zu bytes does not fit", what, tok->len);
        err = FD_ERR_RANGE;
        goto fail;
    }
    *next = -1;
    if (nx->type == REDIS_REPLY_STRING) {
        if (!parse_offset(nx->str, nx->len, next)) {
            set_err(st, "%s: stored next offset '%.*s' is not a number", what, (int)nx->len,
                    nx->str);
            err = FD_ERR_PARSE;
            goto fail;
        }
    } else if (nx->type != REDIS_REPLY_NIL) {
        err = protocol_fail(st, what, r);
        r = NULL;
        goto fail;
    }
    if (dd != NULL) {
        /* the dedupe chunks, oldest first, concatenated into one blob */
        size_t total = 0;
        for (size_t i = 2; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) {
                err = protocol_fail(st, what, r);
                r = NULL;
                goto fail;
            }
            total += r->element[i]->len;
        }
        blob = malloc(total > 0 ? total : 1);
        if (blob == NULL) {
            err = FD_ERR_NOMEM;
            goto fail;
        }
        size_t at = 0;
        for (size_t i = 2; i < r->elements; i++) {
            memcpy(blob + at, r->element[i]->str, r->element[i]->len);
            at += r->element[i]->len;
        }
        if ((err = fd_dedupe_load(dd, blob, total)) != FD_OK) {
            set_err(st, "%s: dedupe list holds %zu bytes, not a multiple of %d", what, total,
                    FD_DEDUPE_ID_BYTES);
            goto fail;
        }
    }
    memcpy(token, tok->str, tok->len);
    token[tok->len] = '\0';
    err = FD_OK;
fail:
    if (r != NULL) freeReplyObject(r);
    free(blob);
    free(dedupe_key);
    free(part_key);
    return err;
}

fd_err_t fd_store_load_deals(fd_store_t *st, fd_dealcache_t *dc, const char *const *ids, size_t n) {
    fd_err_t err = FD_ERR_NOMEM;
    fd_map_t *seen = fd_map_new();
    const char **missing = malloc((n > 0 ? n : 1) * sizeof *missing);
    redisReply **replies = NULL;
    const char **argv = NULL;
    size_t *len = NULL;
    char *keys = NULL;
    size_t nmissing = 0, nchunks = 0, nreplies = 0;
    if (seen == NULL || missing == NULL) goto fail;
    /* each id not cached, once */
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        if (fd_dealcache_get(dc, ids[i]) != NULL || fd_map_get(seen, ids[i], l) != NULL) continue;
        if (fd_map_put(seen, ids[i], l, (void *)ids[i]) != FD_OK) goto fail;
        missing[nmissing++] = ids[i];
    }
    if (nmissing == 0) {
        err = FD_OK;
        goto fail;
    }
    if (busy(st, "load deals")) {
        err = FD_ERR_INVAL;
        goto fail;
    }
    if ((err = fd_store_connect(st)) != FD_OK) goto fail;

    err = FD_ERR_NOMEM;
    nchunks = (nmissing + MGET_CHUNK - 1) / MGET_CHUNK;
    size_t plen = strlen(st->prefix);
    replies = calloc(nchunks, sizeof *replies);
    argv = malloc((MGET_CHUNK + 1) * sizeof *argv);
    len = malloc((MGET_CHUNK + 1) * sizeof *len);
    /* room for the longest chunk of keys "<prefix>:deal:<id>" */
    size_t keys_size = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t sum = 0;
        for (size_t i = c * MGET_CHUNK; i < nmissing && i < (c + 1) * MGET_CHUNK; i++)
            sum += plen + 6 + strlen(missing[i]) + 1;
        if (sum > keys_size) keys_size = sum;
    }
    keys = malloc(keys_size);
    if (replies == NULL || argv == NULL || len == NULL || keys == NULL) goto fail;
    /* queue every MGET, then read the answers: one round trip for any number of chunks
     * (hiredis copies each command into its output buffer, so keys can be reused) */
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * MGET_CHUNK;
        size_t count = nmissing - first < MGET_CHUNK ? nmissing - first : MGET_CHUNK;
        char *at = keys;
        argv[0] = "MGET";
        len[0] = 4;
        for (size_t i = 0; i < count; i++) {
            int l = sprintf(at, "%s:deal:%s", st->prefix, missing[first + i]);
            argv[i + 1] = at;
            len[i + 1] = (size_t)l;
            at += l + 1;
        }
        if (redisAppendCommandArgv(st->c, (int)count + 1, argv, len) != REDIS_OK) goto fail;
    }
    for (; nreplies < nchunks; nreplies++) {
        void *r = NULL;
        if (redisGetReply(st->c, &r) != REDIS_OK || r == NULL) {
            err = io_fail(st, "load deals (MGET)");
            goto fail;
        }
        replies[nreplies] = r;
    }
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * MGET_CHUNK;
        size_t count = nmissing - first < MGET_CHUNK ? nmissing - first : MGET_CHUNK;
        redisReply *r = replies[c];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != count) {
            err = protocol_fail(st, "load deals (MGET)", r);
            replies[c] = NULL;
            goto fail;
        }
        for (size_t i = 0; i < count; i++) {
            const redisReply *e = r->element[i];
            const char *id = missing[first + i];
            fd_deal_t deal;
            fd_deal_init(&deal);
            if (e->type == REDIS_REPLY_STRING) {
                char why[256];
                if (fd_deal_decode(st->fn, e->str, e->len, &deal, why, sizeof why) != FD_OK) {
                    fd_deal_clear(&deal);
                    set_err(st, "load deal '%s' (%s:deal:%s): %s", id, st->prefix, id, why);
                    err = FD_ERR_PARSE;
                    goto fail;
                }
            } else if (e->type != REDIS_REPLY_NIL) {
                fd_deal_clear(&deal);
                err = protocol_fail(st, "load deals (MGET)", r);
                replies[c] = NULL;
                goto fail;
            }
            /* an unknown deal is cached empty, so folding never asks Redis for it again */
            fd_deal_t *cached = fd_dealcache_put(dc, id, &deal);
            fd_deal_clear(&deal);
            if (cached == NULL) goto fail;
        }
    }
    err = FD_OK;
fail:
    if (replies != NULL)
        for (size_t c = 0; c < nreplies; c++)
            if (replies[c] != NULL) freeReplyObject(replies[c]);
    free(replies);
    free(keys);
    free(len);
    free(argv);
    free(missing);
    fd_map_destroy(seen);
    return err;
}

/* ---- the apply's ARGV ---- */

/* The argument vector of one apply: counted first, so argv and argvlen are allocated once.
 * Text made here (numbers, keys, encoded deals) goes to one growing arena; arena arguments
 * remember offsets and get their pointers when the arena stops moving. */
typedef struct {
    const char **argv;
    size_t *len;
    size_t *off; /* arena offset, or SIZE_MAX for a borrowed pointer */
    size_t argc, cap;
    char *arena;
    size_t used, size;
} args_t;

static bool arena_reserve(args_t *a, size_t n) {
    if (a->used + n <= a->size) return true;
    size_t size = a->size > 0 ? a->size : 4096;
    while (size < a->used + n)
        size *= 2;
    char *p = realloc(a->arena, size);
    if (p == NULL) return false;
    a->arena = p;
    a->size = size;
    return true;
}

static void arg_ref(args_t *a, const char *s, size_t len) {
    a->argv[a->argc] = s;
    a->len[a->argc] = len;
    a->off[a->argc] = SIZE_MAX;
    a->argc++;
}

/* The n bytes just written at the arena's end (a NUL follows them) become the next argument. */
static void arg_arena(args_t *a, size_t n) {
    a->argv[a->argc] = NULL;
    a->len[a->argc] = n;
    a->off[a->argc] = a->used;
    a->argc++;
    a->used += n + 1;
}

static bool arg_fmt(args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool arg_fmt(args_t *a, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t avail = a->size - a->used;
        int n = vsnprintf(a->arena != NULL ? a->arena + a->used : NULL, avail, fmt, ap);
        va_end(ap);
        if (n < 0) return false;
        if ((size_t)n < avail) {
            arg_arena(a, (size_t)n);
            return true;
        }
        if (!arena_reserve(a, (size_t)n + 1)) return false;
    }
}

/* x, y and z concatenated as one argument: the hot path's keys, without printf. */
static bool arg_cat3(args_t *a, const char *x, const char *y, const char *z) {
    size_t lx = strlen(x), ly = strlen(y), lz = strlen(z), len = lx + ly + lz;
    if (!arena_reserve(a, len + 1)) return false;
    char *out = a->arena + a->used;
    memcpy(out, x, lx);
    memcpy(out + lx, y, ly);
    memcpy(out + lx + ly, z, lz);
    out[len] = '\0';
    arg_arena(a, len);
    return true;
}

static bool arg_int(args_t *a, int64_t v) {
    return arg_fmt(a, "%" PRId64, v);
}

static bool arg_deal(args_t *a, const fd_funnel_t *fn, const fd_deal_t *deal) {
    if (!arena_reserve(a, 256)) return false; /* never hand the codec an empty buffer */
    for (;;) {
        size_t avail = a->size - a->used;
        size_t n = fd_deal_encode(fn, deal, a->arena != NULL ? a->arena + a->used : NULL, avail);
        if (n < avail) {
            arg_arena(a, n);
            return true;
        }
        if (!arena_reserve(a, n + 1)) return false;
    }
}

static void args_free(args_t *a) {
    free(a->argv);
    free(a->len);
    free(a->off);
    free(a->arena);
}

/* Appends v as a varint: 7 bits a byte, least significant first, high bit = more follow. */
static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* Bytes of hash h's deltas argument at most: the expiry varint, then per changed field its
 * index and a varint (<= 8 bytes below 10^15) or 0, a length and up to 19 digits. */
#define DELTAS_MAX(nchanged) (10 + (nchanged) * (1 + 2 + 19))

/* The deltas argument of hash h (ARGV layout 2, see the script): one binary string, so a
 * hash costs Redis and the script two arguments instead of four plus two per field, and
 * the script decodes numbers with string.byte instead of parsing text. */
static fd_err_t arg_hash_deltas(args_t *a, const fd_funnel_t *fn, const fd_batch_hash_t *h,
                                char *why, size_t why_size) {
    size_t nfields = fd_funnel_nfields(fn), nchanged = 0;
    for (size_t f = 0; f < nfields; f++)
        if (h->delta[f] != 0) nchanged++;
    if (!arena_reserve(a, DELTAS_MAX(nchanged))) return FD_ERR_NOMEM;
    unsigned char *start = (unsigned char *)a->arena + a->used, *p = start;
    if (h->expire_at_s >= DELTA_BIG) {
        snprintf(why, why_size, "%s: expiry %" PRId64 " s is beyond 10^15", h->key, h->expire_at_s);
        return FD_ERR_RANGE;
    }
    p += put_varint(p, h->expire_at_s > 0 ? (uint64_t)h->expire_at_s : 0);
    for (size_t f = 0; f < nfields; f++) {
        int64_t d = h->delta[f];
        if (d == 0) continue;
        if (d < 0) { /* counters only grow: a fold bug */
            snprintf(why, why_size, "%s: delta %" PRId64 " of %s is negative", h->key, d,
                     fd_funnel_field_name(fn, f));
            return FD_ERR_INVAL;
        }
        *p++ = (unsigned char)f;
        if (d < DELTA_BIG) {
            p += put_varint(p, (uint64_t)d);
        } else {
            char digits[24];
            int n = snprintf(digits, sizeof digits, "%" PRId64, d);
            *p++ = 0;
            *p++ = (unsigned char)n;
            memcpy(p, digits, (size_t)n);
            p += n;
        }
    }
    size_t len = (size_t)(p - start);
    a->argv[a->argc] = NULL;
    a->len[a->argc] = len;
    a->off[a->argc] = a->used;
    a->argc++;
    a->used += len;
    return FD_OK;
}

/* Fills a with the apply's arguments; on an error other than FD_ERR_NOMEM, why may say what
 * was wrong. */
static fd_err_t build_apply_args(const fd_store_t *st, const fd_batch_t *b,
                                 const fd_dealcache_t *dc, args_t *a, char *why, size_t why_size) {
    const fd_funnel_t *fn = st->fn;
    size_t nstages = fd_funnel_nstages(fn), nfields = fd_funnel_nfields(fn);
    size_t nparts = fd_batch_nparts(b), nhashes = fd_batch_nhashes(b);
    size_t ndeals = fd_dealcache_dirty_count(dc), nnew = fd_dealcache_new_count(dc);
    if (nfields > 256) return FD_ERR_RANGE; /* deltas name a field in one byte */

    size_t nstats = 1; /* batches */
    for (int s = 0; s < FD_STAT_COUNT; s++)
        if (fd_batch_stat(b, s) != 0) nstats++;
    for (int r = 1; r < FD_REJECT_COUNT; r++)
        if (fd_batch_rejected(b, (fd_reject_t)r) != 0) nstats++;

    /* EVALSHA sha 0, version, stats key, then the counted lists */
    size_t argc = 3 + 2 + 1 + nstages + 1 + nfields + 1 + 8 * nparts + 1 + nnew + 1 + 2 * nhashes +
                  1 + 2 * ndeals + 1 + 2 * nstats;
    if (argc > INT32_MAX) return FD_ERR_RANGE;
    a->cap = argc;
    a->argc = 3; /* EVALSHA sha 0: filled by eval_script */
    a->argv = calloc(argc, sizeof *a->argv);
    a->len = calloc(argc, sizeof *a->len);
    a->off = calloc(argc, sizeof *a->off);
    if (a->argv == NULL || a->len == NULL || a->off == NULL) return FD_ERR_NOMEM;
    for (size_t i = 0; i < 3; i++)
        a->off[i] = SIZE_MAX;

    bool ok = true;
    arg_ref(a, APPLY_LAYOUT, strlen(APPLY_LAYOUT));
    ok = ok && arg_fmt(a, "%s:stats", st->prefix);
    ok = ok && arg_int(a, (int64_t)nstages);
    for (size_t s = 0; s < nstages; s++) {
        const char *name = fd_funnel_stage_name(fn, (int)s);
        arg_ref(a, name, strlen(name));
    }
    ok = ok && arg_int(a, (int64_t)nfields);
    for (size_t f = 0; f < nfields; f++) {
        const char *name = fd_funnel_field_name(fn, f);
        arg_ref(a, name, strlen(name));
    }
    ok = ok && arg_int(a, (int64_t)nparts);
    for (size_t i = 0; ok && i < nparts; i++) {
        const fd_batch_part_t *p = fd_batch_part_at(b, i);
        ok = ok && arg_fmt(a, "%s:part:%s:%" PRId32, st->prefix, p->topic, p->partition);
        arg_ref(a, p->token, strlen(p->token));
        if (p->from >= 0)
            ok = ok && arg_int(a, p->from);
        else
            arg_ref(a, "", 0);
        if (p->next >= 0)
            ok = ok && arg_int(a, p->next);
        else
            arg_ref(a, "", 0); /* no stored offset and nothing read */
        ok = ok && arg_fmt(a, "%s:dedupe:%s:%" PRId32, st->prefix, p->topic, p->partition);
        size_t nids = 0;
        const void *chunk = p->dd != NULL ? fd_dedupe_pending(p->dd, &nids) : NULL;
        if (nids > 0)
            arg_ref(a, chunk, nids * FD_DEDUPE_ID_BYTES);
        else
            arg_ref(a, "", 0);
        ok = ok && arg_int(a, (int64_t)nids);
        ok = ok && arg_int(a, p->dd != NULL ? (int64_t)fd_dedupe_capacity(p->dd) : 0);
    }
    ok = ok && arg_int(a, (int64_t)nnew);
    size_t pos = 0, listed = 0;
    const char *id;
    const fd_deal_t *deal;
    bool assumed_new;
    while (ok && fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed_new) == 1)
        if (assumed_new && listed++ < nnew) ok = arg_cat3(a, st->prefix, ":deal:", id);
    if (ok && listed != nnew) return FD_ERR_INVAL; /* count and list disagree */
    ok = ok && arg_int(a, (int64_t)nhashes);
    if (!ok) return FD_ERR_NOMEM;
    for (size_t i = 0; i < nhashes; i++) {
        const fd_batch_hash_t *h = fd_batch_hash(b, i);
        arg_ref(a, h->key, strlen(h->key));
        fd_err_t err = arg_hash_deltas(a, fn, h, why, why_size);
        if (err != FD_OK) return err;
    }
    ok = ok && arg_int(a, (int64_t)ndeals);
    pos = 0;
    size_t written = 0;
    while (ok && fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL) == 1 && written < ndeals) {
        ok = arg_cat3(a, st->prefix, ":deal:", id) && arg_deal(a, fn, deal);
        written++;
    }
    if (ok && written != ndeals) return FD_ERR_INVAL; /* dirty count and list disagree */
    ok = ok && arg_int(a, (int64_t)nstats);
    for (int s = 0; ok && s < FD_STAT_COUNT; s++) {
        if (fd_batch_stat(b, s) == 0) continue;
        const char *name = fd_batch_stat_name(s);
        arg_ref(a, name, strlen(name));
        ok = arg_int(a, fd_batch_stat(b, s));
    }
    for (int r = 1; ok && r < FD_REJECT_COUNT; r++) {
        int64_t v = fd_batch_rejected(b, (fd_reject_t)r);
        if (v == 0) continue;
        ok = arg_fmt(a, "rejected:%s", fd_reject_name((fd_reject_t)r)) && arg_int(a, v);
    }
    arg_ref(a, "batches", 7);
    ok = ok && arg_int(a, 1);
    if (!ok) return FD_ERR_NOMEM;
    if (a->argc != a->cap) return FD_ERR_INVAL; /* counting and filling disagree: a bug */
    /* the arena no longer moves: point the arena arguments into it */
    for (size_t i = 0; i < a->argc; i++)
        if (a->off[i] != SIZE_MAX) a->argv[i] = a->arena + a->off[i];
    return FD_OK;
}

/* Puts the kept command on the connection (connecting first) and writes it out. */
static fd_err_t push_apply(fd_store_t *st) {
    fd_err_t err = fd_store_connect(st);
    if (err != FD_OK) return err;
    if (redisAppendFormattedCommand(st->c, st->cmd, st->cmd_len) != REDIS_OK)
        return io_fail(st, "apply (send)");
    int done = 0;
    while (!done)
        if (redisBufferWrite(st->c, &done) != REDIS_OK) return io_fail(st, "apply (send)");
    st->cmd_sent = true;
    return FD_OK;
}

fd_err_t fd_store_apply_prepare(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc) {
    redisFreeCommand(st->next);
    st->next = NULL;
    fd_err_t err;
    /* the command names the script by its sha, known once loaded */
    if (st->sha[SCRIPT_APPLY][0] == '\0' && (err = fd_store_connect(st)) != FD_OK) return err;
    args_t a = {0};
    char why[256] = "";
    err = build_apply_args(st, b, dc, &a, why, sizeof why);
    if (err != FD_OK) {
        set_err(st, "apply: building the script arguments failed: %s%s%s", fd_strerror(err),
                why[0] != '\0' ? ": " : "", why);
        args_free(&a);
        return err;
    }
    /* argv[0..2] are EVALSHA <sha> 0; the sha of a script is its content's, so the command
     * stays valid when the script is loaded again */
    a.argv[0] = "EVALSHA";
    a.len[0] = 7;
    a.argv[1] = st->sha[SCRIPT_APPLY];
    a.len[1] = SHA_LEN;
    a.argv[2] = "0";
    a.len[2] = 1;
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, (int)a.argc, a.argv, a.len);
    args_free(&a);
    if (n < 0 || cmd == NULL) {
        set_err(st, "apply: out of memory formatting the command");
        return FD_ERR_NOMEM;
    }
    st->next = cmd;
    st->next_len = (size_t)n;
    return FD_OK;
}

fd_err_t fd_store_apply_send_prepared(fd_store_t *st) {
    if (st->next == NULL) {
        set_err(st, "apply: nothing prepared");
        return FD_ERR_INVAL;
    }
    if (busy(st, "apply")) return FD_ERR_INVAL;
    st->cmd = st->next;
    st->cmd_len = st->next_len;
    st->next = NULL;
    st->cmd_sent = false;
    (void)push_apply(st); /* a connection problem is reported (and retried) by the wait */
    return FD_OK;
}

fd_err_t fd_store_apply_send(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc) {
    if (busy(st, "apply")) return FD_ERR_INVAL;
    fd_err_t err = fd_store_apply_prepare(st, b, dc);
    if (err != FD_OK) return err;
    return fd_store_apply_send_prepared(st);
}

/* The apply in flight is over (answered, or given up): forgets its command. */
static void end_apply(fd_store_t *st) {
    if (st->cmd == NULL) return;
    redisFreeCommand(st->cmd);
    st->cmd = NULL;
    /* its answer may still come: the connection is out of step */
    if (st->cmd_sent) disconnect(st);
    st->cmd_sent = false;
}

void fd_store_apply_abandon(fd_store_t *st) {
    end_apply(st);
    redisFreeCommand(st->next);
    st->next = NULL;
}

bool fd_store_apply_answered(const fd_store_t *st) {
    if (st->cmd == NULL || st->c == NULL || !st->cmd_sent) return true;
    struct pollfd pfd = {.fd = st->c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0; /* readable, closed, or an error: the wait returns soon */
}

bool fd_store_apply_inflight(const fd_store_t *st) {
    return st->cmd != NULL;
}

fd_err_t fd_store_apply_wait(fd_store_t *st, const fd_batch_t *b, bool *already) {
    *already = false;
    if (st->cmd == NULL) {
        set_err(st, "apply: nothing in flight");
        return FD_ERR_INVAL;
    }
    redisReply *r = NULL;
    fd_err_t err;
    for (int attempt = 0;; attempt++) {
        if (st->c == NULL) st->cmd_sent = false; /* the connection was lost: send again */
        if (!st->cmd_sent && (err = push_apply(st)) != FD_OK) return err;
        void *reply = NULL;
        if (redisGetReply(st->c, &reply) != REDIS_OK || reply == NULL) {
            st->cmd_sent = false;
            return io_fail(st, "apply");
        }
        r = reply;
        st->cmd_sent = false; /* answered: the connection is free again */
        if (attempt == 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            r = NULL;
            if ((err = load_scripts(st)) != FD_OK) return err;
            continue;
        }
        break;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* refused before any write (malformed input or stored value, OOM, BUSY, READONLY...):
         * the connection is fine and nothing was applied */
        set_err(st, "apply: %s", r->str);
        err = reply_error_code(r->str);
        freeReplyObject(r);
        if (err != FD_ERR_REDIS) end_apply(st); /* final; FD_ERR_REDIS: retry it */
        return err;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        err = protocol_fail(st, "apply", r);
        return err; /* the connection was dropped; the command is kept for a retry */
    }
    const char *verdict = r->element[0]->str;
    const fd_batch_part_t *p = NULL;
    if (r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->integer >= 1 && (size_t)r->element[1]->integer <= fd_batch_nparts(b))
        p = fd_batch_part_at(b, (size_t)r->element[1]->integer - 1);
    if (strcmp(verdict, "OK") == 0) {
        err = FD_OK;
    } else if (strcmp(verdict, "ALREADY") == 0) {
        *already = true;
        err = FD_OK;
    } else if (strcmp(verdict, "FENCED") == 0 && p != NULL) {
        set_err(st, "apply: %s/%" PRId32 " is fenced: token '%s' is no longer current", p->topic,
                p->partition, p->token);
        err = FD_ERR_FENCED;
    } else if (strcmp(verdict, "GAP") == 0 && p != NULL && r->elements >= 3 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        set_err(st,
                "apply: %s/%" PRId32 ": stored next offset is '%s', the batch starts at %" PRId64,
                p->topic, p->partition, r->element[2]->len > 0 ? r->element[2]->str : "(none)",
                p->from);
        err = FD_ERR_GAP;
    } else if (strcmp(verdict, "EXISTS") == 0 && r->elements >= 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        set_err(st,
                "apply: %s exists, but the batch folded that deal as new (its first event seen "
                "was a deal.created)",
                r->element[1]->str);
        err = FD_ERR_CONFLICT;
    } else {
        return protocol_fail(st, "apply", r); /* kept for a retry on a new connection */
    }
    freeReplyObject(r);
    end_apply(st); /* answered: nothing in flight any more */
    return err;
}

fd_err_t fd_store_apply(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                        bool *already) {
    *already = false;
    fd_err_t err = fd_store_apply_send(st, b, dc);
    if (err != FD_OK) return err;
    err = fd_store_apply_wait(st, b, already);
    /* the synchronous form builds the command again on the next call */
    if (err == FD_ERR_REDIS) fd_store_apply_abandon(st);
    return err;
}

fd_err_t fd_store_read_hash(fd_store_t *st, const char *key, char ***fields, char ***values,
                            size_t *n) {
    *fields = *values = NULL;
    *n = 0;
    if (busy(st, "HGETALL")) return FD_ERR_INVAL;
    fd_err_t err = fd_store_connect(st);
    if (err != FD_OK) return err;
    char *full = str_fmt("%s:%s", st->prefix, key);
    if (full == NULL) return FD_ERR_NOMEM;
    const char *argv[] = {"HGETALL", full};
    redisReply *r = redisCommandArgv(st->c, 2, argv, NULL);
    free(full);
    if (r == NULL) return io_fail(st, "HGETALL");
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(st, "HGETALL %s:%s: %s", st->prefix, key, r->str);
        freeReplyObject(r);
        return FD_ERR_REDIS;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return protocol_fail(st, "HGETALL", r);
    size_t count = r->elements / 2;
    if (count == 0) {
        freeReplyObject(r);
        return FD_ERR_NOTFOUND;
    }
    char **f = calloc(count, sizeof *f), **v = calloc(count, sizeof *v);
    if (f == NULL || v == NULL) goto nomem;
    for (size_t i = 0; i < count; i++) {
        const redisReply *kf = r->element[2 * i], *kv = r->element[2 * i + 1];
        f[i] = strndup(kf->str != NULL ? kf->str : "", kf->len);
        v[i] = strndup(kv->str != NULL ? kv->str : "", kv->len);
        if (f[i] == NULL || v[i] == NULL) goto nomem;
    }
    freeReplyObject(r);
    *fields = f;
    *values = v;
    *n = count;
    return FD_OK;
nomem:
    freeReplyObject(r);
    if (f != NULL && v != NULL)
        fd_store_free_fields(f, v, count);
    else {
        free(f);
        free(v);
    }
    return FD_ERR_NOMEM;
}

void fd_store_free_fields(char **fields, char **values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (fields != NULL) free(fields[i]);
        if (values != NULL) free(values[i]);
    }
    free(fields);
    free(values);
}
