//! Where everything lives under the root folder, and how its files are named.
//!
//! ```text
//! <root>/queues/<queue>/ready/<due>-<id>-<attempts><flags>.job
//! <root>/queues/<queue>/reserved/<deadline>-<id>-<attempts><flags>-<token>-<worker>.job
//! <root>/failed/<queue>/<id>-<failed_at>-<attempts><flags>.job
//! <root>/errors/<id>                  the last error of a job that has one
//! <root>/cancels/<id>                 a cancel asked while the job ran
//! <root>/journal/<id>-<token>/        the follow-ups of an ack being stored
//! <root>/locks/<hash of key>/<slot>/<until>-<hash of owner>
//! <root>/unique/<hash of key>/<claimed_at>-<id>-<p|l>
//! <root>/windows/<hash of key>/<until>-<id>
//! <root>/entries/<hash of kind>/<hash of key>
//! <root>/throughput/<minute>-<queue>/<done>-<failed>
//! <root>/corrupt/...
//! ```
//!
//! Times are zero-padded milliseconds, so sorting queue file names sorts by due time, then
//! by id (UUIDv7, time-ordered): first in, first out. Failed names start with the id, so
//! they sort by dispatch. What changes on every step (attempts, lease token, holder, the
//! flags) lives in the name because a rename is the only atomic step a folder offers: a
//! claim renames a ready file to a reserved name, and only one process's rename of a given
//! name succeeds. The flags are `c` (cancelled, in the failed folder), `e` (an error file
//! exists) and `u` (the job holds its unique key). Names starting with `.` are files being
//! written and are never read as jobs.

use rakit_job_core::{JobId, Millis};
use std::path::{Path, PathBuf};

/// Width of a zero-padded time in a file name (`i64::MAX` has 19 digits).
const TIME_WIDTH: usize = 20;
/// Length of a hyphenated UUID.
const ID_WIDTH: usize = 36;
/// Length of the `<time>-<id>` start of every queue file name, which orders jobs.
pub(crate) const DUE_KEY_LEN: usize = TIME_WIDTH + 1 + ID_WIDTH;
/// The extension of job files.
pub(crate) const JOB_EXT: &str = ".job";
/// The longest worker name kept in a reserved file name (file names end at 255 bytes).
const MAX_WORKER_BYTES: usize = 120;

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

    pub(crate) fn queue(&self, queue: &str) -> PathBuf {
        self.queues().join(queue)
    }

    pub(crate) fn ready(&self, queue: &str) -> PathBuf {
        self.queue(queue).join("ready")
    }

    pub(crate) fn reserved(&self, queue: &str) -> PathBuf {
        self.queue(queue).join("reserved")
    }

    pub(crate) fn failed_root(&self) -> PathBuf {
        self.root.join("failed")
    }

    pub(crate) fn failed(&self, queue: &str) -> PathBuf {
        self.failed_root().join(queue)
    }

    pub(crate) fn errors(&self) -> PathBuf {
        self.root.join("errors")
    }

    pub(crate) fn cancels(&self) -> PathBuf {
        self.root.join("cancels")
    }

    pub(crate) fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    pub(crate) fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub(crate) fn unique(&self) -> PathBuf {
        self.root.join("unique")
    }

    pub(crate) fn windows(&self) -> PathBuf {
        self.root.join("windows")
    }

    pub(crate) fn entries(&self) -> PathBuf {
        self.root.join("entries")
    }

    pub(crate) fn throughput(&self) -> PathBuf {
        self.root.join("throughput")
    }

    pub(crate) fn corrupt(&self) -> PathBuf {
        self.root.join("corrupt")
    }

    pub(crate) fn done(&self) -> PathBuf {
        self.root.join("done")
    }

    /// The folders `open` creates.
    pub(crate) fn fixed_folders(&self) -> [PathBuf; 12] {
        [
            self.queues(),
            self.failed_root(),
            self.errors(),
            self.cancels(),
            self.journal(),
            self.locks(),
            self.unique(),
            self.windows(),
            self.entries(),
            self.throughput(),
            self.corrupt(),
            self.done(),
        ]
    }
}

/// What a job's name says beyond its time, id and attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// Cancelled rather than failed (failed folder only).
    pub(crate) cancelled: bool,
    /// Its last error is in `errors/<id>`.
    pub(crate) error: bool,
    /// It holds its unique key, to give back when it leaves its queue.
    pub(crate) unique: bool,
}

impl Flags {
    fn write(self, out: &mut String) {
        for (set, letter) in [(self.cancelled, 'c'), (self.error, 'e'), (self.unique, 'u')] {
            if set {
                out.push(letter);
            }
        }
    }

