//! The Lua scripts: every change to a job is one of these, so each runs atomically.
//!
//! Each script touches the keys of one queue only (one Cluster slot), except that on a
//! single server the push script also adds the queue to the registry. Job hashes are
//! named from a key prefix passed in ARGV plus the id; they carry the queue's hash tag,
//! so they live in the same slot as the keys declared in KEYS. Times come from the
//! server's clock (`TIME`), so leases do not depend on the workers' clocks agreeing;
//! only `available_at` (when a scheduled or retried job is due) comes from the client.

use redis::Script;
use std::sync::LazyLock;

/// How many wake-up tokens a queue's signal list keeps; more pushes while no worker
/// waits add nothing, so an idle worker wakes at most this many times for nothing.
pub(crate) const SIGNAL_CAP: usize = 32;

/// How long unused wake-up tokens are kept, in milliseconds.
pub(crate) const SIGNAL_TTL_MS: u64 = 60_000;

/// How many ids one claim moves from `delayed` or `reserved` back to `ready`, so a
/// script never runs for long; the rest move on the next claim.
pub(crate) const MOVE_BATCH: usize = 1000;

/// The most jobs one claim script reserves; a larger request calls it again.
pub(crate) const CLAIM_BATCH: usize = 500;

/// The most jobs one push script stores, so no script holds the server for long (and
/// `unpack` stays far below Lua's limit); a bigger batch is several calls in one pipeline.
pub(crate) const PUSH_BATCH: usize = 500;

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ms(n)
  return string.format('%.0f', n)
end

local function held(job, reserved, id, token)
  return redis.call('HGET', job, 'token') == token and redis.call('ZSCORE', reserved, id) ~= false
end

local function wake(signal)
  redis.call('LPUSH', signal, '1')
  redis.call('LTRIM', signal, 0, SIGNAL_CAP - 1)
  redis.call('PEXPIRE', signal, SIGNAL_TTL_MS)
end

local function enqueue(ready, delayed, signal, id, at, now)
  if at <= now then
    redis.call('RPUSH', ready, id)
    wake(signal)
  else
    redis.call('ZADD', delayed, ms(at), id)
  end
end

local function free_unique(job, unique_prefix, id)
  local key = redis.call('HGET', job, 'unique_key')
  if key then
    local claimed = unique_prefix .. key
    if redis.call('GET', claimed) == id then
      redis.call('DEL', claimed)
    end
  end
end
"#;

/// Stores a batch of jobs of one queue. KEYS: ready, delayed, signal, [queue registry].
/// ARGV: job key prefix, unique key prefix, queue name, then per job: id, available_at, whether it
/// has a unique key ('1' or '0'), the unique key, the number n of hash arguments, then
/// the hash's n field/value arguments. Returns per job 1 stored, 0 duplicate unique
/// key, -1 id already stored. Ready jobs join the list in batch order; one wake-up.
const PUSH: &str = r#"
local job_prefix, unique_prefix = ARGV[1], ARGV[2]
if KEYS[4] then
  redis.call('SADD', KEYS[4], ARGV[3])
