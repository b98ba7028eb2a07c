-- Sets a control entry, with no expiry, only if its live value is the one expected.
-- KEYS: the kind's hash (see put_entry.lua). ARGV: key, '1' when a value is expected
-- ('0': only when there is none), the value expected, the new value. Returns 1 when set.
local live = live_value(KEYS[1], ARGV[1], server_now())
local expected = nil
if ARGV[2] == '1' then
  expected = ARGV[3]
end
if live ~= expected then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], '0 ' .. ARGV[4])
return 1
