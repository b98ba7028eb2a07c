-- Claims up to `limit` jobs of one queue. KEYS: the queue's five. ARGV: queue base,
-- lease_ms, name filter flag ('1' or '0'), name, worker id, then one lease token per job
-- wanted. Returns the ms until the queue's next scheduled job or lease deadline (or nil),
-- then per job: id, token, name, queue, payload, attempts, created_at, overlap_key,
-- unique_key, last_error, meta, cancelled.
local q = this_queue()
local now = server_now()
local deadline = ms(now + tonumber(ARGV[2]))
local worker = ARGV[5]
local limit = #ARGV - 5

-- Scheduled jobs now due, and jobs whose worker died, join the ready list first.
promote(q, now)

local ids
if ARGV[3] == '1' then
  -- Only jobs of one name: walk the ready list (job:run NAME is rare).
  ids = {}
  local len = redis.call('LLEN', q.ready)
  local from = 0
  while from < len and #ids < limit do
    local chunk = redis.call('LRANGE', q.ready, from, from + 499)
    for _, id in ipairs(chunk) do
      if #ids < limit and redis.call('HGET', q.base .. JOB_PART .. id, 'name') == ARGV[4] then
        ids[#ids + 1] = id
      end
    end
    from = from + 500
  end
  for _, id in ipairs(ids) do
    redis.call('LREM', q.ready, 1, id)
  end
else
  ids = redis.call('LPOP', q.ready, limit) or {}
end

-- Each job costs two commands (read it, mark it leased) and the batch one `ZADD`: the
-- server's work per command, not per job, is what bounds a busy queue.
local out = { false }
local leased = {}
for i, id in ipairs(ids) do
  local job = q.base .. JOB_PART .. id
  local f = redis.call('HMGET', job, 'name', 'queue', 'payload', 'attempts', 'created_at',
    'overlap_key', 'unique_key', 'last_error', 'meta', 'cancelled')
  if f[1] then
    local token = ARGV[5 + i]
    f[4] = tostring((tonumber(f[4]) or 0) + 1)
    redis.call('HSET', job, 'attempts', f[4], 'token', token, 'worker', worker)
    leased[#leased + 1] = deadline
    leased[#leased + 1] = id
    out[#out + 1] = id
    out[#out + 1] = token
    for j = 1, 10 do
      out[#out + 1] = f[j]
    end
  end
end
if #leased > 0 then
  redis.call('ZADD', q.reserved, unpack(leased))
end

-- When this queue next needs a look: its first scheduled job or lease deadline.
local next_due = nil
for _, key in ipairs({ q.delayed, q.reserved }) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 2 then
    local at = tonumber(first[2])
    if next_due == nil or at < next_due then
      next_due = at
    end
  end
end
if next_due ~= nil then
  out[1] = ms(math.max(next_due - now, 0))
end
return out
