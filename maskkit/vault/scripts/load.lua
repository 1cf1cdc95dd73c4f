-- Loading a namespace whose recall set is not known to be complete (its mappings were written before the recall
-- set existed): SCAN the namespace's mappings on the server, copy each live one into the recall set, and return
-- (pseudonym, kind code, ciphertext) for each. The call that finishes the walk marks the set complete, and from
-- then on processes load with HSCAN alone.
-- KEYS: base, recall set, recall set complete (one slot: on a Cluster the script runs on the node holding it).
-- ARGV: cursor, keys to visit per SCAN call, entries to gather before answering (bounds the time the server
-- spends in one call), '1' if every earlier call of this walk copied all it saw.  Returns {next cursor ('0' when done), flat list of (pseudonym, code, ciphertext), '1' if all was copied}.
local base = KEYS[1]
local skip = #base + 3
local cursor, count, limit = ARGV[1], ARGV[2], 3 * tonumber(ARGV[3])
local out = {}
local copied = true
repeat
  local reply = redis.call('SCAN', cursor, 'MATCH', base .. 'p:*', 'COUNT', count)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    local row = redis.call('HMGET', key, 'k', 'c')
    if row[1] and row[2] then
      local p = string.sub(key, skip)
      -- A full vault (maxmemory) refuses the copy: the load goes on, but the set is not marked complete.
      if type(redis.pcall('HSET', KEYS[2], p, row[1] .. '|' .. row[2])) == 'table' then copied = false end
      out[#out + 1] = p
      out[#out + 1] = row[1]
      out[#out + 1] = row[2]
    end
  end
until cursor == '0' or #out >= limit
if cursor == '0' and copied and ARGV[4] == '1' then redis.pcall('SET', KEYS[3], '1') end
return {cursor, out, copied and '1' or '0'}
