-- rotate-key, step 1 (for mk:keycheck, then for every namespace's keycheck).  KEYS: a keycheck.
-- ARGV: old fingerprint, new fingerprint.  From then on every script in that namespace refuses to run
-- (MKROTATING), so no mapping is written under the old key during the rotation.  Returns 0 if already rotated.
local stored = redis.call('GET', KEYS[1])
if stored == ARGV[2] then return 0 end
if not stored or stored == ARGV[1] or stored == 'pending:' .. ARGV[1] or stored == 'rotating:' .. ARGV[2] then
  redis.call('SET', KEYS[1], 'rotating:' .. ARGV[2])
  return 1
end
return redis.error_reply('MKKEY')
