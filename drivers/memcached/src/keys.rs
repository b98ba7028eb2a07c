//! Key names. Every key starts with the configured prefix, so several applications (or
//! tests) can share one server. User text (lock keys, unique keys, entry kinds and keys)
//! is hashed, so a key is always short and free of the spaces and control characters
//! memcached refuses.
//!
//! ```text
//! <prefix>:job:<id>                   a job's record (its state, lease, attempts, error)
//! <prefix>:q:<queue>:tail|head        counters bounding the queue's index
//! <prefix>:q:<queue>:<n>              index slot n: the id of one job
//! <prefix>:failed:tail|head|<n>       the failed jobs' index, same shape
//! <prefix>:queues                     the names of the queues ever used
//! <prefix>:lock:<hash>                a capacity lock: its holders
//! <prefix>:unique:<hash>              a unique key: the id of the job holding it
//! <prefix>:window:<hash>              a unique window: until when, and for which job
//! <prefix>:entries:<hash>             the keys of one kind of control entry
//! <prefix>:entry:<hash>:<hash>        one control entry
//! <prefix>:tp:queues                  the queues with throughput counts
//! <prefix>:tp:<minute>:<queue>:done|failed   one minute's counts of one queue
//! ```

use rakit_job_core::{JobId, Millis};

/// The key builder of one store.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_string(),
        }
    }

    pub(crate) fn job(&self, id: &str) -> String {
        format!("{}:job:{id}", self.prefix)
    }

    pub(crate) fn job_of(&self, id: &JobId) -> String {
        self.job(id.as_str())
    }

    /// The start of the keys of a queue's index.
    pub(crate) fn queue_index(&self, queue: &str) -> String {
        format!("{}:q:{queue}", self.prefix)
    }

    pub(crate) fn failed_index(&self) -> String {
        format!("{}:failed", self.prefix)
    }

    pub(crate) fn queues(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    pub(crate) fn lock(&self, key: &str) -> String {
        format!("{}:lock:{}", self.prefix, hashed(key))
    }

    pub(crate) fn unique(&self, key: &str) -> String {
        format!("{}:unique:{}", self.prefix, hashed(key))
    }

    pub(crate) fn window(&self, key: &str) -> String {
        format!("{}:window:{}", self.prefix, hashed(key))
    }

    pub(crate) fn entry_list(&self, kind: &str) -> String {
        format!("{}:entries:{}", self.prefix, hashed(kind))
    }

    pub(crate) fn entry(&self, kind: &str, key: &str) -> String {
        format!("{}:entry:{}:{}", self.prefix, hashed(kind), hashed(key))
    }

    pub(crate) fn throughput_queues(&self) -> String {
        format!("{}:tp:queues", self.prefix)
    }

    /// One count (`done` or `failed`) of one queue in one minute.
    pub(crate) fn throughput(&self, minute: Millis, queue: &str, count: &str) -> String {
        format!("{}:tp:{minute}:{queue}:{count}", self.prefix)
    }
}

/// A fixed-length stand-in for user text: a name-based UUID (SHA-1), the same in every
/// process and version.
fn hashed(text: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2b7d_90e1_5c3a_4f68_b1d2_0e9c_7a45_61f3);
    uuid::Uuid::new_v5(&NAMESPACE, text.as_bytes())
        .simple()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_short_and_plain_whatever_the_user_text() {
        let keys = Keys::new(&"p".repeat(64));
        let text = "a key with spaces\nand lines ".repeat(100);
        for key in [
            keys.lock(&text),
            keys.unique(&text),
            keys.window(&text),
            keys.entry(&text, &text),
            keys.throughput(i64::MAX, &"q".repeat(64), "failed"),
        ] {
            assert!(key.len() < 250, "{key}");
            assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key}");
        }
        assert_ne!(keys.lock("a"), keys.unique("a"));
        assert_ne!(keys.unique("a"), keys.window("a"));
        assert_ne!(keys.lock("a"), keys.lock("b"));
        let longest_slot = format!("{}:{}", keys.queue_index(&"q".repeat(64)), u64::MAX);
        assert!(longest_slot.len() < 250);
    }
}
