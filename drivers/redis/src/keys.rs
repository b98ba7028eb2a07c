//! Key names: every key the driver touches is built here, under the configured prefix.
//!
//! All keys of one queue share the hash tag `{q:<queue>}`, so a queue lives in one
//! Redis Cluster slot and each Lua script stays inside it. The prefix and the queue
//! name are validated before a key is built (letters, digits, `_`, `.` and `-` only),
//! so neither can contain `{`, `}`, `:` or a glob character; user text (unique keys,
//! lock keys) is only ever appended after a fixed part, where it cannot change the
//! slot or reach another key.

use rakit_job_core::{DriverError, validate_identifier, validate_queue};

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

    /// The set of every queue name ever pushed to, for `queues()` and `stats()`.
    pub(crate) fn registry(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// The no-overlap lock named `key`.
    pub(crate) fn lock(&self, key: &str) -> String {
        format!("{}:lock:{key}", self.prefix)
    }

    /// The keys of `queue`, refused unless the name is valid.
    pub(crate) fn queue(&self, queue: &str) -> Result<QueueKeys, DriverError> {
        validate_queue(queue)?;
        Ok(QueueKeys {
            base: format!("{}:{{q:{queue}}}", self.prefix),
        })
    }
}

/// The keys of one queue; all hash to the same Cluster slot.
#[derive(Clone, Debug)]
pub(crate) struct QueueKeys {
    base: String,
}

impl QueueKeys {
    /// List of ids ready to run, oldest first.
    pub(crate) fn ready(&self) -> String {
        format!("{}:ready", self.base)
    }

    /// Sorted set of ids waiting for their time, scored by when they become due (ms).
    pub(crate) fn delayed(&self) -> String {
        format!("{}:delayed", self.base)
    }

    /// Sorted set of leased ids, scored by lease deadline (ms).
    pub(crate) fn reserved(&self) -> String {
        format!("{}:reserved", self.base)
    }

    /// Sorted set of failed ids, scored by when they failed (ms).
    pub(crate) fn failed(&self) -> String {
        format!("{}:failed", self.base)
    }

    /// Short list of wake-up tokens that blocked workers pop.
    pub(crate) fn signal(&self) -> String {
        format!("{}:signal", self.base)
    }

    /// What a job id is appended to for its hash.
    pub(crate) fn job_prefix(&self) -> String {
        format!("{}:job:", self.base)
    }

    /// What a failed job id is appended to for its hash.
    pub(crate) fn failed_prefix(&self) -> String {
        format!("{}:failed:", self.base)
    }

    /// What a unique key is appended to for the key that claims it.
    pub(crate) fn unique_prefix(&self) -> String {
        format!("{}:unique:", self.base)
    }

    /// The hash of a stored job.
    pub(crate) fn job(&self, id: &str) -> String {
        format!("{}{id}", self.job_prefix())
    }

    /// The hash of a failed job.
    pub(crate) fn failed_job(&self, id: &str) -> String {
        format!("{}{id}", self.failed_prefix())
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
        let all = [
            q.ready(),
            q.delayed(),
            q.reserved(),
            q.failed(),
            q.signal(),
            q.job("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e"),
            q.failed_job("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e"),
            format!("{}}}{{evil}}", q.unique_prefix()),
        ];
        for key in &all {
            assert!(key.starts_with("rakit.job:{q:emails}:"), "{key}");
            assert_eq!(hash_tag(key), "q:emails", "{key}");
        }
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
        assert_eq!(keys.lock("x:*{y}"), "app:lock:x:*{y}");
        assert_eq!(keys.registry(), "app:queues");
    }
}
