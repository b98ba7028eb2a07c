-- Helpers every script starts with. The key helpers below and the upper-case names
-- (item key parts and limits) are filled in from keys.rs and scripts.rs. Scripts include
-- only the helper files they use: Redis runs the whole text on every call, so each unused
-- helper would cost a closure.
--
-- Every queue script declares the queue's five structure keys in KEYS (ready, delayed,
-- reserved, failed, signal), so a Cluster client sends it to the queue's node, and gets
-- the queue's key base in ARGV[1]. `this_queue()` gives a table of those keys and the
-- base; an item's key is the base, its part and its id, as in `q.base .. JOB_PART .. id`.
-- All of them carry the queue's hash tag, so they live in the slot of the declared keys.

QUEUE_KEYS

-- The server's clock, in ms: leases do not depend on the workers' clocks agreeing.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A time or score as Redis should store it: an integer, never in exponent notation.
local function ms(n)
  return string.format('%.0f', n)
end
