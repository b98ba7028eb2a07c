-- Stores a batch of jobs of one queue. KEYS: the queue's five, then on a single server
-- the queue registry. ARGV: queue base, queue name, then per job what store_job reads.
-- Returns per job 1 stored, 0 skipped for its unique key, -1 id already stored. Ready jobs
-- join the list in batch order with one RPUSH, and the queue is woken once.
local q = this_queue()
if KEYS[6] then
  redis.call('SADD', KEYS[6], ARGV[2])
end
-- The server's clock is read only for a job due later: one dispatched for now says 0.
local now
local out, ready = {}, {}
local i = 3
while i <= #ARGV do
  local id = ARGV[i]
  if now == nil and ARGV[i + 1] ~= '0' then
    now = server_now()
  end
  local stored, due
  stored, due, i = store_job(q, i, now or 0)
  out[#out + 1] = stored
  if due then
    ready[#ready + 1] = id
  end
end
if #ready > 0 then
  redis.call('RPUSH', q.ready, unpack(ready))
  wake(q.signal)
end
return out
