-- Resolve pseudonyms to ciphertexts, sliding their TTL.
-- KEYS: base, keycheck (one slot).  ARGV: fingerprint, now, ttl, unbound ok (0/1), pseudonym*.
-- Returns each ciphertext (or false).
local UNBOUND_OK = ARGV[4] == '1'
--@check
local base = KEYS[1]
local now, ttl = ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 5, #ARGV do
  local pkey = base .. 'p:' .. ARGV[i]
  local row = redis.call('HMGET', pkey, 'c', 'i')
  if row[1] then
    redis.pcall('HSET', pkey, 'l', now)
    redis.pcall('HINCRBY', pkey, 'h', 1)
    redis.pcall('EXPIRE', pkey, ttl)
    redis.pcall('EXPIRE', base .. 'f:' .. row[2], ttl)
  end
  out[#out + 1] = row[1]
end
return out
