//! The records a driver stores and hands back.

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
    pub fn parse(s: &str) -> Result<Self, crate::DriverError> {
        match uuid::Uuid::try_parse(s.trim()) {
            Ok(u) => Ok(JobId(u.hyphenated().to_string())),
            Err(_) => Err(crate::DriverError::Invalid(format!(
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
    /// While a job with this key is stored, another push with it is skipped.
    pub unique_key: Option<String>,
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
        }
    }

    /// Refuses what no store may keep: a bad queue name or an oversized payload.
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
        Ok(())
    }
}

/// A job as read back from the store.
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
}

/// The proof that a worker holds a job: only the current holder's ack, retry, release
/// or fail takes effect, so a worker whose lease expired cannot undo another's work.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job held.
    pub id: JobId,
    /// Its queue (drivers keyed by queue need it).
    pub queue: String,
    /// Random per reservation; a later reservation of the same job gets another.
    pub token: u64,
}

impl Lease {
    /// A lease on `id` with a fresh random token (drivers call this when reserving).
    ///
    /// ```
    /// let id = rakit_job_core::JobId::generate();
    /// let a = rakit_job_core::Lease::new(id.clone(), "default");
    /// let b = rakit_job_core::Lease::new(id, "default");
    /// assert_ne!(a.token, b.token);
    /// assert!(a.token <= i64::MAX as u64);
    /// ```
    pub fn new(id: JobId, queue: &str) -> Self {
        let (_, low) = uuid::Uuid::new_v4().as_u64_pair();
        Lease {
            id,
            queue: queue.to_string(),
            token: low >> 1,
        }
    }

    /// The token as text, used as the owner of no-overlap locks.
    pub fn owner(&self) -> String {
        format!("{}#{}", self.id, self.token)
    }
}

/// A reserved job and the lease that proves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reserved {
    /// The job.
    pub job: StoredJob,
    /// The lease to pass back to ack, retry, release or fail.
    pub lease: Lease,
}

/// One retry to write back: the held job waits until `available_at`, keeping its attempts,
/// with `error` as its last error. [`Driver::retry_many`](crate::Driver::retry_many) takes a batch.
///
/// ```
/// use rakit_job_core::{Driver, MemoryDriver, NewJob, ReserveRequest, Retry, now_ms};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let driver = MemoryDriver::new();
/// driver.push(NewJob::now("send-email", "default", "{}")).await?;
/// let queues = vec!["default".to_string()];
/// let taken = driver.reserve(&ReserveRequest::new(&queues, 1, 30_000)).await?;
/// let retry = Retry {
///     lease: taken[0].lease.clone(),
///     available_at: now_ms() + 10_000,
///     error: "the mail server timed out".into(),
/// };
/// assert_eq!(driver.retry_many(&[retry]).await?, [true]);
/// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The lease on the job whose attempt failed.
    pub lease: Lease,
    /// When the job may run again.
    pub available_at: Millis,
    /// The failed attempt's error, kept as the job's last error.
    pub error: String,
}

/// A job in the failed-jobs store.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedJob {
    /// The job's id (kept from when it was dispatched).
    pub id: JobId,
    /// The job's slug.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// The payload as JSON text.
    pub payload: String,
    /// The error text of the last attempt.
    pub error: String,
    /// How many times it ran.
    pub attempts: u32,
    /// Its no-overlap key, kept so a retried job still never overlaps.
    pub overlap_key: Option<String>,
    /// When it was dispatched.
    pub created_at: Millis,
    /// When it failed for good.
    pub failed_at: Millis,
}

/// How many jobs a queue holds in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Due and waiting for a worker.
    pub ready: u64,
    /// Waiting for their time (scheduled or retrying).
    pub scheduled: u64,
    /// Held by a worker right now.
    pub reserved: u64,
    /// In the failed-jobs store.
    pub failed: u64,
}
