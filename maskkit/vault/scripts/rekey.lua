-- rotate-key, step 2, per batch and namespace. KEYS: (mapping, old forward key, new forward key)*, one slot.
-- ARGV: (old ct, new ct, new id, pseudonym)*.  A mapping changes only if it still holds the ciphertext we read.
local done = 0
for j = 1, #KEYS / 3 do
  local pkey, oldf, newf = KEYS[3 * j - 2], KEYS[3 * j - 1], KEYS[3 * j]
  local oldct, newct, newid, p = ARGV[4 * j - 3], ARGV[4 * j - 2], ARGV[4 * j - 1], ARGV[4 * j]
  if redis.call('HGET', pkey, 'c') == oldct then
    local ttl = redis.call('PTTL', pkey)
    redis.call('HSET', pkey, 'c', newct, 'i', newid)
    local rkey = string.sub(pkey, 1, #pkey - #p - 2) .. 'r'
    if redis.call('HEXISTS', rkey, p) == 1 then
      redis.call('HSET', rkey, p, redis.call('HGET', pkey, 'k') .. '|' .. newct)
    end
    if redis.call('GET', oldf) == p then redis.call('DEL', oldf) end
    if ttl > 0 then redis.call('SET', newf, p, 'PX', ttl) else redis.call('SET', newf, p) end
    done = done + 1
  end
end
return done
