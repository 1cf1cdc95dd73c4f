-- Mint: the pseudonym of every (kind, original), minting the missing ones, and what other callers minted since
-- this caller last looked (the recall journal), in one round trip.
-- KEYS: base, keycheck, kinds, journal, journal epoch, journal base, recall set, recall sweep cursor, recall set
-- complete, forward index, forward sweep cursor (one slot). (The sweep cursors hold prefixes an earlier release's
-- script would not understand: the recall set's is not the key that release used.)
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
-- The forward index is one hash per namespace (field: the 16-character id, value: the pseudonym), written in a few
-- large HSETs: a key per mapping with its own TTL cost more than the mapping itself. Its fields do not expire
-- (Redis 6.2 has no field TTL): a field whose mapping is gone is ignored (the mapping is checked, so an expired
-- mapping never comes back through it) and swept here. Its field '#' says the namespace has no forward keys of
-- the old layout (`f:<id>` strings with their own TTL, written before the hash existed): a namespace that mints
-- its first mapping ever (no kind table yet) or was purged has none. In a namespace without '#' the old keys are
-- read too (for the ids the hash does not know) and kept alive as before; new mappings go to the hash.
--
-- The recall set (hash pseudonym -> 'kind code|ciphertext') is what a new process loads its index from (one
-- HSCAN walk, no per-key work). A namespace that mints its first mapping ever (no kind table yet) has a complete
-- recall set from the start. Fields of mappings that expired are swept here, twice as many as the call mints (16
-- to 1000 a call; a small hash as a whole, less often: see sweep), so both hashes stay within about twice the
-- live mappings in steady use: the forward sweep deletes a gone mapping's recall-set field with its own (every
-- recall-set field of a namespace with '#' has a forward field); a namespace without '#' also sweeps its recall
-- set, for the mappings of the old layout.
--
-- When Redis is full (maxmemory, noeviction) it refuses a script's first memory-growing write, but not the
-- writes after one that succeeded. So the new mappings are minted first (a full vault fails at the first INCR,
-- before anything was written, and the caller gets VaultFull), and only then are the known ones refreshed, with
-- pcall: a full vault still masks values it already knows.
local UNBOUND_OK = false
--@check
local call, pcall_, sub, byte, unpack_ = redis.call, redis.pcall, string.sub, string.byte, unpack
local base, fwd, rset = KEYS[1], KEYS[10], KEYS[7]
local pbase = base .. 'p:'
local now, ttl = ARGV[2], tonumber(ARGV[3])
local caller_epoch, caller_offset, keep, n = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local m = tonumber(ARGV[8])
local packed = 9 + 2 * m
local ids, kinds_of, lengths, cts = ARGV[packed], ARGV[packed + 1], ARGV[packed + 2], ARGV[packed + 3]
local first_refresh = packed + 4
-- Unpack the items (and check the strings fit together) before anything is read or written.
if #ids ~= 16 * n or #kinds_of ~= 2 * n or #lengths ~= 4 * n then return redis.error_reply('ERR mint: bad item strings') end
local id_of, kind_at, ct_of = {}, {}, {}
local pos = 1
for j = 1, n do
  id_of[j] = sub(ids, 16 * j - 15, 16 * j)
  local hi, lo = byte(kinds_of, 2 * j - 1, 2 * j)
  local k = hi * 256 + lo
  if k >= m then return redis.error_reply('ERR mint: bad kind') end
  kind_at[j] = 9 + 2 * k
  local a, b, c, d = byte(lengths, 4 * j - 3, 4 * j)
  local len = ((a * 256 + b) * 256 + c) * 256 + d
  ct_of[j] = sub(cts, pos, pos + len - 1)
  pos = pos + len
end
if pos ~= #cts + 1 then return redis.error_reply('ERR mint: bad item strings') end
local epoch = call('GET', KEYS[5])
-- A namespace's first journal gets an epoch from the server's clock (read here, before any write: a server that
-- refuses TIME, e.g. an ACL without it, fails the call before anything was written).
local stamp = false
if not epoch and n > 0 then
  local t = call('TIME')
  stamp = t[1] .. '.' .. t[2]
