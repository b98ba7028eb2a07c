//! Key names: every key the driver touches is built here, under the configured prefix.
//!
//! All keys of one queue share the hash tag `{q:<queue>}`, so a queue lives in one
//! Redis Cluster slot and each Lua script stays inside it. Scripts get a queue's key
//! base (`<prefix>:{q:<queue>}:`) and name its keys with Lua written from [`DECLARED`]
//! and [`ITEM_PARTS`] below, so Rust and Lua name the keys the same way.
//!
//! The prefix and the queue name are validated before a key is built (letters, digits,
//! `_`, `.` and `-` only), so neither can contain `{`, `}`, `:` or a glob character;
//! user text (unique keys, lock keys, entry kinds) is only ever appended after a fixed
//! part, where it cannot change a queue's slot or reach another key.

use rakit_job_core::{DriverError, Millis, validate_identifier, validate_queue};

/// A queue's structure keys (after its base), in the order every queue script declares
/// them in KEYS: the ready list of ids, oldest first; the delayed set, scored by when a
/// job becomes due (ms); the reserved set, scored by lease deadline (ms); the failed set
/// (failed and cancelled ids), scored by when they left the queue (ms); the signal list of
/// wake-up tokens that blocked workers pop.
const DECLARED: [&str; 5] = ["ready", "delayed", "reserved", "failed", "signal"];

/// The keys of a queue's items: the placeholder scripts write for its part, and what
/// the id (or unique key) is appended to after the queue's base. A job's hash, a failed
/// job's hash, the key naming the job that holds a unique key, a unique key's window
/// (with a PX expiry).
pub(crate) const ITEM_PARTS: [(&str, &str); 4] = [
    ("JOB_PART", "job:"),
    ("FAILED_PART", "failed:"),
    ("UNIQUE_PART", "unique:"),
    ("WINDOW_PART", "window:"),
];

/// The Lua functions naming a queue's structure keys, written from [`DECLARED`]:
/// `this_queue()` (the queue a script runs on: its KEYS and its base in ARGV[1]) and
/// `queue_at(base)` (another queue, by its base; only a single server's scripts use it).
pub(crate) fn lua_queue_keys() -> String {
    let declared: Vec<String> = DECLARED
        .iter()
        .enumerate()
        .map(|(i, part)| format!("{part} = KEYS[{}]", i + 1))
        .collect();
    let built: Vec<String> = DECLARED
        .iter()
        .map(|part| format!("{part} = base .. '{part}'"))
        .collect();
    format!(
        "local function this_queue()\n  return {{ base = ARGV[1], {} }}\nend\n\n\
         local function queue_at(base)\n  return {{ base = base, {} }}\nend\n",
        declared.join(", "),
        built.join(", ")
    )
}

/// The keys of one driver, under its prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`, refused unless it is a valid key prefix.
    pub(crate) fn new(prefix: &str) -> Result<Self, DriverError> {
        validate_identifier(prefix, true)?;
        Ok(Keys {
            prefix: prefix.to_string(),
        })
    }

    /// The prefix, as configured.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The set of every queue name ever pushed to, for `queues()`, `stats()` and listings.
    pub(crate) fn registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// The holders of the lock named `key`: a sorted set of owners scored by when their
    /// hold ends.
    pub(crate) fn lock(&self, key: &str) -> String {
        format!("{}:locks:{key}", self.prefix)
    }

    /// The control entries of `kind`: a hash of key to `<expiry ms or 0> <value>`.
    pub(crate) fn entries(&self, kind: &str) -> String {
        format!("{}:entries:{kind}", self.prefix)
    }

    /// The throughput counts of the minute starting at `minute` (ms): a hash of
    /// `<queue>:done` and `<queue>:failed`. Every minute shares the hash tag
    /// `{throughput}`, so one pipeline reaches all of them on a Cluster too.
    pub(crate) fn throughput(&self, minute: Millis) -> String {
        format!("{}:{{throughput}}:{minute}", self.prefix)
    }

    /// The keys of `queue`, refused unless the name is valid.
    pub(crate) fn queue(&self, queue: &str) -> Result<QueueKeys, DriverError> {
        validate_queue(queue)?;
        Ok(QueueKeys {
            base: format!("{}:{{q:{queue}}}:", self.prefix),
        })
    }
}

/// The keys of one queue; all hash to the same Cluster slot.
#[derive(Clone, Debug)]
pub(crate) struct QueueKeys {
    base: String,
}

impl QueueKeys {
    /// What every key of the queue starts with; scripts build the keys from it.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The queue's five structure keys, in the order every queue script declares them:
    /// ready, delayed, reserved, failed, signal.
    pub(crate) fn declared(&self) -> [String; 5] {
        DECLARED.map(|part| format!("{}{part}", self.base))
    }

    /// The wake-up list blocked workers pop.
    pub(crate) fn signal(&self) -> String {
        self.declared()[4].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of a key Redis Cluster hashes: the text between the first `{` and the next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').expect("key has a hash tag");
        let close = open + key[open..].find('}').expect("hash tag is closed");
        &key[open + 1..close]
    }

    #[test]
    fn every_key_of_a_queue_shares_one_hash_tag() {
        let q = Keys::new("rakit.job").unwrap().queue("emails").unwrap();
        let mut all: Vec<String> = q.declared().to_vec();
        all.extend(ITEM_PARTS.map(|(_, part)| format!("{}{part}x", q.base())));
        all.push(format!("{}unique:}}{{evil}}", q.base()));
        all.push(q.signal());
        for key in &all {
            assert!(key.starts_with("rakit.job:{q:emails}:"), "{key}");
            assert_eq!(hash_tag(key), "q:emails", "{key}");
        }
        assert_eq!(q.declared()[2], "rakit.job:{q:emails}:reserved");
    }

    #[test]
    fn the_lua_helpers_name_the_same_keys() {
        let lua = lua_queue_keys();
        let q = Keys::new("p").unwrap().queue("q").unwrap();
        for (i, key) in q.declared().iter().enumerate() {
            let part = key.strip_prefix(q.base()).unwrap();
            assert!(lua.contains(&format!("{part} = KEYS[{}]", i + 1)), "{lua}");
            assert!(lua.contains(&format!("{part} = base .. '{part}'")), "{lua}");
        }
        assert_eq!(q.signal(), "p:{q:q}:signal");
    }

    #[test]
    fn bad_prefixes_and_queue_names_build_no_key() {
        for bad in ["", "a:b", "a{b}", "a*", "1abc", "a b"] {
            assert!(Keys::new(bad).is_err(), "prefix {bad:?} was accepted");
        }
        let keys = Keys::new("app").unwrap();
        for bad in ["", "a:b", "{x}", "a*", "..", "a b"] {
            assert!(keys.queue(bad).is_err(), "queue {bad:?} was accepted");
        }
    }

    #[test]
    fn user_text_stays_after_a_fixed_part() {
        let keys = Keys::new("app").unwrap();
        assert_eq!(keys.lock("x:*{y}"), "app:locks:x:*{y}");
        assert_eq!(keys.entries("workers"), "app:entries:workers");
        assert_eq!(keys.registry(), "app:queues");
        assert_eq!(hash_tag(&keys.throughput(60_000)), "throughput");
    }
}
