-- Deletes failed or cancelled jobs. KEYS: the queue's five. ARGV: queue base, a time
-- ('' for any) before which they must have failed, then the ids; without ids, the first
-- FAILED_BATCH of the failed set that failed before that time. Returns how many it deleted.
local q = this_queue()
local before = ARGV[2]
local ids = { unpack(ARGV, 3) }
if #ids == 0 then
  ids = redis.call('ZRANGEBYSCORE', q.failed, '-inf', before == '' and '+inf' or '(' .. before,
    'LIMIT', 0, FAILED_BATCH)
end
local deleted = 0
for _, id in ipairs(ids) do
  local score = redis.call('ZSCORE', q.failed, id)
  if score and (before == '' or tonumber(score) < tonumber(before)) then
    redis.call('ZREM', q.failed, id)
    redis.call('DEL', q.base .. FAILED_PART .. id)
    deleted = deleted + 1
  end
end
return deleted
