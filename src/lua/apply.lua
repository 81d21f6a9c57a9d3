-- SPDX-License-Identifier: MIT
-- funneld batch apply: one atomic step per batch (run by src/io/store.c with EVALSHA; layer io).
-- Every key is in KEYS, in this order (the counts come from ARGV):
--   [1] the stats hash <p>:stats, [2] the change feed stream <p>:changes, [3] the feed hash
--   <p>:feed, [4] the set <p>:metrics:dirty, [5] the publisher hash <p>:metrics:publisher,
--   [6] the hash <p>:rep_team, [7] the hash <p>:rep_team:at, [8] the stream <p>:late;
--   then P x (part hash, dedupe list) of the parts; then X deal keys that must not exist; then
--   the H metric hashes; then the D deal keys to write.
-- ARGV, layout 7 (counts as decimal text, hash deltas in binary):
--   [1] layout version '7'
--   the feeds (docs/feeds.md): changes ('1': write an entry to the change feed, '0': not),
--      its MAXLEN ~ cap, the most keys an entry lists (more: a 'bulk' entry), track ('1': add
--      the changed hashes to the dirty set of the metrics publisher; '0': mark the publisher
--      'untracked' when a hash changed, so that it republishes everything), the latest event
--      time of the batch in ms ('' when none)
--   F, then F metric field names (deltas refer to them by index 0..F-1)
--   A, then A names of fields kept in hundredths (amounts, written as '%.2f')
--   M, then M derived fields of 6 (src/model/metrics.h): name, numerator field, denominator
--      field, den_plus_num ('1': the denominator is numerator + denominator), scale (an
--      integer >= 1 the denominator is multiplied by), decimals (0..9). Value =
--      num / ((den [+ num]) x scale), written with that many decimals; absent when the
--      denominator is 0.
--   P, then P parts of 6: token, from ('' = no stored offset), next ('' only when from is ''
--      and the part read nothing), dedupe chunk (binary, 16 bytes per id, may be ''), ids in
--      the chunk, dedupe max (ids the list must keep; 0 = never trim)
--   X: deals folded as new (their first event seen was a deal.created and funneld did not
--      read them): their keys must not exist
--   H, then H deltas of the metric hashes (binary): expire_at_s (0 = none) as a varint,
--      then per changed field its index (one byte) and its signed delta (the open pipeline
--      is a stock: it goes down too) zigzag-encoded as a varint (2d for d > 0, -2d - 1 for
--      d < 0; |d| in 1 .. 10^15-1), or for a bigger one a 0 byte, a length byte L and L
--      characters: digits, after a '-' for a negative one. A field whose value reaches 0 is
--      deleted (zero is absent); one that would go below 0 is an error.
--      Varint: 7 bits a byte, least significant first, high bit set = more follow.
--   D, then D encoded deal states
--   N, then N x (stats field, delta >= 0)
--   R, then R x (rep, team, at_ms): the team of each rep's latest event of the batch naming
--      one; written to <p>:rep_team (and at_ms to <p>:rep_team:at) unless the stored time is
--      later
--   L, then L x 8 (event_id, type, rep, team, occurred_ms, topic, partition, offset): the late
--      events of the batch, added to <p>:late (MAXLEN ~ the changes maxlen)
--   the stage section (docs/redis.md, "Staged batches"), last, read first from the end:
--      ''                                  a plain apply (all of a batch in this one step);
--      blob x n, id, n, event_ms, stamp, 'commit'
--          the commit of staged batch id (H = D = 0): writes the record <p>:staged:<id> (KEYS:
--          last) with the n chunk blobs and stamp (unique to this build of the batch: its
--          first part's token and a sequence number), and 'staged' = id in every part hash;
--      id, i, np, stamp, 'chunk'
--          chunk i of staged batch id (P = X = N = R = L = 0): KEYS end with the record, then
--          the np part hashes of the batch. Refused ({'ALREADY'}) unless the record holds c:<i>
--          and stamp (a batch of the same id committed by another owner, or built again after
--          a refusal, is another batch); the last chunk clears 'staged' and deletes the record.
-- Returns {'OK'}; {'ALREADY'} when this very batch was applied before (a retry), or this
-- chunk; {'FENCED', i}; {'GAP', i, stored next} (i = part number from 1); {'STAGED', i, id}
-- when part i still has staged batch id to finish; {'EXISTS', key}
-- when a deal folded as new has a stored state; or an error reply
-- when the input or a stored value is malformed. Redis does not roll back a script
-- that fails half way, so phase 1 checks everything with reads only and phase 2
-- writes: nothing is written unless the answer is OK.
local A, nargs, pos = ARGV, #ARGV, 1
local K, nkeys, kpos = KEYS, #KEYS, 1
local byte, find, format, gsub, sub, floor, tonumber, unpack =
  string.byte, string.find, string.format, string.gsub, string.sub, math.floor, tonumber,
  unpack
local function fail(msg) error('funneld apply: ' .. msg, 0) end
local function take()
  if pos > nargs then fail('ARGV ends early at ' .. pos) end
  pos = pos + 1
  return A[pos - 1]
end
local function take_uint(what)
  local v = take()
  if #v > 18 or not find(v, '^%d+$') then
    fail(what .. ' at ARGV[' .. (pos - 1) .. ']: expected an unsigned integer')
  end
  return tonumber(v), v
end
-- The next n keys, for `what`: the index of the first.
local function take_keys(n, what)
  if kpos + n - 1 > nkeys then fail('KEYS ends early in the ' .. what) end
  kpos = kpos + n
  return kpos - n
end
local function check_type(key, want)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= want then
    fail(key .. ' is a ' .. t .. ', expected a ' .. want)
  end
end
-- Exact addition of two digit strings, for values beyond the fast path below.
local function add_digits(a, b)
  local out, i, j, carry = {}, #a, #b, 0
  while i >= 1 or j >= 1 or carry > 0 do
    local d = carry
    if i >= 1 then d = d + byte(a, i) - 48; i = i - 1 end
    if j >= 1 then d = d + byte(b, j) - 48; j = j - 1 end
    out[#out + 1] = d % 10
    carry = (d - d % 10) / 10
  end
  local s = gsub(string.reverse(table.concat(out)), '^0+', '')
  if s == '' then return '0' end
  return s
end
-- a < b for digit strings without leading zeros
local function less_digits(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
-- Exact a - b for digit strings with a >= b.
local function sub_digits(a, b)
  local out, i, j, borrow = {}, #a, #b, 0
  while i >= 1 do
    local d = byte(a, i) - 48 - borrow
    i = i - 1
    if j >= 1 then d = d - (byte(b, j) - 48); j = j - 1 end
    if d < 0 then d, borrow = d + 10, 1 else borrow = 0 end
    out[#out + 1] = d
  end
  local s = gsub(string.reverse(table.concat(out)), '^0+', '')
  if s == '' then return '0' end
  return s
end
-- Exact a + d for a digit string a >= 0 and a signed delta d ('-' then digits, or digits);
-- nil when the result would be negative.
local function add_signed(a, d)
  a = gsub(a, '^0+', '')
  if a == '' then a = '0' end
  if sub(d, 1, 1) ~= '-' then return add_digits(a, d) end
  d = sub(d, 2)
  if less_digits(a, d) then return nil end
  return sub_digits(a, d)
end
-- Amounts are stored as '%.2f' text and kept exactly in hundredths (nil below 0).
local function add_hundredths(cur, delta)
  local s = add_signed(cur and gsub(cur, '%.', '') or '0', delta)
  if not s then return nil end
  s = string.rep('0', 3 - #s) .. s
  return sub(s, 1, -3) .. '.' .. sub(s, -2)
end
-- The fast path keeps values as doubles below BIG = 10^15: exact, and so is the sum of
-- two (< 2^53); anything bigger takes the exact digit-string path. Converting between
-- text and numbers costs more than the rest of the work, and the same small counts
-- recur in most hashes, so both directions are memoised: number_of[text] (a checked
-- stored count: its value, or false from BIG on) and text_of[number].
local BIG = 1e15
local number_of = {}
local text_of = setmetatable({}, {__index = function(t, n)
  -- integers below 10^14 print exactly with Lua's '%.14g'
  local s = n < 1e14 and n .. '' or format('%d', n)
  t[n] = s
  return s
end})

-- phase 1a: shapes of ARGV up to the parts (the rest is checked as it is read)
if take() ~= '7' then fail('ARGV layout version is not 7') end
-- The stage section closes ARGV and KEYS: taken first, from the end, so that a chunk applied
-- before is refused before any other work (its deltas must not be checked against values
-- that already hold them).
local smode, sid, sindex, snparts, srecord, spart, sblob, snchunks, sevent, stoken = A[nargs]
local function tail_uint(i, what)
  local v = A[i]
  if i < 2 or #v > 9 or not find(v, '^%d+$') then fail('stage section: ' .. what) end
  return tonumber(v)
end
if smode == '' then
  nargs = nargs - 1
elseif smode == 'chunk' then
  stoken = A[nargs - 1]
  snparts = tail_uint(nargs - 2, 'part count')
  sindex = tail_uint(nargs - 3, 'chunk number')
  sid = A[nargs - 4]
  nargs = nargs - 5
  if nkeys < snparts + 9 then fail('KEYS ends early in the stage section') end
  srecord, spart = K[nkeys - snparts], nkeys - snparts + 1
  nkeys = nkeys - snparts - 1
elseif smode == 'commit' then
  stoken = A[nargs - 1]
  sevent = A[nargs - 2]
  snchunks = tail_uint(nargs - 3, 'chunk count')
  sid = A[nargs - 4]
  sblob = nargs - 4 - snchunks
  if snchunks < 1 or sblob < 2 then fail('stage section: chunk count') end
  nargs = sblob - 1
  srecord = K[nkeys]
  nkeys = nkeys - 1
else
  fail('stage mode is not \'\', commit or chunk')
end
if sid == '' then fail('stage section: empty id') end
if smode == 'chunk' then
  check_type(srecord, 'hash')
  if redis.call('HEXISTS', srecord, 'c:' .. sindex) == 0 or
      redis.call('HGET', srecord, 'stamp') ~= stoken then
    -- applied before; when the record is gone every chunk landed: a 'staged' mark left
    -- behind (a record deleted by hand) is cleared
    if redis.call('EXISTS', srecord) == 0 then
      for k = spart, spart + snparts - 1 do
        if redis.call('HGET', K[k], 'staged') == sid then redis.call('HDEL', K[k], 'staged') end
      end
    end
    return {'ALREADY'}
  end
end
local stats_key = K[take_keys(1, 'stats key')]
local feed_keys = take_keys(4, 'feed keys')
local changes_key, feed_key, dirty_key, pub_key =
  K[feed_keys], K[feed_keys + 1], K[feed_keys + 2], K[feed_keys + 3]
local rt_keys = take_keys(3, 'rep_team and late keys')
local rep_team_key, rep_team_at_key, late_key = K[rt_keys], K[rt_keys + 1], K[rt_keys + 2]
local feed_on, feed_maxlen = take() == '1', take_uint('changes maxlen')
local feed_max_keys, track = take_uint('changes max keys'), take() == '1'
local event_ms = take()
if event_ms ~= '' and (#event_ms > 15 or not find(event_ms, '^%d+$')) then
  fail('latest event time ' .. event_ms .. ' is not ms since the epoch')
end
-- '<p>:' is the stats key without 'stats': the feeds name keys without it
local plen = #stats_key - 5
local nfields = take_uint('field count')
if nfields > 256 then fail('more than 256 fields') end
-- Fields are handled by their index k (1-based) in the field list: fname[k], famount[k]
-- (an amount in hundredths), fderived[k] (the derived fields it feeds), fpartner[k] (the
-- other input of each of them).
local fname, famount, fderived, fpartner, index_of = {}, {}, {}, {}, {}
for k = 1, nfields do
  fname[k] = take()
  index_of[fname[k]] = k
end
for _ = 1, take_uint('amount count') do
  local name = take()
  if not index_of[name] then fail('amount field ' .. name .. ' is not in the field list') end
  famount[index_of[name]] = true
end
-- Derived field d is x / (y * scale[d]), or x / ((x + y) * scale[d]) when dsum[d]; its
-- inputs are the fields din1[d] and din2[d]. Formatted values are memoised by quotient, a
-- memo per number of decimals.
local dname, din1, din2, dscale, dsum, dfmt, dmemo = {}, {}, {}, {}, {}, {}, {}
local memos = {}
for d = 1, take_uint('derived count') do
  local name, x, y = take(), take(), take()
  local sum, scale = take(), take_uint('scale of ' .. name)
  local decimals = take_uint('decimals of ' .. name)
  local kx, ky = index_of[x], index_of[y]
  if not kx or not ky then fail('the field list lacks ' .. x .. ' or ' .. y) end
  if sum ~= '0' and sum ~= '1' then fail('den_plus_num of ' .. name .. ' is not 0 or 1') end
  if scale < 1 or decimals > 9 then fail('scale or decimals of ' .. name .. ' out of range') end
  dname[d], din1[d], din2[d], dscale[d], dsum[d] = name, kx, ky, scale, sum == '1'
  dfmt[d] = '%.' .. decimals .. 'f'
  memos[decimals] = memos[decimals] or {}
  dmemo[d] = memos[decimals]
  for _, k in ipairs({kx, ky}) do
    fderived[k] = fderived[k] or {}
    fpartner[k] = fpartner[k] or {}
    local n = #fderived[k] + 1
    fderived[k][n], fpartner[k][n] = d, k == kx and ky or kx
  end
end
local parts = {}
for i = 1, take_uint('part count') do
  local p = {}
  local k = take_keys(2, 'parts')
  p.key, p.dkey = K[k], K[k + 1]
  p.token = take(); p.from = take(); p.next = take(); p.chunk = take()
  p.nids = take_uint('dedupe ids'); p.max = take_uint('dedupe max')
  if p.from ~= '' and not find(p.from, '^%d+$') then
    fail('from of part ' .. i)
  end
  if not find(p.next, '^%d*$') or (p.next == '' and p.from ~= '') then
    fail('next of part ' .. i)
  end
  if #p.chunk ~= 16 * p.nids then
    fail('dedupe chunk of part ' .. i .. ' has the wrong length')
  end
  parts[i] = p
end

-- phase 1b: fencing and offsets. A batch retried after a client-side timeout may
-- already be applied: then every part's stored next already equals the batch's next.
local stored = {}
for i, p in ipairs(parts) do
  check_type(p.key, 'hash')
  check_type(p.dkey, 'list')
  local v = redis.call('HMGET', p.key, 'token', 'next')
  if v[1] ~= p.token then return {'FENCED', i} end
  stored[i] = v[2] or ''
end
if #parts > 0 then
  local already = true
  for i, p in ipairs(parts) do if stored[i] ~= p.next then already = false end end
  if already then return {'ALREADY'} end
end
-- a partition's batches apply in order (an open pipeline never goes below 0): none while
-- a staged batch of it is not finished
for i, p in ipairs(parts) do
  local s = redis.call('HGET', p.key, 'staged')
  if s then return {'STAGED', i, s} end
end
for i, p in ipairs(parts) do
  if stored[i] ~= p.from then return {'GAP', i, stored[i]} end
end
-- deals folded as new must have no stored state (else they were folded from the wrong
-- state: funneld reads them and folds again)
local nnew = take_uint('new deal count')
local new_first = take_keys(nnew, 'new deals')
for first = new_first, new_first + nnew - 1, 500 do
  local last = math.min(first + 499, new_first + nnew - 1)
  if redis.call('EXISTS', unpack(K, first, last)) > 0 then
    for i = first, last do
      if redis.call('EXISTS', K[i]) > 0 then return {'EXISTS', K[i]} end
    end
  end
end

local watermark
if feed_on then
  check_type(changes_key, 'stream')
  check_type(feed_key, 'hash')
  watermark = redis.call('HGET', feed_key, 'watermark') or '0'
  if #watermark > 15 or not find(watermark, '^%d+$') then
    fail(feed_key .. ' watermark holds ' .. watermark .. ', expected ms since the epoch')
  end
end
check_type(track and dirty_key or pub_key, track and 'set' or 'hash')

-- phase 1c: each hash update reads, with one HMGET, the fields it changes and the other
-- input of each derived field they feed, and computes everything it will write. Only
-- derived fields with a changed input are recomputed: the others still match their
-- unchanged inputs.
check_type(stats_key, 'hash')
-- What phase 2 writes, without a table per hash: the HSET arguments of hash h are
-- W[hw[h] .. hw[h + 1] - 1]; its key is KEYS[hkey + h - 1], hexp[h] its expiry (0 = none);
-- hdel[h] lists fields to delete (rare: a zero count or a zero denominator).
local W, nw, hw, hexp, hdel, seen = {}, 0, {}, {}, {}, {}
-- scratch of the current hash h: fields to read (rk: index, rf: name), deltas (rd: a
-- number, or false beyond the fast path, with its digits in rs), new values (val);
-- stamp[k] == h and dstamp[d] == h mark what belongs to hash h
local rk, rf, rd, rs, val, stamp, dstamp = {}, {}, {}, {}, {}, {}, {}
-- Decodes the varint at b[i]; returns its value and the index after it.
local function varint(b, i, key)
  local v, mul, c = 0, 1, b[i]
  while c and c >= 128 and mul < 2 ^ 49 do
    v = v + (c - 128) * mul
    mul = mul * 128
    i = i + 1
    c = b[i]
  end
  if not c or c >= 128 then fail('deltas of ' .. key .. ': bad varint') end
  v = v + c * mul
  if v >= 2 * BIG then fail('deltas of ' .. key .. ': varint beyond 2 x 10^15') end
  return v, i + 1
end
local nhashes = take_uint('hash count')
local hkey = take_keys(nhashes, 'metric hashes')
if pos + nhashes - 1 > nargs then fail('ARGV ends early in the hashes') end
for h = 1, nhashes do
  local key, deltas = K[hkey + h - 1], A[pos]
  hw[h] = nw + 1
  pos = pos + 1
  if seen[key] then fail(key .. ' is listed twice') end
  seen[key] = true
  -- the deltas: varint expiry, then (field index, varint delta) pairs
  local b = {byte(deltas, 1, -1)}
  local nb, n, i = #b, 0
  hexp[h], i = varint(b, 1, key)
  if hexp[h] >= BIG then fail('deltas of ' .. key .. ': expiry beyond 10^15') end
  while i <= nb do
    local k = b[i] + 1
    if not fname[k] or stamp[k] == h then
      fail('deltas of ' .. key .. ': field ' .. (k - 1) .. ' unknown or twice')
    end
    stamp[k] = h
    local d = b[i + 1]
    if d and d < 128 then
      i = i + 2 -- the common one-byte varint
    else
      d, i = varint(b, i + 1, key)
    end
    n = n + 1
    if d % 2 == 1 then d = -(d + 1) / 2 else d = d / 2 end -- zigzag
    rk[n], rf[n], rd[n] = k, fname[k], d
    if d == 0 then
      -- a delta beyond the fast path, as digits
      local len = b[i] or 0
      local s = sub(deltas, i + 1, i + len)
      if #s ~= len or len > 21 or not find(s, '^%-?%d+$') then
        fail('deltas of ' .. key .. ': bad digits of ' .. fname[k])
      end
      rd[n], rs[n] = false, s
      i = i + 1 + len
    end
  end
  local nread = n
  for j = 1, n do
    local ps = fpartner[rk[j]]
    if ps then
      for e = 1, #ps do
        local p = ps[e]
        if stamp[p] ~= h then
          stamp[p] = h
          nread = nread + 1
          rk[nread], rf[nread] = p, fname[p]
        end
      end
    end
  end
  local v = nread > 0 and redis.call('HMGET', key, unpack(rf, 1, nread)) or {}
  for j = n + 1, nread do
    local k, cur = rk[j], v[j]
    if cur and famount[k] then cur = gsub(cur, '%.', '') end
    val[k] = cur and tonumber(cur) or 0
  end
  local del
  for j = 1, n do
    local k, cur, d = rk[j], v[j], rd[j]
    local new, text
    if not famount[k] then
      -- a counter: digits, as HINCRBY writes them
      local c = 0
      if cur then
        c = number_of[cur]
        if c == nil then
          if not find(cur, '^%d+$') then
            fail(key .. ' ' .. fname[k] .. ' holds ' .. cur .. ', expected digits')
          end
          c = tonumber(cur)
          if c >= BIG then c = false end
          number_of[cur] = c
        end
      end
      if c and d then
        new = c + d
        if new < 0 then fail(key .. ' ' .. fname[k] .. ' would go below 0') end
        text = text_of[new]
      else
        text = add_signed(c and text_of[c] or cur, d and text_of[d] or rs[j])
        if not text then fail(key .. ' ' .. fname[k] .. ' would go below 0') end
        new = tonumber(text)
      end
    else
      -- an amount: '%.2f' text of hundredths. With up to 13 integer digits, the double
      -- nearest the text times 100 is within 0.1 of the exact count of hundredths.
      local c = 0
      if cur then
        if not find(cur, '^%d+%.%d%d$') then
          fail(key .. ' ' .. fname[k] .. ' holds ' .. cur .. ', expected d.dd')
        end
        c = #cur <= 16 and floor(tonumber(cur) * 100 + 0.5)
      end
      if c and d and c + d < BIG then
        new = c + d
        if new < 0 then fail(key .. ' ' .. fname[k] .. ' would go below 0') end
        local cents = new % 100
        text = format('%d.%02d', (new - cents) / 100, cents)
      else
        text = add_hundredths(cur, d and text_of[d] or rs[j])
        if not text then fail(key .. ' ' .. fname[k] .. ' would go below 0') end
        new = tonumber((gsub(text, '%.', '')))
      end
    end
    val[k] = new
    if new == 0 then
      del = del or {}
      del[#del + 1] = fname[k]
    else
      W[nw + 1], W[nw + 2] = fname[k], text
      nw = nw + 2
    end
  end
  for j = 1, n do
    local ds = fderived[rk[j]]
    if ds then
      for e = 1, #ds do
        local d = ds[e]
        if dstamp[d] ~= h then
          dstamp[d] = h
          -- every rate is ONE division of exact integers, so the printed value is that of
          -- the double nearest the exact quotient (any reader can reproduce it)
          local x, y = val[din1[d]], val[din2[d]]
          local den
          if dsum[d] then den = (x + y) * dscale[d] else den = y * dscale[d] end
          if den > 0 then
            local q = x / den
            local memo = dmemo[d]
            local text = memo[q]
            if not text then
              text = format(dfmt[d], q)
              if q == q then memo[q] = text end
            end
            W[nw + 1], W[nw + 2] = dname[d], text
            nw = nw + 2
          else
            del = del or {}
            del[#del + 1] = dname[d]
          end
        end
      end
    end
  end
  hdel[h] = del
end
hw[nhashes + 1] = nw + 1
local ndeals = take_uint('deal count')
local deal_key, deal_pos = take_keys(ndeals, 'deals'), pos
if pos + ndeals - 1 > nargs then fail('ARGV ends early in the deals') end
pos = pos + ndeals
local stats_pos = pos
local sfields = {}
for f = 1, take_uint('stats count') do sfields[f] = take(); take_uint('stats delta') end
-- rep -> team: kept where the stored time is not later than the batch's
local rt, nrt = {}, take_uint('rep_team count')
if nrt > 0 then
  check_type(rep_team_key, 'hash')
  check_type(rep_team_at_key, 'hash')
  local reps = {}
  for r = 1, nrt do
    local rep, team, at = take(), take(), take_uint('rep_team time')
    reps[r] = rep
    rt[r] = {rep, team, at}
  end
  local st = {}
  for first = 1, nrt, 500 do
    local last = math.min(first + 499, nrt)
    local v = redis.call('HMGET', rep_team_at_key, unpack(reps, first, last))
    for r = first, last do st[r] = v[r - first + 1] end
  end
  local n = 0
  for r = 1, nrt do
    local cur = st[r]
    if cur and (#cur > 18 or not find(cur, '^%d+$')) then
      fail(rep_team_at_key .. ' ' .. reps[r] .. ' holds ' .. cur .. ', expected ms')
    end
    if not cur or tonumber(cur) <= rt[r][3] then
      n = n + 1
      rt[n] = rt[r]
    end
  end
  nrt = n
end
-- the late events (docs/redis.md <p>:late)
local late, nlate = {}, take_uint('late count')
if nlate > 0 then check_type(late_key, 'stream') end
for e = 1, nlate do
  local l = {}
  for f = 1, 8 do l[f] = take() end
  late[e] = l
end
if pos ~= nargs + 1 then fail((nargs + 1 - pos) .. ' ARGV entries left over') end
if kpos ~= nkeys + 1 then fail((nkeys + 1 - kpos) .. ' KEYS left over') end
-- the stage section's shape: a commit carries no hashes or deals (its chunks do); a chunk
-- carries nothing else
if smode == 'commit' then
  if nhashes > 0 or ndeals > 0 then fail('a commit with hashes or deals') end
  if #parts == 0 then fail('a commit without parts') end
  check_type(srecord, 'hash')
elseif smode == 'chunk' then
  if #parts > 0 or nnew > 0 or #sfields > 0 or nrt > 0 or nlate > 0 then
    fail('a chunk with parts, new deals, stats, rep teams or late events')
  end
end
-- HINCRBY below must not fail half way: every stats field it adds to must hold an
-- integer small enough (17 digits) that a batch's delta cannot overflow it.
if #sfields > 0 then
  local sv = redis.call('HMGET', stats_key, unpack(sfields))
  for f = 1, #sfields do
    if sv[f] and (#sv[f] > 17 or not find(sv[f], '^%d+$')) then
      fail(stats_key .. ' ' .. sfields[f] .. ' holds ' .. sv[f] .. ', expected digits')
    end
  end
end

-- phase 2: writes. Derived fields were computed from the counters written beside them,
-- so a reader never sees a rate that does not match the counts in the same hash.
for h = 1, nhashes do
  local key = K[hkey + h - 1]
  local first, last = hw[h], hw[h + 1] - 1
  if last >= first then redis.call('HSET', key, unpack(W, first, last)) end
  if hdel[h] then redis.call('HDEL', key, unpack(hdel[h])) end
  if hexp[h] > 0 then redis.call('EXPIREAT', key, hexp[h]) end
end
-- deal states, by 500 per MSET (Lua's stack limits unpack)
local kv = {}
for first = 0, ndeals - 1, 500 do
  local n = 0
  for i = first, math.min(first + 499, ndeals - 1) do
    kv[n + 1], kv[n + 2] = K[deal_key + i], A[deal_pos + i]
    n = n + 2
  end
  redis.call('MSET', unpack(kv, 1, n))
end
pos = stats_pos
for _ = 1, take_uint('stats count') do
  local field = take()
  redis.call('HINCRBY', stats_key, field, take())
end
-- dedupe: one list element (chunk) per applied batch; whole oldest chunks are
-- dropped while the list would still keep at least max ids without them.
-- dedupe_n = ids in the list.
for _, p in ipairs(parts) do
  local n = tonumber(redis.call('HGET', p.key, 'dedupe_n') or '0') or 0
  if p.nids > 0 then
    redis.call('RPUSH', p.dkey, p.chunk)
    n = n + p.nids
  end
  if p.max > 0 then
    while true do
      local oldest = redis.call('LINDEX', p.dkey, 0)
      if not oldest or n - #oldest / 16 < p.max then break end
      redis.call('LPOP', p.dkey)
      n = n - #oldest / 16
    end
  end
  redis.call('HSET', p.key, 'dedupe_n', string.format('%d', n))
  if p.next ~= '' then redis.call('HSET', p.key, 'next', p.next) end
end
-- one HSET per key for up to 500 reps (a call per rep cost ~2,000 calls a batch)
for first = 1, nrt, 500 do
  local teams, ats = {}, {}
  for r = first, math.min(first + 499, nrt) do
    teams[#teams + 1] = rt[r][1]
    teams[#teams + 1] = rt[r][2]
    ats[#ats + 1] = rt[r][1]
    ats[#ats + 1] = format('%d', rt[r][3])
  end
  redis.call('HSET', rep_team_key, unpack(teams))
  redis.call('HSET', rep_team_at_key, unpack(ats))
end
for e = 1, nlate do
  local l = late[e]
  redis.call('XADD', late_key, 'MAXLEN', '~', feed_maxlen, '*', 'event_id', l[1], 'type', l[2],
             'rep', l[3], 'team', l[4], 'occurred_ms', l[5], 'topic', l[6], 'partition', l[7],
             'offset', l[8])
end
-- the staged record: written by the commit, a chunk at a time removed by the chunks
if smode == 'commit' then
  local pkeys = {}
  for i, p in ipairs(parts) do
    pkeys[i] = p.key
    redis.call('HSET', p.key, 'staged', sid)
  end
  redis.call('DEL', srecord)
  redis.call('HSET', srecord, 'n', snchunks .. '', 'left', snchunks .. '', 'event_ms', sevent,
             'parts', table.concat(pkeys, '\n'), 'stamp', stoken)
  for first = 1, snchunks, 200 do
    local rec, n = {}, 0
    for c = first, math.min(first + 199, snchunks) do
      rec[n + 1], rec[n + 2] = 'c:' .. c, A[sblob + c - 1]
      n = n + 2
    end
    redis.call('HSET', srecord, unpack(rec, 1, n))
  end
elseif smode == 'chunk' then
  redis.call('HDEL', srecord, 'c:' .. sindex)
  if redis.call('HINCRBY', srecord, 'left', -1) <= 0 then
    for k = spart, spart + snparts - 1 do
      if redis.call('HGET', K[k], 'staged') == sid then redis.call('HDEL', K[k], 'staged') end
    end
    redis.call('DEL', srecord)
  end
end
-- the feeds: what changed, in the same atomic step as the change itself
local list = feed_on and nhashes <= feed_max_keys
local names = {}
if list or track then
  for h = 1, nhashes do names[h] = sub(K[hkey + h - 1], plen + 1) end
end
if track then
  for first = 1, nhashes, 500 do
    redis.call('SADD', dirty_key, unpack(names, first, math.min(first + 499, nhashes)))
  end
elseif nhashes > 0 then
  redis.call('HSET', pub_key, 'untracked', '1')
end
if feed_on then
  local wm = watermark
  if event_ms ~= '' and tonumber(event_ms) > tonumber(wm) then
    wm = event_ms
    redis.call('HSET', feed_key, 'watermark', wm)
  end
  local lines = {}
  for i, p in ipairs(parts) do
    -- '<p>:part:<topic>:<partition>' -> '<topic>:<partition>:<from>:<next>'
    lines[i] = sub(p.key, plen + 6) .. ':' .. p.from .. ':' .. p.next
  end
  local entry = {'kind', list and 'change' or 'bulk', 'watermark', wm, 'n', nhashes .. '',
                 'parts', table.concat(lines, '\n')}
  if list then
    entry[9], entry[10] = 'keys', table.concat(names, '\n')
  end
  redis.call('XADD', changes_key, 'MAXLEN', '~', feed_maxlen, '*', unpack(entry))
end
return {'OK'}
