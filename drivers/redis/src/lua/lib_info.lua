-- Helpers of the scripts that show jobs and entries (after prelude.lua). INFO_FIELDS
-- is filled in from records.rs, which reads the replies.

local INFO_FIELDS = { INFO_FIELD_LIST }
local FIELD = {}
for i, name in ipairs(INFO_FIELDS) do
  FIELD[name] = i
end

-- What admin tools show of a job: INFO_FIELDS of its hash, or nil if it is gone.
local function info_of(hash)
  local f = redis.call('HMGET', hash, unpack(INFO_FIELDS))
  if f[FIELD.name] then
    return f
  end
  return nil
end

-- Appends one job to a reply: id, state, place (a list index or a score), then `f`.
local function append_info(out, id, state, place, f)
  out[#out + 1] = id
  out[#out + 1] = state
  out[#out + 1] = place
  for j = 1, #INFO_FIELDS do
    out[#out + 1] = f[j]
  end
end
