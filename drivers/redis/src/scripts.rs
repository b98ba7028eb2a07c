//! The Lua scripts (in `src/lua/`, their helpers in `lib_*.lua` there): every change to
//! a job is one of these, so each runs atomically, and each touches the keys of one queue
//! only (one Cluster slot). The
//! exceptions are said where they are: on a single server the push and finish scripts
//! also add queues to the registry, and finish stores follow-ups of other queues.
//!
//! Times come from the server's clock (`TIME`), so leases do not depend on the workers'
//! clocks agreeing; only `available_at` (when a scheduled or retried job is due) comes
//! from the client.

use crate::keys::{ITEM_PARTS, lua_queue_keys};
use crate::records::INFO_FIELDS;
use redis::Script;
use std::sync::LazyLock;

/// How many wake-up tokens a queue's signal list keeps; more pushes while no worker
/// waits add nothing, so an idle worker wakes at most this many times for nothing.
const SIGNAL_CAP: usize = 32;

/// How long unused wake-up tokens are kept, in milliseconds.
const SIGNAL_TTL_MS: u64 = 60_000;

/// How many ids one claim (or listing step) moves from `delayed` or `reserved` back to
/// `ready`, so a script never runs for long; the rest move on the next call.
const MOVE_BATCH: usize = 1000;

/// How many entries a listing step reads at a time, and at most in all.
const SCAN_CHUNK: usize = 100;
const SCAN_CAP: usize = 1000;

/// The most jobs one claim script reserves; a larger request calls it again.
pub(crate) const CLAIM_BATCH: usize = 500;

/// The most jobs one push script stores, and the most runs (with their follow-ups) one
/// finish script writes, so no script holds the server for long (and `unpack` stays far
/// below Lua's limit); a bigger batch is several calls in one pipeline.
pub(crate) const WRITE_BATCH: usize = 500;

/// How many failed jobs one failed-store script handles when asked for a whole queue.
pub(crate) const FAILED_BATCH: usize = 500;

/// The helper files scripts include (see lib_base.lua).
const BASE: &str = include_str!("lua/lib_base.lua");
const STORE: &str = include_str!("lua/lib_store.lua");
const LEASES: &str = include_str!("lua/lib_leases.lua");
const PROMOTE: &str = include_str!("lua/lib_promote.lua");
const INFO: &str = include_str!("lua/lib_info.lua");
const ENTRIES: &str = include_str!("lua/lib_entries.lua");

/// Every script, compiled once per process.
pub(crate) struct Scripts {
    pub(crate) push: Script,
    pub(crate) claim: Script,
    pub(crate) extend: Script,
    pub(crate) finish: Script,
    pub(crate) cancel: Script,
    pub(crate) show: Script,
    pub(crate) list: Script,
    pub(crate) stats: Script,
    pub(crate) retry_failed: Script,
    pub(crate) forget_failed: Script,
    pub(crate) lock: Script,
    pub(crate) put_entry: Script,
    pub(crate) entries: Script,
    pub(crate) entry: Script,
    pub(crate) swap_entry: Script,
}

/// The placeholders scripts use, and what fills each.
fn placeholders() -> Vec<(&'static str, String)> {
    let fields: Vec<String> = INFO_FIELDS.iter().map(|f| format!("'{f}'")).collect();
    let mut all = vec![
        ("QUEUE_KEYS", lua_queue_keys()),
        ("INFO_FIELD_LIST", fields.join(", ")),
        ("SIGNAL_CAP", SIGNAL_CAP.to_string()),
        ("SIGNAL_TTL_MS", SIGNAL_TTL_MS.to_string()),
        ("MOVE_BATCH", MOVE_BATCH.to_string()),
        ("SCAN_CHUNK", SCAN_CHUNK.to_string()),
        ("SCAN_CAP", SCAN_CAP.to_string()),
        ("FAILED_BATCH", FAILED_BATCH.to_string()),
    ];
    all.extend(ITEM_PARTS.map(|(name, part)| (name, format!("'{part}'"))));
    all
}

/// The source of a script: the base helpers, the helper files it uses, then `body`, with
/// the placeholders filled in.
fn source(helpers: &[&str], body: &str) -> String {
    let mut lua = BASE.to_string();
    for helper in helpers {
        lua.push('\n');
        lua.push_str(helper);
    }
    lua.push('\n');
    lua.push_str(body);
    for (name, value) in placeholders() {
        lua = lua.replace(name, &value);
    }
    lua
}

/// The scripts, compiled once per process.
pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |helpers: &[&str], body: &str| Script::new(&source(helpers, body));
    Scripts {
        push: script(&[STORE], include_str!("lua/push.lua")),
        claim: script(&[PROMOTE], include_str!("lua/claim.lua")),
        extend: script(&[LEASES], include_str!("lua/extend.lua")),
        finish: script(&[STORE, LEASES], include_str!("lua/finish.lua")),
        cancel: script(&[LEASES], include_str!("lua/cancel.lua")),
        show: script(&[INFO], include_str!("lua/show.lua")),
        list: script(&[PROMOTE, INFO], include_str!("lua/list.lua")),
        stats: script(&[], include_str!("lua/stats.lua")),
        retry_failed: script(&[STORE], include_str!("lua/retry_failed.lua")),
        forget_failed: script(&[], include_str!("lua/forget_failed.lua")),
        lock: script(&[], include_str!("lua/lock.lua")),
        put_entry: script(&[ENTRIES], include_str!("lua/put_entry.lua")),
        entries: script(&[ENTRIES], include_str!("lua/entries.lua")),
        entry: script(&[ENTRIES], include_str!("lua/entry.lua")),
        swap_entry: script(&[ENTRIES], include_str!("lua/swap_entry.lua")),
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let helpers = [STORE, LEASES, PROMOTE, INFO, ENTRIES];
        let lua = source(&helpers, include_str!("lua/list.lua"));
        for (name, _) in placeholders() {
            assert!(!lua.contains(name), "{name} was left in a script");
        }
        assert!(lua.contains("local function this_queue()"));
        assert!(lua.contains("q.base .. 'job:' .. id"));
        assert!(!source(&[], "return 1").contains("INFO_FIELDS"));
    }
}
