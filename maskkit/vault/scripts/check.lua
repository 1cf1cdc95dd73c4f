-- The key check every mapping script starts with (spliced in where a script says `--@check`): the
-- namespace's keycheck must hold the caller's fingerprint (ARGV[1]). Not bound yet -> MKINIT, unless
-- UNBOUND_OK (a read of a vault from before namespaces were bound); being rotated -> MKROTATING; else MKKEY.
local stored = redis.call('GET', KEYS[2])
if stored ~= ARGV[1] then
  if not stored or stored == 'pending:' .. ARGV[1] then
    if not UNBOUND_OK then return redis.error_reply('MKINIT') end
  elseif string.sub(stored, 1, 9) == 'rotating:' then
    return redis.error_reply('MKROTATING')
  else
    return redis.error_reply('MKKEY')
  end
end