    /// Reads `<digits><flags>`: the attempts and the flags after them.
    fn parse_counted(text: &str) -> Option<(u32, Flags)> {
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let attempts = digits(&text[..split])?;
        let mut flags = Flags::default();
        for letter in text[split..].chars() {
            let slot = match letter {
                'c' => &mut flags.cancelled,
                'e' => &mut flags.error,
                'u' => &mut flags.unique,
                _ => return None,
            };
            if *slot {
                return None;
            }
            *slot = true;
        }
        Some((attempts, flags))
    }
}

/// Who holds a reserved job: the lease token and the worker's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) token: u64,
    pub(crate) worker: String,
}

/// What a queue file's name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobName {
    /// When it is due (ready) or when its lease ends (reserved).
    pub(crate) time: Millis,
    pub(crate) id: JobId,
    /// Reservations so far, this one included when reserved.
    pub(crate) attempts: u32,
    pub(crate) flags: Flags,
    /// The holder, for reserved files only.
    pub(crate) holder: Option<Holder>,
}

impl JobName {
    pub(crate) fn ready(time: Millis, id: JobId, attempts: u32, flags: Flags) -> Self {
        JobName {
            time,
            id,
            attempts,
            flags,
            holder: None,
        }
    }

    /// The name a claim renames this file to: a new deadline and holder, one attempt more.
    pub(crate) fn claimed(&self, deadline: Millis, token: u64, worker: &str) -> Self {
        JobName {
            time: deadline,
            id: self.id.clone(),
            // Saturating: a name claiming u32::MAX attempts must not wrap to a fresh job.
            attempts: self.attempts.saturating_add(1),
            flags: self.flags,
            holder: Some(Holder {
                token,
                worker: worker.to_string(),
            }),
        }
    }

    /// The same reserved name with another deadline and token, same holder name.
    pub(crate) fn rekeyed(&self, deadline: Millis, token: u64) -> Self {
        let worker = self.holder.as_ref().map_or("", |h| h.worker.as_str());
        JobName {
            attempts: self.attempts,
            ..self.claimed(deadline, token, worker)
        }
    }

    /// The file name, e.g. `00000001712345678901-0192…-1e.job`.
    pub(crate) fn file_name(&self) -> String {
        let mut name = format!("{}-{}-{}", padded_time(self.time), self.id, self.attempts);
        self.flags.write(&mut name);
        if let Some(holder) = &self.holder {
            name.push('-');
            name.push_str(&holder.token.to_string());
            if !holder.worker.is_empty() {
                name.push('-');
                name.push_str(&encode_worker(&holder.worker));
            }
        }
        name.push_str(JOB_EXT);
        name
    }

    /// Reads a name written by [`JobName::file_name`]; `None` for anything else.
    pub(crate) fn parse(name: &str) -> Option<JobName> {
        let stem = name.strip_suffix(JOB_EXT)?;
        let (time, rest) = leading_time(stem)?;
        let rest = rest.strip_prefix('-')?;
        let id = exact_id(rest.get(..ID_WIDTH)?)?;
        let mut tail = rest.get(ID_WIDTH..)?.strip_prefix('-')?.splitn(3, '-');
        let (attempts, flags) = Flags::parse_counted(tail.next()?)?;
        let holder = match tail.next() {
            Some(token) => Some(Holder {
                token: digits(token)?,
                worker: tail.next().map_or(Some(String::new()), decode_worker)?,
            }),
            None => None,
        };
        Some(JobName {
            time,
            id,
            attempts,
            flags,
            holder,
        })
    }
}

/// What a failed job's name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FailedName {
    pub(crate) id: JobId,
    pub(crate) failed_at: Millis,
    pub(crate) attempts: u32,
    pub(crate) flags: Flags,
}

impl FailedName {
    /// The file name, e.g. `0192…-00000001712345678901-3ce.job`.
    pub(crate) fn file_name(&self) -> String {
        let mut name = format!(
            "{}-{}-{}",
            self.id,
            padded_time(self.failed_at),
            self.attempts
        );
        self.flags.write(&mut name);
        name.push_str(JOB_EXT);
        name
    }

    /// Reads a name written by [`FailedName::file_name`]; `None` for anything else.
    pub(crate) fn parse(name: &str) -> Option<FailedName> {
        let stem = name.strip_suffix(JOB_EXT)?;
        let id = exact_id(stem.get(..ID_WIDTH)?)?;
        let rest = stem.get(ID_WIDTH..)?.strip_prefix('-')?;
        let (failed_at, rest) = leading_time(rest)?;
        let (attempts, flags) = Flags::parse_counted(rest.strip_prefix('-')?)?;
        Some(FailedName {
            id,
            failed_at,
            attempts,
            flags,
        })
    }
}

