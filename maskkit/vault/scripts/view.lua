-- Where a namespace's recall journal stands, read at one instant: what a loading process starts from.
-- KEYS: journal, journal epoch, journal base, recall set complete (one slot).
-- Returns {epoch ('' if none), absolute offset (journal base + length), '1' if the recall set is complete}.
local jbase = tonumber(redis.call('GET', KEYS[3]) or '0')
return {redis.call('GET', KEYS[2]) or '', jbase + redis.call('LLEN', KEYS[1]), redis.call('GET', KEYS[4]) or ''}
