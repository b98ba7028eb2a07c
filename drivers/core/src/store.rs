//! [`Store`]: the hot path between workers, dispatch and a store.

use crate::{DriverError, Lease, Millis, NewJob, Reserved};
use std::time::Duration;

/// The longest a store that says [`Capabilities::wakes_when_due`] waits while it cannot
/// keep that promise (its files unwatched, its notifications unheard, its next due time
/// unreadable): the worker's default `sleep`, since its workers otherwise wait far longer.
pub const UNSIGNALLED_POLL: Duration = Duration::from_secs(1);

/// What a store can do beyond the common contract, so the worker can adapt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// [`Store::wait`] returns early when another process pushes a job.
    pub wakes_across_processes: bool,
    /// [`Store::wait`] also returns when a scheduled job or a lease of the waited queues
    /// comes due, when another process retries or hands back one of their jobs for later,
    /// and on a push to a queue new to it: an idle worker need not poll.
    pub wakes_when_due: bool,
    /// A pushed job survives a restart of the store.
    pub durable: bool,
}

/// What a push did with one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The job was stored.
    Stored,
    /// Its unique key is taken (by a stored job, or within its window), so it was skipped.
    Duplicate,
}

/// Which jobs a worker wants.
///
/// ```
/// let queues = vec!["high".to_string(), "default".to_string()];
/// let req = rakit_job_core::ReserveRequest::new(&queues, 4, 30_000, "w1").only_named("send-email");
/// assert_eq!(req.name, Some("send-email"));
/// ```
#[derive(Clone, Debug)]
pub struct ReserveRequest<'a> {
    /// Queues in strict priority order: a due job of an earlier queue is always taken first.
    pub queues: &'a [String],
    /// Only jobs of this name (for `job:run NAME`).
    pub name: Option<&'a str>,
    /// At most this many jobs.
    pub limit: usize,
    /// How long the lease lasts, in milliseconds.
    pub lease_ms: Millis,
    /// The worker taking them, recorded with each lease so people can see who holds a job.
    pub worker: &'a str,
}

impl<'a> ReserveRequest<'a> {
    /// A request by `worker` for up to `limit` jobs of any name.
    pub fn new(queues: &'a [String], limit: usize, lease_ms: Millis, worker: &'a str) -> Self {
        ReserveRequest {
            queues,
            name: None,
            limit,
            lease_ms,
            worker,
        }
    }

    /// Restricts the request to one job name.
    pub fn only_named(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }
}

/// The final write of one job run, as the worker's completer hands it to the store.
#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    /// The job succeeded: it is removed (its unique key freed), and `then` is stored in
    /// the same atomic step, so a crash can neither lose the follow-ups nor store them twice.
    Ack {
        /// The lease on the job.
        lease: Lease,
        /// Jobs to store together with the ack (the next step of a chain).
        then: Vec<NewJob>,
    },
    /// An attempt failed and the job runs again at `available_at`, keeping its attempts,
    /// with `error` as its last error.
    Retry {
        /// The lease on the job.
        lease: Lease,
        /// When the job may run again.
        available_at: Millis,
        /// The failed attempt's error.
        error: String,
    },
    /// The job failed for good (or was cancelled): it moves to the failed store with
    /// `error`, its attempts, queue, payload and meta.
    Fail {
        /// The lease on the job.
        lease: Lease,
        /// Why it failed.
        error: String,
        /// It was cancelled rather than failed; it shows as `Cancelled`.
        cancelled: bool,
    },
    /// The job is handed back untouched, due at `available_at`; the attempt is not counted.
    Release {
        /// The lease on the job.
        lease: Lease,
        /// When it may be taken again.
        available_at: Millis,
    },
}

impl Finish {
    /// The lease this write needs.
    ///
    /// ```
    /// use rakit_job_core::{Finish, JobId, Lease};
    /// let lease = Lease::new(JobId::generate(), "default");
    /// let ack = Finish::Ack { lease: lease.clone(), then: vec![] };
    /// assert_eq!(ack.lease(), &lease);
    /// ```
    pub fn lease(&self) -> &Lease {
        match self {
            Finish::Ack { lease, .. }
            | Finish::Retry { lease, .. }
            | Finish::Fail { lease, .. }
            | Finish::Release { lease, .. } => lease,
        }
    }
}

/// Whether a worker still holds a job, as [`Store::extend`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Held: its lease now runs to the new deadline.
    Held,
    /// Held, and a cancel was asked: stop the job and fail it as cancelled.
    Cancelled,
    /// Lost: the lease expired and the job was taken again, or it is gone.
    Lost,
}

/// A request for one of the `capacity` holds on `key`.
///
/// No-overlap locks are capacity 1, global concurrency caps capacity N (each held while
/// a job runs and renewed with its lease), rate limits capacity N held for the window
/// by owners that never let go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRequest<'a> {
    /// What is limited, e.g. `overlap:send-email`.
    pub key: &'a str,
    /// How many holders the key allows at once (at least 1).
    pub capacity: u32,
    /// Who asks; asking again while holding renews the hold.
    pub owner: &'a str,
    /// How long the hold lasts unless renewed, in milliseconds.
    pub ttl_ms: Millis,
}

/// The answer to a [`LockRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    /// The owner holds the key until now + ttl.
    Taken,
    /// Every hold is taken; the earliest ends at `until` (in ms), unless renewed.
    Busy {
        /// When the earliest current hold expires.
        until: Millis,
    },
}

/// The store as workers and dispatch use it: push, reserve, renew, finish, lock, wait.
/// Every method is one atomic step in the store, so any number of workers in any number
/// of processes may share it.
///
/// The worker owns the policy (retries, backoff, timeouts); a store only keeps records,
/// leases and locks. Writes that take a [`Lease`] change nothing and report `false` when
/// the lease is no longer the job's current one.
///
/// ```
/// use rakit_job_core::{MemoryDriver, Store};
/// use std::sync::Arc;
///
/// let store: Arc<dyn Store> = Arc::new(MemoryDriver::new());
/// assert!(!store.capabilities().durable);
/// ```
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The store for messages, e.g. `sqlite storage/jobs.db`, with any password hidden.
    fn describe(&self) -> String;

    /// What this store can do beyond the common contract.
    fn capabilities(&self) -> Capabilities;

    /// Verifies the store is reachable and set up; the error says how to fix it.
    async fn check(&self) -> Result<(), DriverError>;

    /// Stores jobs in as few round trips as the store allows; one outcome per job, in
    /// order. Every job is checked ([`NewJob::check`]) before any is stored. SQL stores
    /// write a batch all or nothing; elsewhere a store error may leave its first jobs stored.
    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError>;

    /// Takes up to `limit` due jobs (ready, or reserved with an expired lease) in queue
    /// priority order, counting an attempt on each and leasing it to the worker.
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError>;

    /// Pushes each held lease's deadline to now + `lease_ms`; one state per lease, in order.
    async fn extend(
        &self,
        leases: &[Lease],
        lease_ms: Millis,
    ) -> Result<Vec<LeaseState>, DriverError>;

    /// Writes the final outcome of each run; one result per item, in order, false where the
    /// lease was no longer current (nothing is written for that item).
    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError>;

    /// Takes or renews one of the holds on a key.
    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError>;

    /// Gives up `owner`'s hold on `key`, if it has one.
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError>;

    /// Returns when a job may have been pushed to one of `queues`, or after `timeout`.
    /// Stores that can signal (LISTEN/NOTIFY, blocking pops, file watches) return early.
    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        tokio::time::sleep(timeout).await;
        Ok(())
    }
}
