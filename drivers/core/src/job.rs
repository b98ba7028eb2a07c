//! The records a store keeps and hands back.

use crate::{DriverError, Millis, now_ms};
use std::fmt;

/// A job's id: a UUIDv7 string, so ids sort by creation time in every store.
///
/// ```
/// let a = rakit_job_core::JobId::generate();
/// let b = rakit_job_core::JobId::generate();
/// assert!(a < b);
/// assert_eq!(rakit_job_core::JobId::parse(a.as_str()).unwrap(), a);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        JobId(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// Reads an id typed by a user or read from a store.
    ///
    /// ```
    /// assert!(rakit_job_core::JobId::parse("not-an-id").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, DriverError> {
        match uuid::Uuid::try_parse(s.trim()) {
            Ok(u) => Ok(JobId(u.hyphenated().to_string())),
            Err(_) => Err(DriverError::Invalid(format!(
                "{:?} is not a job id; job ids look like 0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e",
                s.chars().take(60).collect::<String>()
            ))),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job about to be stored.
///
/// ```
/// let job = rakit_job_core::NewJob::now("send-email", "high", "{}");
/// assert_eq!(job.queue, "high");
/// assert!(job.available_at <= rakit_job_core::now_ms());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// Its id, chosen by the caller.
    pub id: JobId,
    /// The job's slug, e.g. `send-email`.
    pub name: String,
    /// The queue it waits on.
    pub queue: String,
    /// The payload as JSON text.
    pub payload: String,
    /// When it may first run.
    pub available_at: Millis,
    /// When it was dispatched.
    pub created_at: Millis,
    /// Jobs sharing this key never run at the same time.
    pub overlap_key: Option<String>,
    /// With `unique_for` unset: while a job with this key is stored, another push with it
    /// is skipped. With `unique_for` set: see there.
    pub unique_key: Option<String>,
    /// A window in milliseconds: a push whose `unique_key` was accepted less than this long
    /// ago is skipped, whatever became of the job accepted then. The key is held by the
    /// window alone, not by the stored job.
    pub unique_for: Option<Millis>,
    /// Text the runtime keeps with the job (its chain, for one) and the store carries
    /// through every state, failed included, without reading it.
    pub meta: Option<String>,
}

impl NewJob {
    /// A job ready to run now, with a fresh id and no keys.
    pub fn now(name: &str, queue: &str, payload: &str) -> Self {
        let now = now_ms();
        NewJob {
            id: JobId::generate(),
            name: name.to_string(),
            queue: queue.to_string(),
            payload: payload.to_string(),
            available_at: now,
            created_at: now,
            overlap_key: None,
            unique_key: None,
            unique_for: None,
            meta: None,
        }
    }

    /// Refuses what no store may keep: a bad queue name, an oversized payload, or a
    /// unique window without a key.
    ///
    /// ```
    /// use rakit_job_core::NewJob;
    /// assert!(NewJob::now("x", "default", "{}").check().is_ok());
    /// assert!(NewJob::now("x", "no spaces", "{}").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), DriverError> {
        crate::validate_queue(&self.queue)?;
        if self.payload.len() > crate::MAX_PAYLOAD_BYTES {
            return Err(DriverError::Invalid(format!(
                "the payload of job {} is {} bytes, more than the {} a job may carry; store large data elsewhere and pass a reference",
                self.name,
                self.payload.len(),
                crate::MAX_PAYLOAD_BYTES
            )));
        }
        if self.unique_for.is_some() && self.unique_key.is_none() {
            return Err(DriverError::Invalid(format!(
                "job {} has a unique window but no unique key; give it a key or drop the window",
                self.name
            )));
        }
        Ok(())
    }
}

/// A job as read back from the store when it is reserved.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredJob {
    /// Its id.
    pub id: JobId,
    /// The job's slug.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// The payload as JSON text.
    pub payload: String,
    /// How many times it has been reserved, this reservation included (1 on the first run).
    pub attempts: u32,
    /// When it was dispatched.
    pub created_at: Millis,
    /// Its no-overlap key, if any.
    pub overlap_key: Option<String>,
    /// Its unique key, if any.
    pub unique_key: Option<String>,
    /// The error of the previous attempt, if it failed.
    pub last_error: Option<String>,
    /// The runtime's text, as pushed.
    pub meta: Option<String>,
    /// A cancel was asked while an earlier holder ran it: the worker must fail it as
    /// cancelled without running it.
    pub cancelled: bool,
}

/// The proof that a worker holds a job: only the current holder's writes take effect,
/// so a worker whose lease expired cannot undo another's work.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job held.
    pub id: JobId,
    /// Its queue (stores keyed by queue need it).
    pub queue: String,
    /// Random per reservation; a later reservation of the same job gets another.
    pub token: u64,
}

impl Lease {
    /// A lease on `id` with a fresh random token (stores call this when reserving).
    ///
    /// ```
    /// let id = rakit_job_core::JobId::generate();
    /// let a = rakit_job_core::Lease::new(id.clone(), "default");
    /// let b = rakit_job_core::Lease::new(id, "default");
    /// assert_ne!(a.token, b.token);
    /// assert!(a.token <= i64::MAX as u64);
    /// ```
    pub fn new(id: JobId, queue: &str) -> Self {
        Lease {
            id,
            queue: queue.to_string(),
            token: fresh_token(),
        }
    }

    /// The lease as a lock owner: locks taken for this run are held by it.
    ///
    /// ```
    /// let lease = rakit_job_core::Lease::new(rakit_job_core::JobId::generate(), "default");
    /// assert!(lease.owner().starts_with(lease.id.as_str()));
    /// ```
    pub fn owner(&self) -> String {
        format!("{}#{}", self.id, self.token)
    }
}

/// A random lease token that fits a signed 64-bit column.
///
/// ```
/// assert!(rakit_job_core::fresh_token() <= i64::MAX as u64);
/// ```
pub fn fresh_token() -> u64 {
    let (_, low) = uuid::Uuid::new_v4().as_u64_pair();
    low >> 1
}

/// A reserved job and the lease that proves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reserved {
    /// The job.
    pub job: StoredJob,
    /// The lease to pass back when the job finishes.
    pub lease: Lease,
}
