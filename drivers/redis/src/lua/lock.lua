-- Takes or renews one of the holds on a key. KEYS: the key's holders, a sorted set of
-- owners scored by when their hold ends. ARGV: owner, capacity, ttl_ms. Returns { 1 }
-- when the owner holds it, or { 0, when the earliest hold ends } when every hold is
-- taken. The set expires with its last hold, so a key nobody holds leaves nothing behind.
local now = server_now()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms(now))
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if mine or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ms(now + tonumber(ARGV[3])), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], last[2])
  return { 1 }
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return { 0, ms(tonumber(first[2])) }
