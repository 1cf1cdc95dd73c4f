-- Resolve pseudonyms to ciphertexts, sliding their TTL.
-- KEYS: base, keycheck (one slot).  ARGV: fingerprint, now, ttl, unbound ok (0/1), pseudonym*.
-- Returns each ciphertext (or false). In a namespace of the old layout (no '#' in its forward index, see
-- mint.lua) the mapping's forward key slides with it.
local UNBOUND_OK = ARGV[4] == '1'
--@check
local call, pcall_ = redis.call, redis.pcall
local base = KEYS[1]
local now, ttl = ARGV[2], tonumber(ARGV[3])
local hashed = #ARGV < 5 or call('HEXISTS', base .. 'f', '#') == 1
local out = {}
for i = 5, #ARGV do
  local pkey = base .. 'p:' .. ARGV[i]
  local row = call('HMGET', pkey, 'c', 'i', 'h')
  if row[1] then
    pcall_('HSET', pkey, 'l', now, 'h', (tonumber(row[3]) or 0) + 1)
    call('EXPIRE', pkey, ttl)
    if not hashed then call('EXPIRE', base .. 'f:' .. row[2], ttl) end
  end
  out[#out + 1] = row[1]
end
return out
