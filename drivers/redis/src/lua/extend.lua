-- Renews a batch of leases on jobs of one queue. KEYS: the queue's five. ARGV: queue
-- base, lease_ms, then per lease: id, token. Returns per lease 1 held, 2 held but a
-- cancel was asked, 0 lost.
local q = this_queue()
local deadline = ms(server_now() + tonumber(ARGV[2]))
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if held(q, id, ARGV[i + 1]) then
    redis.call('ZADD', q.reserved, deadline, id)
    out[#out + 1] = redis.call('HGET', q.base .. JOB_PART .. id, 'cancelled') == '1' and 2 or 1
  else
    out[#out + 1] = 0
  end
end
return out
