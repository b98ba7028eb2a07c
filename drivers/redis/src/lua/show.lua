-- One job of this queue, in any state. KEYS: the queue's five. ARGV: queue base, id.
-- Returns id, state, place (its lease deadline or due time), then INFO_FIELDS; or an
-- empty reply when the queue does not hold it.
local q = this_queue()
local id = ARGV[2]
local now = server_now()
local out = {}
local f = info_of(q.base .. JOB_PART .. id)
if f then
  local lease = tonumber(redis.call('ZSCORE', q.reserved, id) or '0')
  local due = tonumber(redis.call('ZSCORE', q.delayed, id) or '0')
  if lease > now then
    append_info(out, id, 'running', ms(lease), f)
  elseif due > now then
    append_info(out, id, 'scheduled', ms(due), f)
  else
    append_info(out, id, 'pending', '0', f)
  end
  return out
end
f = info_of(q.base .. FAILED_PART .. id)
if f then
  local state = f[FIELD.cancelled] == '1' and 'cancelled' or 'failed'
  append_info(out, id, state, f[FIELD.failed_at] or '0', f)
end
return out
