-- One live control entry. KEYS: the kind's hash (see put_entry.lua). ARGV: key.
-- Returns its value, or nil.
return live_value(KEYS[1], ARGV[1], server_now())
