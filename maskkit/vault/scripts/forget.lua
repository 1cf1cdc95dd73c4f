-- KEYS: the mapping.  ARGV: base, pseudonym.  Deletes both directions (the forward index's field, or an old
-- layout's forward key) and the recall-set field; returns 1 if the mapping existed.
redis.call('HDEL', ARGV[1] .. 'r', ARGV[2])
local id = redis.call('HGET', KEYS[1], 'i')
if not id then return 0 end
redis.call('DEL', KEYS[1])
local fwd = ARGV[1] .. 'f'
if redis.call('HGET', fwd, id) == ARGV[2] then redis.call('HDEL', fwd, id) end
local fkey = ARGV[1] .. 'f:' .. id
if redis.call('GET', fkey) == ARGV[2] then redis.call('DEL', fkey) end
return 1
