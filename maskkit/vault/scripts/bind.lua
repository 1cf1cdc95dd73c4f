-- Binding a namespace to the key, in two steps around a re-read of mk:keycheck (see Vault._bind).
-- KEYS: the namespace's keycheck.  ARGV: fingerprint, 'pending' | 'promote'.  Returns 'ready' or 'pending'.
local stored = redis.call('GET', KEYS[1])
local pending = 'pending:' .. ARGV[1]
if stored == ARGV[1] then return 'ready' end
if ARGV[2] == 'pending' then
  if not stored then redis.call('SET', KEYS[1], pending) return 'pending' end
  if stored == pending then return 'pending' end
elseif stored == pending then
  redis.call('SET', KEYS[1], ARGV[1])
  return 'ready'
elseif not stored then
  return redis.error_reply('MKINIT')
end
if string.sub(stored, 1, 9) == 'rotating:' then return redis.error_reply('MKROTATING') end
return redis.error_reply('MKKEY')
