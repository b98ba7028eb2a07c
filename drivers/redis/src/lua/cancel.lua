-- Cancels job ARGV[2] if it is on this queue. KEYS: the queue's five. ARGV: queue base,
-- id, the error it is kept with. A waiting job (ready, scheduled, or held under a lease
-- that ran out) leaves the queue for the failed store, marked cancelled; a job held under
-- a live lease gets the cancel flag, which `extend` reports and a later claim hands out.
-- Returns 1 removed, 2 flagged, 0 not on this queue.
local q = this_queue()
local id = ARGV[2]
local job = q.base .. JOB_PART .. id
if redis.call('EXISTS', job) == 0 then
  return 0
end
local now = server_now()
local lease = redis.call('ZSCORE', q.reserved, id)
if lease and tonumber(lease) > now then
  redis.call('HSET', job, 'cancelled', '1')
  return 2
end
if not lease and redis.call('ZREM', q.delayed, id) == 0 then
  redis.call('LREM', q.ready, 1, id)
end
to_failed(q, id, ARGV[3], true, now)
return 1
