-- rotate-key, step 2, per batch and namespace. KEYS: the namespace's forward index, then (mapping, old layout's
-- forward key of its old id)*, one slot.  ARGV: (old ct, new ct, old id, new id, pseudonym)*.  A mapping changes
-- only if it still holds the ciphertext we read; its forward entry moves to the new id in the forward index (an
-- old layout's forward key is deleted: the mapping is found through the index from then on).
local fwd = KEYS[1]
local done = 0
for j = 1, (#KEYS - 1) / 2 do
  local pkey, oldf = KEYS[2 * j], KEYS[2 * j + 1]
  local oldct, newct, oldid, newid, p = ARGV[5 * j - 4], ARGV[5 * j - 3], ARGV[5 * j - 2], ARGV[5 * j - 1], ARGV[5 * j]
  if redis.call('HGET', pkey, 'c') == oldct then
    redis.call('HSET', pkey, 'c', newct, 'i', newid)
    local rkey = string.sub(pkey, 1, #pkey - #p - 2) .. 'r'
    if redis.call('HEXISTS', rkey, p) == 1 then
      redis.call('HSET', rkey, p, redis.call('HGET', pkey, 'k') .. '|' .. newct)
    end
    if redis.call('HGET', fwd, oldid) == p then redis.call('HDEL', fwd, oldid) end
    if redis.call('GET', oldf) == p then redis.call('DEL', oldf) end
    redis.call('HSET', fwd, newid, p)
    done = done + 1
  end
end
return done
