//! [`Admin`]: what people and tools see and steer — counts, listings, cancel, the failed
//! store, the control entries (paused queues, worker heartbeats) and throughput.

use crate::{DriverError, JobId, Millis};

/// Where a job is in its life; see docs/state-machine.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Due and waiting for a worker (a job whose lease expired is pending again).
    Pending,
    /// Waiting for its time: dispatched for later, or retrying after a failed attempt.
    Scheduled,
    /// Held by a worker under a live lease.
    Running,
    /// In the failed store after its last attempt failed.
    Failed,
    /// In the failed store because it was cancelled.
    Cancelled,
}

impl State {
    /// Every state, in the order listings walk them.
    pub const ALL: [State; 5] = [
        State::Running,
        State::Pending,
        State::Scheduled,
        State::Failed,
        State::Cancelled,
    ];

    /// The state's name in the CLI, the JSON and the dashboard.
    ///
    /// ```
    /// assert_eq!(rakit_job_core::State::Running.as_str(), "running");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Scheduled => "scheduled",
            State::Running => "running",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    /// Reads a state name as [`as_str`](Self::as_str) writes it.
    ///
    /// ```
    /// use rakit_job_core::State;
    /// assert_eq!(State::parse("failed").unwrap(), State::Failed);
    /// assert!(State::parse("done").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<State, DriverError> {
        State::ALL
            .into_iter()
            .find(|s| s.as_str() == text.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                DriverError::Invalid(format!(
                    "{text:?} is not a job state; use pending, scheduled, running, failed or cancelled"
                ))
            })
    }

    /// True for the states kept in the failed store.
    pub fn is_failed(self) -> bool {
        matches!(self, State::Failed | State::Cancelled)
    }
}

/// One page of a listing: jobs in one state, optionally of one queue and one name.
///
/// ```
/// use rakit_job_core::{JobQuery, State};
/// let query = JobQuery::new(State::Pending, 50).on_queue("high");
/// assert_eq!(query.queue.as_deref(), Some("high"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobQuery {
    /// The state listed.
    pub state: State,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this job name (its slug).
    pub name: Option<String>,
    /// The cursor of the previous page of the same query; `None` for the first page.
    pub after: Option<String>,
    /// At most this many jobs (at least 1).
    pub limit: usize,
}

impl JobQuery {
    /// The first page of up to `limit` jobs in `state`.
    pub fn new(state: State, limit: usize) -> Self {
        JobQuery {
            state,
            queue: None,
            name: None,
            after: None,
            limit,
        }
    }

    /// Only jobs of `queue`.
    pub fn on_queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_string());
        self
    }

    /// Only jobs named `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The page after the one that gave `cursor`.
    pub fn after(mut self, cursor: &str) -> Self {
        self.after = Some(cursor.to_string());
        self
    }
}

/// A page of jobs and the cursor of the next one (`None` on the last page).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobPage {
    /// The jobs, in the store's order for the state (the same from page to page).
    pub jobs: Vec<JobInfo>,
    /// Pass to [`JobQuery::after`] for the next page.
    pub next: Option<String>,
}

/// Everything a store knows about one job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// The job's slug.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Where it is.
    pub state: State,
    /// The payload as JSON text.
    pub payload: String,
    /// Runs so far (a running job's current run included).
    pub attempts: u32,
    /// When it was dispatched.
    pub created_at: Millis,
    /// Pending or scheduled: when it may run.
    pub due_at: Option<Millis>,
    /// Running: when its lease runs out unless renewed.
    pub lease_until: Option<Millis>,
    /// Running: the worker holding it.
    pub worker: Option<String>,
    /// The error of its last failed attempt (the failure itself, in the failed store).
    pub last_error: Option<String>,
    /// Failed or cancelled: when it left the queue.
    pub failed_at: Option<Millis>,
    /// Running: a cancel was asked and its worker will stop it.
    pub cancel_requested: bool,
    /// Its no-overlap key.
    pub overlap_key: Option<String>,
    /// Its unique key.
    pub unique_key: Option<String>,
    /// The runtime's text, as pushed.
    pub meta: Option<String>,
}

/// Which failed (or cancelled) jobs an operation applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailedSelect {
    /// The one with this id.
    One(JobId),
    /// Every one of this queue.
    Queue(String),
    /// Every one.
    All,
}

/// What [`Admin::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was pending or scheduled: removed, and kept in the failed store as cancelled.
    Removed,
    /// It is running: its worker sees the cancel at its next lease renewal, stops it and
    /// records it as cancelled.
    Requested,
    /// No pending, scheduled or running job has this id.
    NotFound,
}

/// How many jobs of a queue ended in one minute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MinuteCount {
    /// The queue.
    pub queue: String,
    /// The minute's start, in ms (a multiple of 60,000).
    pub minute: Millis,
    /// Runs that succeeded.
    pub done: u64,
    /// Runs that failed (retried or failed for good).
    pub failed: u64,
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
    /// In the failed store, cancelled ones included.
    pub failed: u64,
}

/// Seeing and steering a store: counts, listings, cancel, the failed store, control
/// entries and throughput. Slower than the [`Store`](crate::Store) path and never on it.
///
/// ```
/// use rakit_job_core::{Admin, MemoryDriver};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryDriver::new();
/// assert!(store.stats().await?.is_empty());
/// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait Admin: Send + Sync + 'static {
    /// The queues that hold any job, in any state, sorted by name.
    async fn queues(&self) -> Result<Vec<String>, DriverError>;

    /// Per-queue counts of each state, sorted by queue name.
    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError>;

    /// One page of jobs; a cursor this store did not give for this query is refused.
    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError>;

    /// One job in any state, failed store included.
    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError>;

    /// Cancels a pending, scheduled or running job.
    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError>;

    /// Puts failed or cancelled jobs back on their queues, due now with their attempts
    /// reset and their meta kept; how many.
    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError>;

    /// Deletes failed or cancelled jobs; how many.
    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError>;

    /// Deletes failed or cancelled jobs that left their queue before `before`; how many.
    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError>;

    /// Sets the entry `key` of `kind` to `value`, expiring after `ttl_ms` if given.
    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError>;

    /// Removes the entry `key` of `kind`, if present.
    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError>;

    /// The live entries of `kind` as (key, value), sorted by key.
    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError>;

    /// The live value of the entry `key` of `kind`, if there is one.
    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError>;

    /// Sets the entry `key` of `kind` to `value`, with no time to live, only if its live
    /// value is `expected` (`None`: only if it has none); whether it did. Swaps of one key
    /// are atomic with each other across processes, so read-and-swap loops lose no update
    /// (batch progress is kept this way); a plain put simply wins.
    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError>;

    /// Adds to the per-queue, per-minute counts (one call per batch of finished jobs).
    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError>;

    /// The counts of every minute from `since` on, sorted by minute then queue; stores
    /// keep at least the last two hours.
    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError>;
}
