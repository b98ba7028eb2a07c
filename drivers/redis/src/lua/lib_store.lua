-- Helpers of the scripts that store jobs and put them back in line.

-- Leaves a wake-up token for workers blocked on the queue. A list holding tokens has no
-- worker blocked on it (a blocked worker takes a token as it arrives), so a full one is
-- left as it is: one command instead of three while jobs come faster than workers wait.
local function wake(signal)
  if redis.call('LLEN', signal) < SIGNAL_CAP then
    redis.call('LPUSH', signal, '1')
    redis.call('PEXPIRE', signal, SIGNAL_TTL_MS)
  end
end

-- Puts job `id` back in line: ready (waking a worker) if due, else in `delayed`.
local function enqueue(q, id, at, now)
  if at <= now then
    redis.call('RPUSH', q.ready, id)
    wake(q.signal)
  else
    redis.call('ZADD', q.delayed, ms(at), id)
  end
end

-- The index after the arguments of the job starting at ARGV[i] (see store_job).
local function job_end(i)
  return i + 6 + tonumber(ARGV[i + 5])
end

-- Stores the job whose arguments start at ARGV[i]: id, available_at (0: due when
-- dispatched), unique mode ('none', 'key': held while the job is stored, 'window': held
-- for a time whatever becomes of the job), unique key, window in ms, then n and n
-- field/value arguments for its hash.
-- Returns 1 stored, 0 skipped for its unique key, -1 id already stored; whether it is due
-- now (the caller puts due jobs on the ready list); and the index after its arguments.
local function store_job(q, i, now)
  local id, at, mode = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local after = job_end(i)
  local job = q.base .. JOB_PART .. id
  if redis.call('EXISTS', job) == 1 then
    return -1, false, after
  end
  if mode == 'key' and not redis.call('SET', q.base .. UNIQUE_PART .. ARGV[i + 3], id, 'NX') then
    return 0, false, after
  end
  if mode == 'window' and not redis.call('SET', q.base .. WINDOW_PART .. ARGV[i + 3], id, 'NX', 'PX', ARGV[i + 4]) then
    return 0, false, after
  end
  redis.call('HSET', job, unpack(ARGV, i + 6, after - 1))
  if at > now then
    redis.call('ZADD', q.delayed, ms(at), id)
    return 1, false, after
  end
  return 1, true, after
end
