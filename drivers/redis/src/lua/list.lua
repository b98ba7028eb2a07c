-- One step of a listing walk over one queue. KEYS: the queue's five. ARGV: queue base,
-- state, the id the walk stopped after ('' to start), that id's place, how many jobs are
-- wanted, a job name ('' for any).
--
-- Pending jobs are walked in the ready list by position (due scheduled jobs and expired
-- leases are promoted to it first, as a claim would); scheduled, running and failed or
-- cancelled jobs in their sorted set by score, then id. The walk resumes after the id it
-- stopped at: found again at its place or, if jobs ahead of it left, by LPOS or its
-- score. No step looks at more than SCAN_CAP entries.
--
-- Returns 1 when the queue was walked to its end (else 0), the last id looked at and its
-- place, then per job found: id, state, place, INFO_FIELDS.
local q = this_queue()
local state, after, after_place, want, name = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local now = server_now()
local out = { 0, after, after_place }
local found, looked = 0, 0

-- Looks at one entry; true once enough jobs are found.
local function look(hash, id, place)
  local f = info_of(hash)
  local failed = state == 'failed' or state == 'cancelled'
  if f and (name == '' or f[FIELD.name] == name)
    and (not failed or (f[FIELD.cancelled] == '1') == (state == 'cancelled')) then
    append_info(out, id, state, place, f)
    found = found + 1
  end
  return found >= want
end

-- Walks chunks from `start`; `fetch(start)` gives a chunk as a list of id, place pairs;
-- `part` names the jobs' hashes.
local function walk(start, fetch, part, skip)
  while looked < SCAN_CAP do
    local chunk = fetch(start)
    for k = 1, #chunk, 2 do
      local id, place = chunk[k], chunk[k + 1]
      looked = looked + 1
      out[2], out[3] = id, place
      if not (skip and skip(id, place)) and look(q.base .. part .. id, id, place) then
        return
      end
    end
    if #chunk < 2 * SCAN_CHUNK then
      out[1] = 1
      return
    end
    start = start + SCAN_CHUNK
  end
end

if state == 'pending' then
  promote(q, now)
  local start = 0
  if after ~= '' then
    local place = tonumber(after_place)
    if redis.call('LINDEX', q.ready, place) == after then
      start = place + 1
    else
      -- Jobs ahead of it were taken. If it is gone too, start over: nothing is skipped,
      -- though jobs listed before may come again.
      local at = redis.call('LPOS', q.ready, after)
      start = at and at + 1 or 0
    end
  end
  walk(start, function(from)
    local ids = redis.call('LRANGE', q.ready, from, from + SCAN_CHUNK - 1)
    local chunk = {}
    for k, id in ipairs(ids) do
      chunk[#chunk + 1] = id
      chunk[#chunk + 1] = tostring(from + k - 1)
    end
    return chunk
  end, JOB_PART)
  return out
end

local key, part, floor = q.failed, FAILED_PART, nil
if state == 'scheduled' then
  key, part, floor = q.delayed, JOB_PART, now
elseif state == 'running' then
  key, part, floor = q.reserved, JOB_PART, now
end
local start, skip = 0, nil
if after ~= '' then
  local score = redis.call('ZSCORE', key, after)
  if score and tonumber(score) == tonumber(after_place) then
    start = redis.call('ZRANK', key, after) + 1
  else
    -- It moved or left: resume at its old score, past what sorts at or before it.
    local cut = tonumber(after_place)
    start = redis.call('ZCOUNT', key, '-inf', '(' .. after_place)
    skip = function(id, place)
      local s = tonumber(place)
      return s < cut or (s == cut and id <= after)
    end
  end
end
if floor then
  -- Only entries due (or held) after now: the others are pending.
  start = math.max(start, redis.call('ZCOUNT', key, '-inf', ms(floor)))
end
walk(start, function(from)
  local chunk = redis.call('ZRANGE', key, from, from + SCAN_CHUNK - 1, 'WITHSCORES')
  for k = 2, #chunk, 2 do
    chunk[k] = ms(tonumber(chunk[k]))
  end
  return chunk
end, part, skip)
return out
