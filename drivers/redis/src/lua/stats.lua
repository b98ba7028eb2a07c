-- Counts a queue's jobs per state. KEYS: the queue's five. Returns ready (with due
-- scheduled jobs and expired leases), scheduled, reserved, failed (cancelled included).
local now = ms(server_now())
local ready = redis.call('LLEN', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '-inf', now)
  + redis.call('ZCOUNT', KEYS[3], '-inf', now)
local scheduled = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local reserved = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
return { ready, scheduled, reserved, redis.call('ZCARD', KEYS[4]) }