/// An id written exactly as [`JobId`] writes it (so one job has one name).
fn exact_id(text: &str) -> Option<JobId> {
    JobId::parse(text).ok().filter(|id| id.as_str() == text)
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A worker's name as file-name text: bytes other than letters, digits and `._:@+=,~-`
/// become `%XX`, and a name too long for a file name is cut.
fn encode_worker(worker: &str) -> String {
    let mut out = String::new();
    for b in worker.bytes() {
        let plain = b.is_ascii_alphanumeric() || b"._:@+=,~-".contains(&b);
        let piece = if plain {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        };
        if out.len() + piece.len() > MAX_WORKER_BYTES {
            break;
        }
        out.push_str(&piece);
    }
    out
}

fn decode_worker(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The id part of a queue file's name, read without parsing the rest (to find one job
/// among many names quickly).
pub(crate) fn id_part(name: &str) -> Option<&str> {
    name.get(TIME_WIDTH + 1..DUE_KEY_LEN)
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

/// A zero-padded time, as used at the start of time-ordered names.
pub(crate) fn padded_time(time: Millis) -> String {
    format!("{:0TIME_WIDTH$}", time.max(0))
}

/// Reads a zero-padded time written by [`padded_time`] from the start of `s`.
/// A queue file's due time (or lease deadline) and its id's text, read without checking
/// the rest of the name: what counting and paging need from each of many names.
pub(crate) fn time_and_id(name: &str) -> Option<(Millis, &str)> {
    let (time, rest) = leading_time(name.strip_suffix(JOB_EXT)?)?;
    Some((time, rest.strip_prefix('-')?.get(..ID_WIDTH)?))
}

pub(crate) fn leading_time(s: &str) -> Option<(Millis, &str)> {
    let part = s.get(..TIME_WIDTH)?;
    Some((digits(part)?, s.get(TIME_WIDTH..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Flags {
        Flags::parse_counted(&format!("0{text}")).unwrap().1
    }

    #[test]
    fn names_round_trip_and_sort_by_time_then_id() {
        let a = JobName::ready(5, JobId::generate(), 0, Flags::default());
        let b = JobName::ready(5, JobId::generate(), 3, flags("eu"));
        let c = JobName::ready(40, JobId::generate(), 0, Flags::default());
        for n in [&a, &b, &c] {
            assert_eq!(JobName::parse(&n.file_name()).as_ref(), Some(n));
        }
        let mut names = [c.file_name(), b.file_name(), a.file_name()];
        names.sort();
        assert_eq!(names, [a.file_name(), b.file_name(), c.file_name()]);
        let r = b.claimed(99, u64::MAX >> 1, "host-1/pid 7 ü%");
        assert_eq!(JobName::parse(&r.file_name()), Some(r.clone()));
        assert_eq!(r.holder.unwrap().worker, "host-1/pid 7 ü%");
    }

    #[test]
    fn failed_names_round_trip_and_sort_by_id() {
        let a = FailedName {
            id: JobId::generate(),
            failed_at: 9_000,
            attempts: 3,
            flags: flags("ce"),
        };
        let b = FailedName {
            id: JobId::generate(),
            failed_at: 1,
            ..a.clone()
        };
        assert_eq!(FailedName::parse(&a.file_name()), Some(a.clone()));
        assert!(a.file_name() < b.file_name());
    }

    #[test]
    fn long_worker_names_are_cut_to_fit_a_file_name() {
        let name = JobName::ready(1, JobId::generate(), 0, flags("ceu")).claimed(
            2,
            u64::MAX >> 1,
            &"/".repeat(1_000),
        );
        assert!(name.file_name().len() <= 255);
        assert!(JobName::parse(&name.file_name()).is_some());
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
        for tail in ["1-x", "+1", "1z", "1ee", "1-2-%zz", "1-2-%4"] {
            let name = format!("{:020}-{id}-{tail}.job", 1);
            assert_eq!(JobName::parse(&name), None, "{name}");
        }
        assert_eq!(FailedName::parse(&format!("{id}.json")), None);
    }

    #[test]
    fn hashed_names_are_stable_and_distinct() {
        assert_eq!(hashed("report"), hashed("report"));
        assert_ne!(hashed("report"), hashed("Report"));
        assert_eq!(hashed(&"x".repeat(10_000)).len(), 32);
    }
}