end
local fresh = call('EXISTS', KEYS[3]) == 0
local hashed = fresh or call('HEXISTS', fwd, '#') == 1
local jbase = tonumber(call('GET', KEYS[6]) or '0')
local before = jbase + call('LLEN', KEYS[4])
-- The forward index, read in a few HMGETs (unpack takes at most a few thousand values); a field whose mapping is
-- gone is stale (its recall-set field goes too, below). A use of a mapping writes its last-seen time and its hits
-- in one HSET: the hits are read here, where the mapping's existence is checked anyway (a read is cheaper than
-- an HINCRBY, which the server also writes to its AOF).
local known, hits, stale = {}, {}, {}
for k = 1, n, 1000 do
  local found = call('HMGET', fwd, unpack_(id_of, k, math.min(k + 999, n)))
  for i = 1, #found do
    local p = found[i]
    if p then
      local h = call('HGET', pbase .. p, 'h')
      if h then
        hits[k + i - 1] = h
      else
        stale[#stale + 1] = p
        p = false
      end
    end
    known[k + i - 1] = p
  end
end
-- The old layout's forward keys, for the ids the hash does not know (namespaces without '#' only).
local oldkey = {}
if not hashed then
  local at, keys = {}, {}
  for j = 1, n do
    if not known[j] then
      at[#at + 1] = j
      keys[#keys + 1] = base .. 'f:' .. id_of[j]
    end
  end
  for k = 1, #keys, 1000 do
    local found = call('MGET', unpack_(keys, k, math.min(k + 999, #keys)))
    for i = 1, #found do
      local p = found[i]
      local h = p and call('HGET', pbase .. p, 'h')
      if h then
        known[at[k + i - 1]] = p
        hits[at[k + i - 1]] = h
        oldkey[at[k + i - 1]] = keys[k + i - 1]
      end
    end
  end
end
local codes = {}
local out = {}
local minted = 0
local journal, recall, forward = {}, {}, {}
-- Numbers are taken per prefix in one INCRBY. 8-digit numbers would read like 8-hex EC2 ids (sg-12345678): a
-- range that reaches 10000000 skips straight to 9 digits from there on.
local wanted, number, skip = {}, {}, {}
for j = 1, n do
  if not known[j] then
    local prefix = ARGV[kind_at[j]]
    wanted[prefix] = (wanted[prefix] or 0) + 1
  end
end
for prefix, count in pairs(wanted) do
  local ckey = base .. 'n:' .. prefix
  local last = call('INCRBY', ckey, count)
  number[prefix] = last - count + 1
  if last - count + 1 <= 10000000 and last >= 10000000 then
    call('INCRBY', ckey, 90000000)
    skip[prefix] = true
  end
end
for j = 1, n do
  local p = known[j]
  if not p then
    local at = kind_at[j]
    local prefix, kind = ARGV[at], ARGV[at + 1]
    local number_ = number[prefix]
    number[prefix] = number_ + 1
    if skip[prefix] and number_ >= 10000000 then number_ = number_ + 90000000 end
    local code = codes[kind]
    if not code then
      code = call('HGET', KEYS[3], kind)
      if not code then
        code = call('HINCRBY', KEYS[3], '#', 1)
        call('HSET', KEYS[3], kind, code)
      end
      codes[kind] = code
    end
    p = prefix .. '-' .. (number_ < 100 and string.format('%03d', number_) or number_)
    local pkey = pbase .. p
    local id, ct = id_of[j], ct_of[j]
    call('HSET', pkey, 'c', ct, 'k', code, 'f', now, 'l', now, 'h', 1, 'i', id)
    call('EXPIRE', pkey, ttl)
    minted = minted + 1
    journal[minted] = p
    recall[2 * minted - 1] = p
    recall[2 * minted] = code .. '|' .. ct
    forward[2 * minted - 1] = id
    forward[2 * minted] = p
  end
  out[j] = p
end
if fresh and minted > 0 then
  forward[2 * minted + 1] = '#'
  forward[2 * minted + 2] = '1'
end
-- The journal, the recall set and the forward index are written in a few large calls (unpack takes at most a few
-- thousand values).
for k = 1, minted, 1000 do
  local last = math.min(k + 999, minted)
  call('RPUSH', KEYS[4], unpack_(journal, k, last))
  call('HSET', rset, unpack_(recall, 2 * k - 1, 2 * last))
  call('HSET', fwd, unpack_(forward, 2 * k - 1, last == minted and #forward or 2 * last))
end
for j = 1, n do
  local p = known[j]
  if p then
    local pkey = pbase .. p
    pcall_('HSET', pkey, 'l', now, 'h', tonumber(hits[j]) + 1)
    call('EXPIRE', pkey, ttl)
    if oldkey[j] then call('EXPIRE', oldkey[j], ttl) end
  end
end
for i = 1, #stale do pcall_('HDEL', rset, stale[i]) end
local missing = {}
for i = first_refresh, #ARGV do
  local p = ARGV[i]
  local pkey = pbase .. p
  local h, id
  if hashed then h = call('HGET', pkey, 'h') else h, id = unpack_(call('HMGET', pkey, 'h', 'i')) end
  if h then
    pcall_('HSET', pkey, 'l', now, 'h', tonumber(h) + 1)
    call('EXPIRE', pkey, ttl)
    if id then call('EXPIRE', base .. 'f:' .. id, ttl) end
  else
    missing[#missing + 1] = i - first_refresh + 1
    pcall_('HDEL', rset, p)
  end
end
if fresh and minted > 0 then call('SET', KEYS[9], '1') end
if not epoch then
  epoch = ''
  if minted > 0 then
    epoch = stamp
    call('SET', KEYS[5], epoch)
  end
end
-- Trimming and sweeping happen last (after the tail was read at the offsets above); both only free memory.
local function sweep(hash, cursor_key, count, forward_)
  -- A hash in Redis' compact encoding (up to 128 fields by default on Redis 7, 512 on the embedded server)
  -- answers HSCAN with all its fields whatever the COUNT: swept on every call, it cost a small namespace 0.1-0.5
  -- ms a call. So a walk that came back whole with more fields than asked for is not repeated before as many
  -- more mappings were minted as half the fields it looked at (at least 256): the cursor holds 'c' and the journal
  -- position (absolute, as the callers' offsets) from which it may run again. Still at most about 2 fields per
  -- minted mapping, as for a large hash.
  -- Checking a field costs a few µs in a large namespace (its mapping is looked up): a walk whose last step found
  -- nothing gone (most namespaces, most of the time: mappings live a week) goes on at an eighth of the pace (the
  -- cursor holds 'q'), and back at full pace from the first gone mapping it meets.
  local position = before + minted
  local cursor = call('GET', cursor_key) or '0'
  if byte(cursor, 1) == 99 then
    if position < tonumber(sub(cursor, 2)) then return end
    cursor = '0'
  elseif byte(cursor, 1) == 113 then
    cursor = sub(cursor, 2)
    count = math.max(16, math.floor(count / 8))
  end
  local gone = 0
  local reply = call('HSCAN', hash, cursor, 'COUNT', count)
  local fields = reply[2]
  -- (field, pseudonym) of each entry; their mappings are checked 16 at a time with one EXISTS, and one by one
  -- only in a group where one is gone: most groups are all alive.
  local field_of, p_of = {}, {}
  for k = 1, #fields, 2 do
    local p = forward_ and fields[k + 1] or fields[k]
    if fields[k] ~= '#' then
      field_of[#field_of + 1] = fields[k]
      p_of[#p_of + 1] = p
    end
  end
  local group = {}
  for g = 1, #p_of, 16 do
    local last = math.min(g + 15, #p_of)
    for i = g, last do group[i - g + 1] = pbase .. p_of[i] end
    for i = last - g + 2, 16 do group[i] = nil end
    if call('EXISTS', unpack_(group)) < last - g + 1 then
      for i = g, last do
        if call('EXISTS', group[i - g + 1]) == 0 then
          gone = gone + 1
          pcall_('HDEL', hash, field_of[i])
          if forward_ then pcall_('HDEL', rset, p_of[i]) end
        end
      end
    end
  end
  if cursor == '0' and reply[1] == '0' and #fields > 2 * count then
    pcall_('SET', cursor_key, 'c' .. (position + math.max(256, math.floor(#fields / 4))))
  else
    pcall_('SET', cursor_key, (gone == 0 and 'q' or '') .. reply[1])
  end
end
local function tidy()
  local length = call('LLEN', KEYS[4])
  if length > 2 * keep then
    pcall_('LTRIM', KEYS[4], length - keep, -1)
    pcall_('INCRBY', KEYS[6], length - keep)
  end
  if minted > 0 then
    -- Trimmed by expiry too: head entries whose mapping is gone or was minted more than a TTL ago (its first-seen
    -- time, written by the caller like every mapping time). Entries are in minting order, so the walk stops at
    -- the first young one; it looks at twice as many entries as the call minted (16 to 1000), so trimming keeps
    -- pace with minting. A caller whose offset falls before the trimmed point reloads, as for a length trim.
    local count = math.min(1000, math.max(16, 2 * minted))
    local oldest = tonumber(now) - ttl
    -- (Read 16 entries at a time: the walk usually stops at the first.)
    local drop, young = 0, false
    while not young and drop < count do
      local chunk = call('LRANGE', KEYS[4], drop, math.min(drop + 15, count - 1))
      for _, p in ipairs(chunk) do
        local first = call('HGET', pbase .. p, 'f')
        if first and tonumber(first) > oldest then
          young = true
          break
        end
        drop = drop + 1
      end
      if #chunk < 16 then break end
    end
    if drop > 0 then
      pcall_('LTRIM', KEYS[4], drop, -1)
      pcall_('INCRBY', KEYS[6], drop)
    end
    sweep(fwd, KEYS[11], count, true)
    if not hashed then sweep(rset, KEYS[8], count, false) end
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
  local pairs_ = call('HGETALL', KEYS[3])
  for k = 1, #pairs_, 2 do kinds[pairs_[k + 1]] = pairs_[k] end
  for _, p in ipairs(call('LRANGE', KEYS[4], first - jbase, before - jbase - 1)) do
    local row = call('HMGET', pbase .. p, 'c', 'k')
    if row[1] and row[2] and kinds[row[2]] then
      tail[#tail + 1] = p
      tail[#tail + 1] = kinds[row[2]]
      tail[#tail + 1] = row[1]
    end
  end
end
tidy()
return {table.concat(out, ' '), epoch, before + minted, tail, missing}
