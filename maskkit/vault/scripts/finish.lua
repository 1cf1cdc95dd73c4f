-- rotate-key, step 3 (every namespace's keycheck, then mk:keycheck). KEYS: a keycheck.  ARGV: new fingerprint.
-- A keycheck deleted meanwhile (purge) stays deleted.
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
if stored == ARGV[1] or stored == 'rotating:' .. ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return redis.error_reply('MKKEY')
