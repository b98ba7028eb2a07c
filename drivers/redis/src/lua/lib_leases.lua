-- Helpers of the scripts that check leases and move jobs to the failed store.

-- True when `token` is the current lease on job `id`: the hash says so and the id is
-- still in `reserved` (not rescued back to ready after its lease ran out). Also returns
-- the unique key the job holds (false for none), read in the same command.
local function held(q, id, token)
  local f = redis.call('HMGET', q.base .. JOB_PART .. id, 'token', 'unique_key')
  return f[1] == token and redis.call('ZSCORE', q.reserved, id) ~= false, f[2]
end

-- Frees unique key `key` (read from job `id`'s hash, false for none) if `id` still holds it.
local function free_unique_key(q, id, key)
  if key and redis.call('GET', q.base .. UNIQUE_PART .. key) == id then
    redis.call('DEL', q.base .. UNIQUE_PART .. key)
  end
end

-- Frees the unique key job `id` holds, if it still holds it.
local function free_unique(q, id)
  free_unique_key(q, id, redis.call('HGET', q.base .. JOB_PART .. id, 'unique_key'))
end

-- Moves job `id` (already out of ready and delayed) to the failed store with `error`,
-- marked cancelled or not, freeing its unique key.
local function to_failed(q, id, error, cancelled, now)
  local failed_job = q.base .. FAILED_PART .. id
  free_unique(q, id)
  redis.call('ZREM', q.reserved, id)
  redis.call('RENAME', q.base .. JOB_PART .. id, failed_job)
  redis.call('HDEL', failed_job, 'token', 'worker', 'unique_key', 'last_error', 'due_at', 'cancelled')
  redis.call('HSET', failed_job, 'error', error, 'failed_at', ms(now))
  if cancelled then
    redis.call('HSET', failed_job, 'cancelled', '1')
  end
  redis.call('ZADD', q.failed, ms(now), id)
end
