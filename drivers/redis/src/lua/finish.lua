-- Writes the final outcome of a batch of runs of one queue. KEYS: the queue's five, then
-- on a single server the queue registry. ARGV: queue base, then per run five arguments,
-- kind, id, lease token, a, b:
--   ack      a = how many follow-ups come next, each as its queue base, its queue name
--              and what store_job reads
--   retry    a = available_at, b = error
--   release  a = available_at
--   fail     a = error, b = '1' when cancelled
-- Returns per run 1 written, 0 when the lease is no longer current: then nothing of it is
-- written, its follow-ups included.
-- An ack costs three commands (read the lease and unique key, check the lease is in
-- `reserved`, delete the job), and the batch one `ZREM` of every lease it ends.
local q = this_queue()
local now = server_now()
local out = {}
local ended = {}
local i = 2
while i <= #ARGV do
  local kind, id, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 3], ARGV[i + 4]
  local job = q.base .. JOB_PART .. id
  local ok, unique_key = held(q, id, ARGV[i + 2])
  i = i + 5
  if kind == 'ack' then
    if ok then
      free_unique_key(q, id, unique_key)
      redis.call('DEL', job)
      ended[#ended + 1] = id
    end
    -- The follow-ups: stored with the ack, or skipped with it. On a single server they
    -- may be of any queue; the driver sends only this queue's on a Cluster.
    for _ = 1, tonumber(a) do
      if ok then
        local to = queue_at(ARGV[i])
        if KEYS[6] then
          redis.call('SADD', KEYS[6], ARGV[i + 1])
        end
        local next_id = ARGV[i + 2]
        local stored, due
        stored, due, i = store_job(to, i + 2, now)
        if due then
          redis.call('RPUSH', to.ready, next_id)
          wake(to.signal)
        end
      else
        i = job_end(i + 2)
      end
    end
  elseif ok and kind == 'fail' then
    to_failed(q, id, a, b == '1', now)
  elseif ok then
    ended[#ended + 1] = id
    redis.call('HDEL', job, 'token', 'worker')
    if kind == 'retry' then
      redis.call('HSET', job, 'last_error', b, 'due_at', a)
    else
      redis.call('HSET', job, 'due_at', a)
      if tonumber(redis.call('HGET', job, 'attempts') or '0') > 0 then
        redis.call('HINCRBY', job, 'attempts', -1)
      end
    end
    enqueue(q, id, tonumber(a), now)
  end
  out[#out + 1] = ok and 1 or 0
end
if #ended > 0 then
  redis.call('ZREM', q.reserved, unpack(ended))
end
return out
