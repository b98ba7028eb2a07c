-- The promotion every claim (and pending listing) does first.

-- Moves scheduled jobs now due, and jobs whose lease ran out (their worker died), to the
-- end of the ready list, oldest first; at most MOVE_BATCH of each, so no call runs long.
local function promote(q, now)
  for _, key in ipairs({ q.delayed, q.reserved }) do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', ms(now), 'LIMIT', 0, MOVE_BATCH)
    if #due > 0 then
      redis.call('ZREMRANGEBYRANK', key, 0, #due - 1)
      redis.call('RPUSH', q.ready, unpack(due))
    end
  end
end