end
local now = server_now()
local out, ready = {}, {}
local i = 4
while i <= #ARGV do
  local id, at, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 4])
  local job = job_prefix .. id
  if redis.call('EXISTS', job) == 1 then
    out[#out + 1] = -1
  elseif ARGV[i + 2] == '1' and not redis.call('SET', unique_prefix .. ARGV[i + 3], id, 'NX') then
    out[#out + 1] = 0
  else
    redis.call('HSET', job, unpack(ARGV, i + 5, i + 4 + n))
    if at <= now then
      ready[#ready + 1] = id
    else
      redis.call('ZADD', KEYS[2], ms(at), id)
    end
    out[#out + 1] = 1
  end
  i = i + 5 + n
end
if #ready > 0 then
  redis.call('RPUSH', KEYS[1], unpack(ready))
  wake(KEYS[3])
end
return out
"#;

/// Claims up to `limit` jobs of one queue. KEYS: ready, delayed, reserved.
/// ARGV: lease_ms, job key prefix, name filter flag ('1' or '0'), name, then one lease
/// token per job wanted. Returns the ms until the queue's next scheduled or leased job
/// is due (or nil), then per job: id, token, name, queue, payload, attempts,
/// created_at, overlap_key, unique_key, last_error.
const CLAIM: &str = r#"
local now = server_now()
local deadline = ms(now + tonumber(ARGV[1]))
local job_prefix = ARGV[2]
local limit = #ARGV - 4

-- Scheduled jobs now due join the ready list, oldest first.
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ms(now), 'LIMIT', 0, MOVE_BATCH)
if #due > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #due - 1)
  redis.call('RPUSH', KEYS[1], unpack(due))
end

-- Jobs whose lease ran out (their worker died) are rescued the same way.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ms(now), 'LIMIT', 0, MOVE_BATCH)
if #expired > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, #expired - 1)
  redis.call('RPUSH', KEYS[1], unpack(expired))
end

local ids
if ARGV[3] == '1' then
  -- Only jobs of one name: walk the ready list (job:run NAME is rare).
  ids = {}
  local len = redis.call('LLEN', KEYS[1])
  local from = 0
  while from < len and #ids < limit do
    local chunk = redis.call('LRANGE', KEYS[1], from, from + 499)
    for _, id in ipairs(chunk) do
      if #ids < limit and redis.call('HGET', job_prefix .. id, 'name') == ARGV[4] then
        ids[#ids + 1] = id
      end
    end
    from = from + 500
  end
  for _, id in ipairs(ids) do
    redis.call('LREM', KEYS[1], 1, id)
  end
else
  ids = redis.call('LPOP', KEYS[1], limit) or {}
end

local out = { false }
for i, id in ipairs(ids) do
  local job = job_prefix .. id
  if redis.call('EXISTS', job) == 1 then
    local token = ARGV[4 + i]
    redis.call('HINCRBY', job, 'attempts', 1)
    redis.call('HSET', job, 'token', token)
    redis.call('ZADD', KEYS[3], deadline, id)
    local f = redis.call('HMGET', job, 'name', 'queue', 'payload', 'attempts', 'created_at',
      'overlap_key', 'unique_key', 'last_error')
    out[#out + 1] = id
    out[#out + 1] = token
    for j = 1, 8 do
      out[#out + 1] = f[j]
    end
  end
end

-- When this queue next needs a look: its first scheduled job or lease deadline.
local next_due = nil
for _, key in ipairs({ KEYS[2], KEYS[3] }) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first == 2 then
    local at = tonumber(first[2])
    if next_due == nil or at < next_due then
      next_due = at
    end
  end
end
if next_due ~= nil then
  out[1] = ms(math.max(next_due - now, 0))
end
return out
"#;

/// Moves a held lease's deadline. KEYS: job hash, reserved. ARGV: id, token, lease_ms.
const EXTEND: &str = r#"
if not held(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[2], ms(server_now() + tonumber(ARGV[3])), ARGV[1])
return 1
"#;

/// Deletes a finished job. KEYS: job hash, reserved. ARGV: id, token, unique prefix.
const ACK: &str = r#"
if not held(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) then
  return 0
end
free_unique(KEYS[1], ARGV[3], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"#;

/// Puts a held job back to wait until available_at. KEYS: job hash, reserved, ready,
/// delayed, signal. ARGV: id, token, available_at, mode ('retry' or 'release'), error.
/// A retry records the error; a release gives back the attempt.
const REQUEUE: &str = r#"
local id = ARGV[1]
if not held(KEYS[1], KEYS[2], id, ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[1], 'token')
if ARGV[4] == 'retry' then
  redis.call('HSET', KEYS[1], 'last_error', ARGV[5])
elseif tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
enqueue(KEYS[3], KEYS[4], KEYS[5], id, tonumber(ARGV[3]), server_now())
return 1
"#;

/// Moves a held job to the failed store. KEYS: job hash, reserved, failed set, failed
/// hash. ARGV: id, token, error, unique prefix.
const FAIL: &str = r#"
local id = ARGV[1]
if not held(KEYS[1], KEYS[2], id, ARGV[2]) then
  return 0
end
local now = server_now()
free_unique(KEYS[1], ARGV[4], id)
redis.call('ZREM', KEYS[2], id)
redis.call('RENAME', KEYS[1], KEYS[4])
redis.call('HDEL', KEYS[4], 'token', 'unique_key', 'last_error')
redis.call('HSET', KEYS[4], 'error', ARGV[3], 'failed_at', ms(now))
redis.call('ZADD', KEYS[3], ms(now), id)
return 1
"#;

/// Puts a failed job back on its queue, ready now with no attempts. KEYS: failed set,
/// failed hash, job hash, ready, signal. ARGV: id.
const RETRY_FAILED: &str = r#"
local id = ARGV[1]
if redis.call('ZREM', KEYS[1], id) == 0 then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('RENAME', KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[3], 'error', 'failed_at')
redis.call('HSET', KEYS[3], 'attempts', '0')
redis.call('RPUSH', KEYS[4], id)
wake(KEYS[5])
return 1
"#;

/// Deletes one failed job. KEYS: failed set, failed hash. ARGV: id.
const FORGET_FAILED: &str = r#"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('DEL', KEYS[2])
return 1
"#;

/// Deletes up to one batch of a queue's failed jobs. KEYS: failed set.
/// ARGV: failed hash prefix. Returns how many it deleted.
const FLUSH_FAILED: &str = r#"
local ids = redis.call('ZRANGE', KEYS[1], 0, 499)
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. id)
end
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return #ids
"#;

/// Counts a queue's jobs per state. KEYS: ready, delayed, reserved, failed.
/// Returns ready (with due scheduled and expired leases), scheduled, reserved, failed.
const STATS: &str = r#"
local now = ms(server_now())
local ready = redis.call('LLEN', KEYS[1]) + redis.call('ZCOUNT', KEYS[2], '-inf', now)
  + redis.call('ZCOUNT', KEYS[3], '-inf', now)
local scheduled = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
local reserved = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf')
return { ready, scheduled, reserved, redis.call('ZCARD', KEYS[4]) }
"#;

/// Takes or renews a lock. KEYS: lock. ARGV: owner, ttl_ms. Returns 1 when held.
const LOCK: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"#;

/// Frees a lock if its owner asks. KEYS: lock. ARGV: owner.
const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// Every script, compiled once per process.
pub(crate) struct Scripts {
    pub(crate) push: Script,
    pub(crate) claim: Script,
    pub(crate) extend: Script,
    pub(crate) ack: Script,
    pub(crate) requeue: Script,
    pub(crate) fail: Script,
    pub(crate) retry_failed: Script,
    pub(crate) forget_failed: Script,
    pub(crate) flush_failed: Script,
    pub(crate) stats: Script,
    pub(crate) lock: Script,
    pub(crate) unlock: Script,
}

/// The scripts, with the prelude and its constants in front of each.
pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let prelude = PRELUDE
        .replace("SIGNAL_CAP", &SIGNAL_CAP.to_string())
        .replace("SIGNAL_TTL_MS", &SIGNAL_TTL_MS.to_string());
    let script = |body: &str| {
        Script::new(&format!(
            "{prelude}{}",
            body.replace("MOVE_BATCH", &MOVE_BATCH.to_string())
        ))
    };
    Scripts {
        push: script(PUSH),
        claim: script(CLAIM),
        extend: script(EXTEND),
        ack: script(ACK),
        requeue: script(REQUEUE),
        fail: script(FAIL),
        retry_failed: script(RETRY_FAILED),
        forget_failed: script(FORGET_FAILED),
        flush_failed: script(FLUSH_FAILED),
        stats: script(STATS),
        lock: script(LOCK),
        unlock: script(UNLOCK),
    }
});
