-- One SCAN batch of mappings in one call, the small fields joined into one string per key: parsing two replies
-- (HMGET + TTL) per key in redis-py was two thirds of an audit's time. Single servers only (the keys of a batch
-- may hash to several Cluster slots).
local out = {}
for i = 1, #KEYS do
  local r = redis.call('HMGET', KEYS[i], 'k', 'c', 'f', 'l', 'h')
  if r[2] then
    out[#out + 1] = KEYS[i]
    out[#out + 1] = (r[1] or '') .. '|' .. (r[3] or '0') .. '|' .. (r[4] or '0') .. '|' .. (r[5] or '0') .. '|'
      .. redis.call('TTL', KEYS[i])
    out[#out + 1] = r[2]
  end
end
return out
