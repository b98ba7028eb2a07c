-- Puts failed or cancelled jobs back on their queue, ready now with no attempts, no
-- error and no cancel flag, their meta kept. KEYS: the queue's five. ARGV: queue base,
-- then the ids; without ids, the first FAILED_BATCH of the failed set. A job whose id a
-- live job took meanwhile stays failed. Returns how many ids it looked at, and how many
-- it put back.
local q = this_queue()
local ids = { unpack(ARGV, 2) }
if #ids == 0 then
  ids = redis.call('ZRANGE', q.failed, 0, FAILED_BATCH - 1)
end
local now = server_now()
local back = {}
for _, id in ipairs(ids) do
  local job = q.base .. JOB_PART .. id
  if redis.call('ZSCORE', q.failed, id) and redis.call('EXISTS', job) == 0 then
    redis.call('ZREM', q.failed, id)
    if redis.call('EXISTS', q.base .. FAILED_PART .. id) == 1 then
      redis.call('RENAME', q.base .. FAILED_PART .. id, job)
      redis.call('HDEL', job, 'error', 'failed_at', 'cancelled', 'last_error')
      redis.call('HSET', job, 'attempts', '0', 'due_at', ms(now))
      back[#back + 1] = id
    end
  end
end
if #back > 0 then
  redis.call('RPUSH', q.ready, unpack(back))
  wake(q.signal)
end
return { #ids, #back }
