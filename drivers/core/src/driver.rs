//! The [`Driver`] trait: the one seam between the worker and a store.

use crate::{DriverError, FailedJob, JobId, Lease, Millis, NewJob, QueueStats, Reserved, Retry};
use std::time::Duration;

/// What a store can do beyond the common contract, so the worker can adapt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// [`Driver::wait`] returns early when another process pushes a job.
    pub wakes_across_processes: bool,
    /// A pushed job survives a restart of the store.
    pub durable: bool,
    /// Has SQL tables that `job:table` and `migrate` manage.
    pub has_schema: bool,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The job was stored.
    Stored,
    /// A job with the same unique key is still stored, so this one was skipped.
    Duplicate,
}

/// Which jobs a worker wants.
///
/// ```
/// let queues = vec!["high".to_string(), "default".to_string()];
/// let req = rakit_job_core::ReserveRequest::new(&queues, 4, 30_000).only_named("send-email");
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
}

impl<'a> ReserveRequest<'a> {
    /// A request for up to `limit` jobs of any name.
    pub fn new(queues: &'a [String], limit: usize, lease_ms: Millis) -> Self {
        ReserveRequest {
            queues,
            name: None,
            limit,
            lease_ms,
        }
    }

    /// Restricts the request to one job name.
    pub fn only_named(mut self, name: &'a str) -> Self {
        self.name = Some(name);
        self
    }
}

/// A job store. Every method is one atomic step in the store, so any number of
/// workers in any number of processes may share it.
///
/// The worker owns the policy (retries, backoff, timeouts); a driver only keeps
/// records and leases. Methods taking a [`Lease`] return `Ok(false)` and change
/// nothing when that lease is no longer the job's current one.
///
/// ```
/// use rakit_job_core::{Driver, MemoryDriver};
/// use std::sync::Arc;
///
/// let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
/// assert!(!driver.capabilities().durable);
/// ```
#[async_trait::async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The store for messages, e.g. `sqlite storage/jobs.db`, with any password hidden.
    fn describe(&self) -> String;

    /// What this store can do beyond the common contract.
    fn capabilities(&self) -> Capabilities;

    /// Verifies the store is reachable and set up; the error says how to fix it.
    async fn check(&self) -> Result<(), DriverError>;

    /// Stores a job; with a unique key, skips it while another job with that key is stored.
    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError>;

    /// Stores several jobs in as few round trips as the store allows; one outcome per job,
    /// in order, each as [`push`](Self::push) would give it. A bad job refuses the whole
    /// batch before anything is stored. SQL stores write a batch in one transaction (all
    /// or nothing); elsewhere a store error may leave the batch's first jobs stored. The
    /// default pushes them one by one.
    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(NewJob::check)?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(self.push(job).await?);
        }
        Ok(outcomes)
    }

    /// Takes up to `limit` due jobs (ready, or reserved with an expired lease), counting
    /// an attempt on each and leasing it for `lease_ms`.
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError>;

    /// Pushes the lease deadline to now + `lease_ms`; false when the lease was lost.
    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError>;

    /// Removes a finished job (and frees its unique key).
    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError>;

    /// Acks several jobs in as few round trips as the store allows; one result per lease,
    /// in order. The default acks them one by one.
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        let mut acked = Vec::with_capacity(leases.len());
        for lease in leases {
            acked.push(self.ack(lease).await?);
        }
        Ok(acked)
    }

    /// Makes a failed attempt's job wait until `available_at`, keeping its attempts and error.
    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError>;

    /// Retries several jobs in as few round trips as the store allows; one result per
    /// item, in order, as [`retry`](Driver::retry) gives it. The default retries them one by one.
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        let mut retried = Vec::with_capacity(retries.len());
        for r in retries {
            retried.push(self.retry(&r.lease, r.available_at, &r.error).await?);
        }
        Ok(retried)
    }

    /// Hands a job back untouched, to be taken again at `available_at`; the attempt is not counted.
    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError>;

    /// Moves a job to the failed-jobs store with the error text.
    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError>;

    /// Takes the lock `key` for `owner` for `ttl_ms`; false when someone else holds it.
    /// Taking a lock one already holds renews it.
    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError>;

    /// Frees the lock `key` if `owner` holds it.
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError>;

    /// The queues that hold any job, ready, scheduled, reserved or failed.
    async fn queues(&self) -> Result<Vec<String>, DriverError>;

    /// Per-queue counts of each state, sorted by queue name.
    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError>;

    /// Failed jobs, most recent first.
    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError>;

    /// Puts a failed job back on its queue, ready now with its attempts reset; false if absent.
    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError>;

    /// Deletes one failed job; false if absent.
    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError>;

    /// Deletes every failed job and returns how many there were.
    async fn flush_failed(&self) -> Result<u64, DriverError>;

    /// Returns when a job may have been pushed to one of `queues`, or after `timeout`.
    /// The default just sleeps; stores that can signal (LISTEN/NOTIFY, blocking pops,
    /// file watches) return early.
    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        tokio::time::sleep(timeout).await;
        Ok(())
    }

    /// The DDL that creates this store's tables, for `job:table`; `None` without a schema.
    fn schema(&self) -> Option<String> {
        None
    }

    /// Names of the migrations already applied, for `migrate`.
    async fn applied_migrations(&self) -> Result<Vec<String>, DriverError> {
        Ok(Vec::new())
    }

    /// Runs one migration and records it as applied, in one transaction where the store allows.
    async fn apply_migration(&self, _name: &str, _sql: &str) -> Result<(), DriverError> {
        Err(DriverError::Invalid(format!(
            "{} has no tables to migrate; `migrate` is only for the database driver",
            self.describe()
        )))
    }
}
