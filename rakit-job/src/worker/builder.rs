//! [`Worker`]: the builder of a worker — which queues, how many jobs at once, retries,
//! when to stop. Running it is [`session`](super::session)'s.

use super::shutdown::ShutdownHandle;
use crate::error::Error;
use crate::queue::Queue;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The most jobs a worker claims beyond its free slots, unless `Worker::prefetch` says otherwise.
const DEFAULT_PREFETCH: usize = 512;

/// Runs jobs from a [`Queue`].
///
/// A worker built in code runs until it is stopped — by its [`shutdown_handle`](Self::shutdown_handle),
/// a future given to [`shutdown_on`](Self::shutdown_on), [`max_jobs`](Self::max_jobs) or
/// [`stop_when_empty`](Self::stop_when_empty). It never takes over the process's signals
/// unless told to.
///
/// ```no_run
/// use rakit_job::prelude::*;
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let queue = rakit_job::init().await?;
/// Worker::new(&queue)
///     .queues(["high", "default"])
///     .concurrency(8)
///     .retries(3)
///     .sleep(Duration::from_millis(1000))
///     .shutdown_on(rakit_job::shutdown_signal())
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
pub struct Worker {
    pub(super) queue: Queue,
    pub(super) queues: Option<Vec<String>>,
    pub(super) only_named: Option<String>,
    pub(super) concurrency: usize,
    pub(super) prefetch: usize,
    pub(super) retries: Option<u32>,
    pub(super) sleep: Option<Duration>,
    pub(super) max_jobs: Option<u64>,
    pub(super) stop_when_empty: bool,
    pub(super) grace: Duration,
    pub(super) progress: bool,
    pub(super) quiet: bool,
    pub(super) shutdown: ShutdownHandle,
    pub(super) shutdown_on: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    pub(super) schedules: Vec<Result<crate::Schedule, Error>>,
}

impl Worker {
    /// A worker on `queue`, serving every queue (`high`, `default`, `low` first), one job at a time.
    pub fn new(queue: &Queue) -> Self {
        Worker {
            queue: queue.clone(),
            queues: None,
            only_named: None,
            concurrency: 1,
            prefetch: DEFAULT_PREFETCH,
            retries: None,
            sleep: None,
            max_jobs: None,
            stop_when_empty: false,
            grace: Duration::from_secs(30),
            progress: false,
            quiet: false,
            shutdown: ShutdownHandle::default(),
            shutdown_on: None,
            schedules: Vec::new(),
        }
    }

    /// Serves only these queues, in strict priority order: a job on the first is always taken before one on the second.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = Some(queues.into_iter().map(Into::into).collect());
        self
    }

    /// Runs only jobs of this name (`job:run NAME`).
    pub fn only_named(mut self, name: &str) -> Self {
        self.only_named = Some(rakit_job_core::slug(name));
        self
    }

    /// Runs up to `n` jobs at the same time (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Claims up to `n` jobs beyond the free slots in the same round trip, so a busy worker
    /// takes a batch per claim instead of one job per finished job; 0 turns it off (default 512).
    ///
    /// Only fast jobs are claimed ahead: the worker holds about 50 ms of work beyond what
    /// is running, judged from how long recent jobs took, so slow jobs are never parked
    /// while another worker idles. Claimed-ahead jobs are handed back untouched on shutdown,
    /// when their queue is paused, or if they wait longer than a third of the lease. Before
    /// it starts a job claimed ahead from a lower queue, the worker looks at the higher ones
    /// first, so priority stays strict.
    ///
    /// ```
    /// # let queue = rakit_job::Queue::memory();
    /// let worker = rakit_job::Worker::new(&queue).concurrency(16).prefetch(0);
    /// ```
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// Retries after a job's first run, for jobs that do not set their own `retries`.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// How long an idle worker waits before looking again when the store cannot signal;
    /// on a store whose wait ends when jobs come due (PostgreSQL, SQLite, the folder), 30 s
    /// at least.
    pub fn sleep(mut self, interval: Duration) -> Self {
        self.sleep = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Stops after taking `n` jobs, so a supervisor can restart the process fresh; 0 means
    /// no limit, as does not calling it (`job:runall` sets it from the config's `max_job`).
    pub fn max_jobs(mut self, n: u64) -> Self {
        self.max_jobs = (n > 0).then_some(n);
        self
    }

    /// Stops as soon as no ready job is left, instead of waiting for more.
    pub fn stop_when_empty(mut self) -> Self {
        self.stop_when_empty = true;
        self
    }

    /// How long running jobs may finish after a shutdown request before they are handed back.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Stops the worker gracefully when `signal` completes: [`shutdown_signal`](crate::shutdown_signal)
    /// for SIGINT/SIGTERM, `tokio::signal::ctrl_c()`, or the application's own shutdown.
    ///
    /// ```standalone_crate
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = rakit_job::Queue::memory();
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let worker = rakit_job::Worker::new(&queue).shutdown_on(async { let _ = stopped.await; });
    /// let running = tokio::spawn(worker.run());
    /// stop.send(()).unwrap();
    /// assert_eq!(running.await.unwrap().unwrap().processed(), 0);
    /// # });
    /// ```
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown_on = Some(Box::pin(signal));
        self
    }

    /// Dispatches `job` at each tick of the cron `expression` (5 fields, or 6 with seconds
    /// first, in UTC), once across every worker process and host — as `#[job(cron = ...)]`
    /// does for a job without a payload. An invalid expression makes [`run`](Self::run) fail.
    ///
    /// ```no_run
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Digest { pub team: String }
    /// # impl Jobable for Digest { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # async fn demo() -> Result<(), rakit_job::Error> {
    /// let queue = rakit_job::init().await?;
    /// Worker::new(&queue)
    ///     .schedule("0 9 * * MON-FRI", Digest { team: "ops".into() })
    ///     .run()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn schedule(mut self, expression: &str, job: impl crate::DispatchSource) -> Self {
        self.schedules
            .push(crate::Schedule::new(expression, None, job));
        self
    }

    /// Shows a live progress line on standard error.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Writes no log lines of its own (job logging aside).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// A handle that stops this worker gracefully from elsewhere in the program.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }
}
