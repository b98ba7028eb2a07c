//! The earliest due job names of each queue, read once and claimed over several calls.
//!
//! On a long backlog, reading a queue folder's names is most of a claim's cost (ext4
//! hashes every name of the folder on each read), while a claim takes a few hundred jobs
//! at most. So a read keeps the earliest [`KEEP`] due names and the next claims take from
//! them, in order, until they run out.
//!
//! The order holds: every kept name was due when the folder was read, and a job stored or
//! coming due after the read is due later than that, so it sorts after them all. Two
//! things can be due earlier than a kept name and not be kept: a job this process stores
//! with a due time in the past, which drops the queue's names ([`DueNames::stored`]), and
//! a job another process stores so, or a lease that ran out, which waits at most
//! [`FRESH_FOR`], when the names are read again anyway. A kept name another worker took
//! meanwhile costs one failed rename.

use crate::files::Folder;
use crate::fsio::Name;
use rakit_job_core::Millis;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many due names a read keeps per queue.
pub(crate) const KEEP: usize = 2_048;
/// How long kept names are used before the folder is read again.
const FRESH_FOR: Duration = Duration::from_millis(500);

/// A due name read from a queue: its folder, the name, its due time.
pub(crate) type DueName = (Folder, Name, Millis);

/// The due names kept per queue, shared by the claims of one store.
#[derive(Default)]
pub(crate) struct DueNames {
    queues: Mutex<HashMap<String, Kept>>,
}

/// One queue's kept names, earliest first.
struct Kept {
    read_at: Instant,
    names: VecDeque<(Folder, Name)>,
    /// The due time of the last kept name.
    last: Millis,
}

impl DueNames {
    /// The next kept name of `queue`, unless there is none or they are too old.
    pub(crate) fn next(&self, queue: &str) -> Option<(Folder, Name)> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let kept = queues.get_mut(queue)?;
        let next = match kept.read_at.elapsed() < FRESH_FOR {
            true => kept.names.pop_front(),
            false => None,
        };
        if next.is_none() {
            queues.remove(queue);
        }
        next
    }

    /// Keeps `names`, just read from `queue`'s folders, earliest first, with their due times.
    pub(crate) fn keep(&self, queue: &str, names: Vec<DueName>) {
        let Some(last) = names.last().map(|n| n.2) else {
            return;
        };
        let kept = Kept {
            read_at: Instant::now(),
            names: names.into_iter().map(|(f, n, _)| (f, n)).collect(),
            last,
        };
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues.insert(queue.to_string(), kept);
    }

    /// Notes that a job of `queue` became due at `due`: kept names due later than it
    /// would be claimed first, so they are dropped.
    pub(crate) fn stored(&self, queue: &str, due: Millis) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if queues.get(queue).is_some_and(|kept| due < kept.last) {
            queues.remove(queue);
        }
    }

    /// Drops every kept name: jobs came back in bulk (a retry of failed jobs).
    pub(crate) fn forget(&self) {
        self.queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
