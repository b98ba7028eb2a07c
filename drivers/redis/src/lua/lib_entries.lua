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

-- The live value of one entry, or nil when it has none or it ran out.
local function live_value(hash, key, now)
  local held = redis.call('HGET', hash, key)
  if not held then
    return nil
  end
  local ends, value = string.match(held, '^(%d+) (.*)$')
  ends = tonumber(ends)
  if not ends or (ends ~= 0 and ends <= now) then
    return nil
  end
  return value
end
