//! Where everything lives under the root folder, and how job files are named.
//!
//! ```text
//! <root>/queues/<queue>/ready/<available_at>-<id>-<attempts>.job
//! <root>/queues/<queue>/reserved/<deadline>-<id>-<attempts>-<token>.job
//! <root>/failed/<queue>/<id>.json
//! <root>/locks/<hash of key>/<until>-<hash of owner>
//! <root>/unique/<hash of key>/<claimed_at>-<id>-<p|l>
//! <root>/corrupt/...
//! ```
//!
//! Times are zero-padded milliseconds, so sorting names sorts by due time, then by id
//! (UUIDv7, time-ordered), which is first-in first-out. The attempt count and the lease
//! token live in the name because a rename is the only atomic step a folder offers: a
//! claim renames a ready file to a reserved name carrying the new deadline, token and
//! attempt count, and only one process's rename of a given name can succeed.
//! Names starting with `.` are files being written and are never read as jobs.

use rakit_job_core::{JobId, Millis};
use std::path::{Path, PathBuf};

/// Width of a zero-padded time in a file name (`i64::MAX` has 19 digits).
const TIME_WIDTH: usize = 20;
/// Length of a hyphenated UUID.
const ID_WIDTH: usize = 36;
/// Length of the `<time>-<id>` start of every job file name, which orders jobs.
pub(crate) const DUE_KEY_LEN: usize = TIME_WIDTH + 1 + ID_WIDTH;
/// The extension of job files in the queue folders.
pub(crate) const JOB_EXT: &str = ".job";

/// The folders of one store.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Layout { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn queues(&self) -> PathBuf {
        self.root.join("queues")
    }

    pub(crate) fn ready(&self, queue: &str) -> PathBuf {
        self.queues().join(queue).join("ready")
    }

    pub(crate) fn reserved(&self, queue: &str) -> PathBuf {
        self.queues().join(queue).join("reserved")
    }

    pub(crate) fn failed_root(&self) -> PathBuf {
        self.root.join("failed")
    }

    pub(crate) fn failed(&self, queue: &str) -> PathBuf {
        self.failed_root().join(queue)
    }

    pub(crate) fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub(crate) fn unique(&self) -> PathBuf {
        self.root.join("unique")
    }

    pub(crate) fn corrupt(&self) -> PathBuf {
        self.root.join("corrupt")
    }

    /// The folders `open` creates.
    pub(crate) fn fixed_folders(&self) -> [PathBuf; 5] {
        [
            self.queues(),
            self.failed_root(),
            self.locks(),
            self.unique(),
            self.corrupt(),
        ]
    }
}

/// What a job file's name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobName {
    /// When it is due (ready) or when its lease ends (reserved).
    pub(crate) time: Millis,
    pub(crate) id: JobId,
    /// Reservations so far, this one included when reserved.
    pub(crate) attempts: u32,
    /// The lease token, for reserved files only.
    pub(crate) token: Option<u64>,
}

impl JobName {
    pub(crate) fn ready(time: Millis, id: JobId, attempts: u32) -> Self {
        JobName {
            time,
            id,
            attempts,
            token: None,
        }
    }

    pub(crate) fn reserved(time: Millis, id: JobId, attempts: u32, token: u64) -> Self {
        JobName {
            time,
            id,
            attempts,
            token: Some(token),
        }
    }

    /// The name a claim renames this file to: a new deadline and token, one attempt more.
    pub(crate) fn claimed(&self, deadline: Millis, token: u64) -> Self {
        // Saturating: a name claiming u32::MAX attempts must not wrap to a fresh job.
        JobName::reserved(
            deadline,
            self.id.clone(),
            self.attempts.saturating_add(1),
            token,
        )
    }

    /// The file name, e.g. `00000001712345678901-0192…-1.job`.
    pub(crate) fn file_name(&self) -> String {
        let time = self.time.max(0);
        match self.token {
            None => format!("{time:0TIME_WIDTH$}-{}-{}{JOB_EXT}", self.id, self.attempts),
            Some(token) => format!(
                "{time:0TIME_WIDTH$}-{}-{}-{token}{JOB_EXT}",
                self.id, self.attempts
            ),
        }
    }

    /// Reads a name written by [`JobName::file_name`]; `None` for anything else.
    pub(crate) fn parse(name: &str) -> Option<JobName> {
        let stem = name.strip_suffix(JOB_EXT)?;
        let time_part = stem.get(..TIME_WIDTH)?;
        if !time_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let time: Millis = time_part.parse().ok()?;
        let rest = stem.get(TIME_WIDTH..)?.strip_prefix('-')?;
        let id_part = rest.get(..ID_WIDTH)?;
        let id = JobId::parse(id_part).ok()?;
        if id.as_str() != id_part {
            return None;
        }
        let mut tail = rest.get(ID_WIDTH..)?.strip_prefix('-')?.split('-');
        let attempts = digits(tail.next()?)?;
        let token = match tail.next() {
            Some(t) => Some(digits(t)?),
            None => None,
        };
        if tail.next().is_some() {
            return None;
        }
        Some(JobName {
            time,
            id,
            attempts,
            token,
        })
    }
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A fixed-length, file-name-safe stand-in for user text such as a lock key or owner.
///
/// It is a name-based UUID (SHA-1 of the text), so the same text gives the same name in
/// every process and every version, and different texts do not collide in practice.
pub(crate) fn hashed(text: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5f0c_2a8e_91d4_4b7e_a3c6_7d1e_2f9b_8c40);
    uuid::Uuid::new_v5(&NAMESPACE, text.as_bytes())
        .simple()
        .to_string()
}

/// A zero-padded time, as used at the start of every state file name.
pub(crate) fn padded_time(time: Millis) -> String {
    format!("{:0TIME_WIDTH$}", time.max(0))
}

/// Reads a zero-padded time written by [`padded_time`] from the start of `s`.
pub(crate) fn leading_time(s: &str) -> Option<(Millis, &str)> {
    let part = s.get(..TIME_WIDTH)?;
    Some((digits(part)?, s.get(TIME_WIDTH..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_time_then_id() {
        let a = JobName::ready(5, JobId::generate(), 0);
        let b = JobName::ready(5, JobId::generate(), 3);
        let c = JobName::ready(40, JobId::generate(), 0);
        for n in [&a, &b, &c] {
            assert_eq!(JobName::parse(&n.file_name()).as_ref(), Some(n));
        }
        let mut names = [c.file_name(), b.file_name(), a.file_name()];
        names.sort();
        assert_eq!(names, [a.file_name(), b.file_name(), c.file_name()]);
        let r = JobName::reserved(99, JobId::generate(), 2, u64::MAX >> 1);
        assert_eq!(JobName::parse(&r.file_name()), Some(r));
    }

    #[test]
    fn foreign_names_are_not_jobs() {
        for bad in [
            "",
            "x.job",
            ".tmp-1",
            "00000000000000000001-nope-0.job",
            "00000000000000000001-0.job",
        ] {
            assert_eq!(JobName::parse(bad), None, "{bad:?}");
        }
        let id = JobId::generate();
        assert_eq!(JobName::parse(&format!("{:020}-{id}-1-2-3.job", 1)), None);
        assert_eq!(JobName::parse(&format!("{:020}-{id}-+1.job", 1)), None);
    }

    #[test]
    fn hashed_names_are_stable_and_distinct() {
        assert_eq!(hashed("report"), hashed("report"));
        assert_ne!(hashed("report"), hashed("Report"));
        assert_eq!(hashed(&"x".repeat(10_000)).len(), 32);
    }
}
