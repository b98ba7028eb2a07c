-- Sets a control entry. KEYS: the kind's hash, whose fields hold
-- '<expiry in ms, 0 for none> <value>'. ARGV: key, value, ttl_ms ('' for none). Expired
-- entries of the kind are dropped on the way, so dead heartbeats do not pile up.
local now = server_now()
live_entries(KEYS[1], now)
local ends = ARGV[3] == '' and '0' or ms(now + tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], ARGV[1], ends .. ' ' .. ARGV[2])
return 1
