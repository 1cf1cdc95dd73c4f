-- Mint: the pseudonym of every (kind, original), minting the missing ones, and what other callers minted since
-- this caller last looked (the recall journal), in one round trip.
-- KEYS: base, keycheck, kinds, journal, journal epoch, journal base, recall set, recall sweep cursor, recall set
-- complete (one slot).
-- ARGV: fingerprint, now, ttl, caller's journal epoch ('*': no journal wanted), caller's journal offset, journal
--       entries to keep, n, m, then m kinds (prefix, kind), then the n items packed in four strings, then
--       pseudonyms the caller already knows, to refresh (slide the TTL, count a use) without sending their
--       original again. The packed items (a few arguments for any n: building and parsing four arguments per item
--       cost more than the script's own work on a large paste):
--         ids      n forward-index ids of 16 characters each, concatenated
--         kinds    n 2-byte big-endian numbers: the item's kind, 0-based, among the m kinds
--         lengths  n 4-byte big-endian numbers: the length of the item's ciphertext
--         cts      the n ciphertexts, concatenated
-- Returns {the n pseudonyms joined by single spaces, epoch, offset, tail, missing} where tail is a flat list of
-- (pseudonym, kind, ciphertext) minted by others since the caller's offset, or the string 'reset' when the caller's
-- view is stale (the namespace was purged) or too far behind (it must reload the namespace); missing lists the
-- positions (1-based) of refreshed pseudonyms whose mapping has expired or was deleted: they are no longer recalled.
--
-- Offsets are absolute: the journal keeps only its last `keep` to `2 keep` entries, and none older than the TTL
-- (trimmed from its head), and the journal base counts the entries trimmed. A caller whose offset falls before the
-- base gets 'reset' (it reloads), as does one more than `keep` entries behind.
--
-- The recall set (hash pseudonym -> 'kind code|ciphertext') is what a new process loads its index from (one
-- HSCAN walk, no per-key work). Fields of mappings that expired are swept here: twice as many fields as the call
-- mints (16 to 1000), so the set stays within about twice the live mappings in steady use. A
-- namespace that mints its first mapping ever (no kind table yet) has a complete recall set from the start.
--
-- When Redis is full (maxmemory, noeviction) it refuses a script's first memory-growing write, but not the
-- writes after one that succeeded. So the new mappings are minted first (a full vault fails at the first INCR,
-- before anything was written, and the caller gets VaultFull), and only then are the known ones refreshed, with
-- pcall: a full vault still masks values it already knows.
local UNBOUND_OK = false
--@check
local base = KEYS[1]
local now, ttl = ARGV[2], tonumber(ARGV[3])
local caller_epoch, caller_offset, keep, n = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local m = tonumber(ARGV[8])
local packed = 9 + 2 * m
local ids, kinds_of, lengths, cts = ARGV[packed], ARGV[packed + 1], ARGV[packed + 2], ARGV[packed + 3]
local first_refresh = packed + 4
-- Unpack the items (and check the strings fit together) before anything is read or written.
if #ids ~= 16 * n or #kinds_of ~= 2 * n or #lengths ~= 4 * n then return redis.error_reply('ERR mint: bad item strings') end
local id_of, prefix_of, kind_of, ct_of = {}, {}, {}, {}
local pos = 1
for j = 1, n do
  id_of[j] = string.sub(ids, 16 * j - 15, 16 * j)
  local hi, lo = string.byte(kinds_of, 2 * j - 1, 2 * j)
  local k = hi * 256 + lo
  if k >= m then return redis.error_reply('ERR mint: bad kind') end
  prefix_of[j], kind_of[j] = ARGV[9 + 2 * k], ARGV[10 + 2 * k]
  local a, b, c, d = string.byte(lengths, 4 * j - 3, 4 * j)
  local len = ((a * 256 + b) * 256 + c) * 256 + d
  ct_of[j] = string.sub(cts, pos, pos + len - 1)
  pos = pos + len
end
if pos ~= #cts + 1 then return redis.error_reply('ERR mint: bad item strings') end
local epoch = redis.call('GET', KEYS[5])
-- A namespace's first journal gets an epoch from the server's clock (read here, before any write: a server that
-- refuses TIME, e.g. an ACL without it, fails the call before anything was written).
local stamp = false
if not epoch and n > 0 then
  local t = redis.call('TIME')
  stamp = t[1] .. '.' .. t[2]
end
local fresh = redis.call('EXISTS', KEYS[3]) == 0
local jbase = tonumber(redis.call('GET', KEYS[6]) or '0')
local before = jbase + redis.call('LLEN', KEYS[4])
-- The forward index, read in a few MGETs (unpack takes at most a few thousand values).
local known = {}
local fkeys = {}
for j = 1, n do fkeys[j] = base .. 'f:' .. id_of[j] end
for k = 1, n, 1000 do
  local found = redis.call('MGET', unpack(fkeys, k, math.min(k + 999, n)))
  for i = 1, #found do
    local p = found[i]
    if p and redis.call('EXISTS', base .. 'p:' .. p) == 0 then p = false end
    known[k + i - 1] = p
  end
end
local codes = {}
local out = {}
local minted = 0
local journal, recall = {}, {}
-- Numbers are taken per prefix in one INCRBY. 8-digit numbers would read like 8-hex EC2 ids (sg-12345678): a
-- range that reaches 10000000 skips straight to 9 digits from there on.
local wanted, number, skip = {}, {}, {}
for j = 1, n do
  if not known[j] then
    local prefix = prefix_of[j]
    wanted[prefix] = (wanted[prefix] or 0) + 1
  end
end
for prefix, count in pairs(wanted) do
  local ckey = base .. 'n:' .. prefix
  local last = redis.call('INCRBY', ckey, count)
  number[prefix] = last - count + 1
  if last - count + 1 <= 10000000 and last >= 10000000 then
    redis.call('INCRBY', ckey, 90000000)
    skip[prefix] = true
  end
end
for j = 1, n do
  local id, prefix, kind, ct = id_of[j], prefix_of[j], kind_of[j], ct_of[j]
  local p = known[j]
  if not p then
    local n = number[prefix]
    number[prefix] = n + 1
    if skip[prefix] and n >= 10000000 then n = n + 90000000 end
    local code = codes[kind]
    if not code then
      code = redis.call('HGET', KEYS[3], kind)
      if not code then
        code = redis.call('HINCRBY', KEYS[3], '#', 1)
        redis.call('HSET', KEYS[3], kind, code)
      end
      codes[kind] = code
    end
    p = prefix .. '-' .. string.format('%03d', n)
    local pkey = base .. 'p:' .. p
    redis.call('HSET', pkey, 'c', ct, 'k', code, 'f', now, 'l', now, 'h', 1, 'i', id)
    redis.call('EXPIRE', pkey, ttl)
    redis.call('SET', base .. 'f:' .. id, p, 'EX', ttl)
    minted = minted + 1
    journal[minted] = p
    recall[2 * minted - 1] = p
    recall[2 * minted] = code .. '|' .. ct
  end
  out[j] = p
end
-- The journal and the recall set are written in a few large calls (unpack takes at most a few thousand values).
for k = 1, minted, 1000 do
  redis.call('RPUSH', KEYS[4], unpack(journal, k, math.min(k + 999, minted)))
  redis.call('HSET', KEYS[7], unpack(recall, 2 * k - 1, 2 * math.min(k + 999, minted)))
end
for j = 1, n do
  local p = known[j]
  if p then
    local pkey = base .. 'p:' .. p
    redis.pcall('HSET', pkey, 'l', now)
    redis.pcall('HINCRBY', pkey, 'h', 1)
    redis.pcall('EXPIRE', pkey, ttl)
    redis.pcall('EXPIRE', fkeys[j], ttl)
  end
end
local missing = {}
for i = first_refresh, #ARGV do
  local pkey = base .. 'p:' .. ARGV[i]
  local id = redis.call('HGET', pkey, 'i')
  if id then
    redis.pcall('HSET', pkey, 'l', now)
    redis.pcall('HINCRBY', pkey, 'h', 1)
    redis.pcall('EXPIRE', pkey, ttl)
    redis.pcall('EXPIRE', base .. 'f:' .. id, ttl)
  else
    missing[#missing + 1] = i - first_refresh + 1
    redis.pcall('HDEL', KEYS[7], ARGV[i])
  end
end
if fresh and minted > 0 then redis.call('SET', KEYS[9], '1') end
if not epoch then
  epoch = ''
  if minted > 0 then
    epoch = stamp
    redis.call('SET', KEYS[5], epoch)
  end
end
-- Trimming and sweeping happen last (after the tail was read at the offsets above); both only free memory.
local function tidy()
  local length = redis.call('LLEN', KEYS[4])
  if length > 2 * keep then
    redis.pcall('LTRIM', KEYS[4], length - keep, -1)
    redis.pcall('INCRBY', KEYS[6], length - keep)
  end
  if minted > 0 then
    -- Trimmed by expiry too: head entries whose mapping is gone or was minted more than a TTL ago (its first-seen
    -- time, written by the caller like every mapping time). Entries are in minting order, so the walk stops at
    -- the first young one; it looks at twice as many entries as the call minted (16 to 1000), so trimming keeps
    -- pace with minting. A caller whose offset falls before the trimmed point reloads, as for a length trim.
    local oldest = tonumber(now) - ttl
    local drop = 0
    for _, p in ipairs(redis.call('LRANGE', KEYS[4], 0, math.min(1000, math.max(16, 2 * minted)) - 1)) do
      local first = redis.call('HGET', base .. 'p:' .. p, 'f')
      if first and tonumber(first) > oldest then break end
      drop = drop + 1
    end
    if drop > 0 then
      redis.pcall('LTRIM', KEYS[4], drop, -1)
      redis.pcall('INCRBY', KEYS[6], drop)
    end
    local sweep = redis.call('HSCAN', KEYS[7], redis.call('GET', KEYS[8]) or '0', 'COUNT', math.min(1000, math.max(16, 2 * minted)))
    for k = 1, #sweep[2], 2 do
      if redis.call('EXISTS', base .. 'p:' .. sweep[2][k]) == 0 then redis.pcall('HDEL', KEYS[7], sweep[2][k]) end
    end
    redis.pcall('SET', KEYS[8], sweep[1])
  end
end
if caller_epoch == '*' then
  tidy()
  return {table.concat(out, ' '), epoch, before + minted, {}, missing}
end
local first = caller_offset
if caller_epoch ~= epoch then
  -- A caller that loaded before the journal existed ('') reads it from its start; any other epoch is stale.
  if caller_epoch ~= '' then tidy() return {table.concat(out, ' '), epoch, before + minted, 'reset', missing} end
  first = 0
end
if first > before or first < jbase or before - first > keep then
  tidy()
  return {table.concat(out, ' '), epoch, before + minted, 'reset', missing}
end
local tail = {}
if before > first then
  local kinds = {}
  local pairs_ = redis.call('HGETALL', KEYS[3])
  for k = 1, #pairs_, 2 do kinds[pairs_[k + 1]] = pairs_[k] end
  for _, p in ipairs(redis.call('LRANGE', KEYS[4], first - jbase, before - jbase - 1)) do
    local row = redis.call('HMGET', base .. 'p:' .. p, 'c', 'k')
    if row[1] and row[2] and kinds[row[2]] then
      tail[#tail + 1] = p
      tail[#tail + 1] = kinds[row[2]]
      tail[#tail + 1] = row[1]
    end
  end
end
tidy()
return {table.concat(out, ' '), epoch, before + minted, tail, missing}
