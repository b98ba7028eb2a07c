-- The helper of the control entry scripts.

-- The live entries of a control hash as key, value pairs (see put_entry.lua); expired
-- ones are deleted on the way, never returned.
local function live_entries(hash, now)
  local all = redis.call('HGETALL', hash)
  local out = {}
  for i = 1, #all, 2 do
    local ends, value = string.match(all[i + 1], '^(%d+) (.*)$')
    ends = tonumber(ends)
    if ends and ends ~= 0 and ends <= now then
      redis.call('HDEL', hash, all[i])
    elseif ends then
      out[#out + 1] = all[i]
      out[#out + 1] = value
    end
  end
  return out
end
