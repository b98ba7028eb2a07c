-- The live control entries of a kind. KEYS: the kind's hash (see put_entry.lua).
-- Returns key, value pairs; expired entries are deleted, never returned.
return live_entries(KEYS[1], server_now())
