//! Testing helpers for applications: [`QueueFake`] records what your code dispatches so a
//! test can assert on it, in the spirit of Laravel's `Queue::fake()`.
//!
//! A fake is an in-memory queue of its own, so tests running in parallel threads never see
//! each other's jobs. Point your code at it in one of three ways:
//!
//! - pass [`QueueFake::queue`] where your code takes a [`Queue`] (`.via(&queue)`, app state);
//! - run the code under test inside [`QueueFake::scope`]: every dispatch without `.via`
//!   made in that future goes to the fake;
//! - or, in a test binary that needs a single fake, [`QueueFake::install`] it as the
//!   process default.
//!
//! ```
//! use rakit_job::prelude::*;
//! use rakit_job::testing::QueueFake;
//!
//! #[job(queue = "high")]
//! pub struct SendEmail {
//!     pub to: String,
//! }
//! # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
//!
//! async fn register(email: &str) -> Result<(), rakit_job::Error> {
//!     SendEmail::dispatch(SendEmail { to: email.to_string() }).await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let fake = QueueFake::new();
//! fake.scope(register("ada@example.com")).await.unwrap();
//! fake.assert_dispatched_on::<SendEmail>("high");
//! fake.assert_dispatched_where::<SendEmail>(|job| job.to == "ada@example.com");
//! # });
//! ```

use crate::config::Config;
use crate::dispatch::DispatchSource;
use crate::error::{Error, JobError};
use crate::queue::{FollowUps, Queue};
use crate::spec::{JobResult, JobSpec, Jobable};
use crate::worker::{Worker, WorkerReport};
use rakit_job_core::{
    Finish, Hooks, JobId, MemoryDriver, Millis, NewJob, PushOutcome, StoreExt, Watched,
};
use serde_json::Value;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A queue for tests that records every dispatch, runs jobs on demand, and asserts.
///
/// Jobs dispatched to the fake are kept in memory, never in your real store; they run only
/// when the test asks ([`run_all`](Self::run_all), [`run_inline`](Self::run_inline)).
/// Clones share the same record, so a clone can go into your application's state.
///
/// ```standalone_crate
/// use rakit_job::prelude::*;
/// use rakit_job::testing::QueueFake;
///
/// #[job]
/// pub struct ProcessUpload {
///     pub file: String,
///     pub user_id: u64,
/// }
/// # impl Jobable for ProcessUpload { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let fake = QueueFake::new();
/// ProcessUpload::dispatch(ProcessUpload { file: "a.jpg".into(), user_id: 7 })
///     .via(fake.queue())
///     .await
///     .unwrap();
/// fake.assert_dispatched_times::<ProcessUpload>(1);
/// let report = fake.run_all().await.unwrap();
/// assert_eq!(report.succeeded, 1);
/// # });
/// ```
#[derive(Clone)]
pub struct QueueFake {
    queue: Queue,
    record: Arc<Record>,
}

/// One dispatch the fake recorded.
///
/// ```
/// use rakit_job::prelude::*;
/// use rakit_job::testing::QueueFake;
/// use std::time::Duration;
///
/// #[job]
/// pub struct Ping;
/// # impl Jobable for Ping { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let fake = QueueFake::new();
/// Ping::dispatch(Ping).via(fake.queue()).delay(Duration::from_secs(60)).await.unwrap();
/// let record = &fake.records()[0];
/// assert_eq!((record.name.as_str(), record.queue.as_str()), ("ping", "default"));
/// assert!(record.is_delayed());
/// # });
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatched {
    /// The id the dispatch returned.
    pub id: JobId,
    /// The job's name (its slug).
    pub name: String,
    /// The queue it was sent to.
    pub queue: String,
    /// The payload as JSON.
    pub payload: Value,
    /// When it was dispatched.
    pub dispatched_at: SystemTime,
    /// The earliest time it may run.
    pub available_at: SystemTime,
    /// Its no-overlap key, when dispatched with `without_overlapping()` or `#[job(no_overlap)]`.
    pub overlap_key: Option<String>,
    /// Its unique key, when dispatched with `.unique()` or `#[job(unique)]`.
    pub unique_key: Option<String>,
}

impl Dispatched {
    /// The payload decoded as job type `J`; `None` when it is another job or does not fit.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use rakit_job::testing::QueueFake;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = QueueFake::new();
    /// SendEmail::dispatch(SendEmail { to: "a@b.c".into() }).via(fake.queue()).await.unwrap();
    /// let job: SendEmail = fake.records()[0].decode().unwrap();
    /// assert_eq!(job.to, "a@b.c");
    /// # });
    /// ```
    pub fn decode<J: JobSpec>(&self) -> Option<J> {
        if self.name != J::NAME {
            return None;
        }
        serde_json::from_value(self.payload.clone()).ok()
    }

    /// True when the job was dispatched to run later (`delay`, `at`, `dispatch_at`).
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use rakit_job::testing::QueueFake;
    ///
    /// #[job]
    /// pub struct Reminder;
    /// # impl Jobable for Reminder { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = QueueFake::new();
    /// Reminder::dispatch(Reminder).via(fake.queue()).await.unwrap();
    /// Reminder::dispatch(Reminder).delay(std::time::Duration::from_secs(60)).via(fake.queue()).await.unwrap();
    /// let delayed: Vec<bool> = fake.records().iter().map(|d| d.is_delayed()).collect();
    /// assert_eq!(delayed, [false, true]);
    /// # });
    /// ```
    pub fn is_delayed(&self) -> bool {
        self.available_at > self.dispatched_at
    }

    /// One line for failure messages: name, queue, payload (shortened) and delay.
    fn describe(&self) -> String {
        let mut payload = self.payload.to_string();
        if payload.chars().count() > 160 {
            payload = payload.chars().take(157).collect::<String>() + "...";
        }
        let later = if self.is_delayed() { ", delayed" } else { "" };
        format!("`{}` on `{}` {payload}{later}", self.name, self.queue)
    }
}

impl Default for QueueFake {
    fn default() -> Self {
        QueueFake::new()
    }
}

impl QueueFake {
    /// An empty fake with its own in-memory store.
    ///
    /// ```
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.assert_nothing_dispatched();
    /// ```
    pub fn new() -> Self {
        let record = Arc::new(Record::default());
        let queue = fake_queue(record.clone(), FollowUps::Same);
        QueueFake { queue, record }
    }

    /// The fake's queue, for `.via(fake.queue())`, a [`Worker`], or your application's state.
    ///
    /// ```
    /// let fake = rakit_job::testing::QueueFake::new();
    /// assert_eq!(fake.queue().describe(), "fake (in memory)");
    /// ```
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Runs `future` (or a dispatch builder) with the fake as the default connection: its dispatches that name no
    /// queue with `.via` go to the fake, even in code that cannot be handed a [`Queue`].
    ///
    /// The scope covers `future` itself, not tasks it spawns with `tokio::spawn`; wrap
    /// those in `scope` too. Other tests running at the same time are not affected.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.scope(async {
    ///     Job::dispatch("send-notification", json!({"to": "a@b.c"})).await.unwrap();
    /// })
    /// .await;
    /// assert_eq!(fake.records()[0].name, "send-notification");
    /// # });
    /// ```
    pub fn scope<F: IntoFuture>(&self, future: F) -> impl Future<Output = F::Output> {
        self.queue.scope(future.into_future())
    }

    /// Installs the fake as the process's default connection, as [`crate::install`] does;
    /// false when a default is already installed (it can be set once per process).
    ///
    /// Every test of the process then shares this fake, so prefer [`scope`](Self::scope)
    /// or [`queue`](Self::queue) when tests run in parallel.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// assert!(fake.install());
    /// assert!(!rakit_job::testing::QueueFake::new().install());
    /// # });
    /// ```
    pub fn install(&self) -> bool {
        crate::queue::install(self.queue.clone())
    }

    /// Every dispatch recorded so far, oldest first (skipped unique dispatches are not).
    ///
    /// ```
    /// let fake = rakit_job::testing::QueueFake::new();
    /// assert!(fake.records().is_empty());
    /// ```
    pub fn records(&self) -> Vec<Dispatched> {
        self.record.journal().clone()
    }

    /// The recorded dispatches of job type `J`, decoded, oldest first.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use rakit_job::testing::QueueFake;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = QueueFake::new();
    /// for to in ["a@b.c", "d@e.f"] {
    ///     SendEmail::dispatch(SendEmail { to: to.into() }).via(fake.queue()).await.unwrap();
    /// }
    /// let sent: Vec<String> = fake.dispatched::<SendEmail>().into_iter().map(|j| j.to).collect();
    /// assert_eq!(sent, ["a@b.c", "d@e.f"]);
    /// # });
    /// ```
    pub fn dispatched<J: JobSpec>(&self) -> Vec<J> {
        self.record
            .journal()
            .iter()
            .filter_map(Dispatched::decode)
            .collect()
    }

    /// Panics unless at least one job of type `J` was dispatched.
    ///
    /// ```should_panic
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.assert_dispatched::<SendEmail>(); // panics: nothing was dispatched
    /// ```
    #[track_caller]
    pub fn assert_dispatched<J: JobSpec>(&self) {
        if self.of::<J>().is_empty() {
            self.fail(format!(
                "expected {} to be dispatched, but it was not",
                job_label::<J>()
            ));
        }
    }

    /// Panics unless a job of type `J` was dispatched to `queue`.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// SendEmail::dispatch(SendEmail { to: "a@b.c".into() }).via(fake.queue()).on_queue("high").await.unwrap();
    /// fake.assert_dispatched_on::<SendEmail>("high");
    /// # });
    /// ```
    #[track_caller]
    pub fn assert_dispatched_on<J: JobSpec>(&self, queue: &str) {
        if !self.of::<J>().iter().any(|d| d.queue == queue) {
            self.fail(format!(
                "expected {} to be dispatched on queue `{queue}`, but it was not",
                job_label::<J>()
            ));
        }
    }

    /// Panics unless a job of type `J` was dispatched whose payload satisfies `predicate`.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String, pub subject: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// let job = SendEmail { to: "a@b.c".into(), subject: "Welcome!".into() };
    /// SendEmail::dispatch(job).via(fake.queue()).await.unwrap();
    /// fake.assert_dispatched_where::<SendEmail>(|job| job.subject.starts_with("Welcome"));
    /// # });
    /// ```
    #[track_caller]
    pub fn assert_dispatched_where<J: JobSpec>(&self, predicate: impl Fn(&J) -> bool) {
        if !self
            .of::<J>()
            .iter()
            .filter_map(Dispatched::decode::<J>)
            .any(|job| predicate(&job))
        {
            self.fail(format!(
                "expected {} matching the predicate to be dispatched, but none matched",
                job_label::<J>()
            ));
        }
    }

    /// Panics unless exactly `times` jobs of type `J` were dispatched.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Ping;
    /// # impl Jobable for Ping { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// for _ in 0..3 {
    ///     Ping::dispatch(Ping).via(fake.queue()).await.unwrap();
    /// }
    /// fake.assert_dispatched_times::<Ping>(3);
    /// # });
    /// ```
    #[track_caller]
    pub fn assert_dispatched_times<J: JobSpec>(&self, times: usize) {
        let count = self.of::<J>().len();
        if count != times {
            self.fail(format!(
                "expected {} to be dispatched {}, but it was dispatched {}",
                job_label::<J>(),
                plural(times, "time"),
                plural(count, "time")
            ));
        }
    }

    /// Panics if any job of type `J` was dispatched.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.assert_not_dispatched::<SendEmail>();
    /// ```
    #[track_caller]
    pub fn assert_not_dispatched<J: JobSpec>(&self) {
        let count = self.of::<J>().len();
        if count > 0 {
            self.fail(format!(
                "expected {} not to be dispatched, but it was dispatched {}",
                job_label::<J>(),
                plural(count, "time")
            ));
        }
    }

    /// Panics if any job at all was dispatched.
    ///
    /// ```
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.assert_nothing_dispatched();
    /// ```
    #[track_caller]
    pub fn assert_nothing_dispatched(&self) {
        let count = self.record.journal().len();
        if count > 0 {
            self.fail(format!(
                "expected no job to be dispatched, but {} {count}",
                if count == 1 {
                    "there was"
                } else {
                    "there were"
                }
            ));
        }
    }

    /// Runs every ready job in the fake (and the follow-ups they dispatch) through a real
    /// [`Worker`], then returns what it did.
    ///
    /// Jobs dispatched for later, and failed attempts waiting for their retry, stay in the
    /// fake. Run it again to run jobs dispatched since.
    ///
    /// ```standalone_crate
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Ping;
    /// impl Jobable for Ping {
    ///     async fn run(&self, _: &JobContext) -> JobResult {
    ///         Err(JobError::permanent("unreachable host"))
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// Ping::dispatch(Ping).via(fake.queue()).await.unwrap();
    /// let report = fake.run_all().await.unwrap();
    /// assert_eq!(report.failed, 1);
    /// # });
    /// ```
    pub async fn run_all(&self) -> Result<WorkerReport, Error> {
        let mut total = WorkerReport::default();
        // A worker stops on its first empty look; a queue first used by a follow-up job
        // may not have been asked yet, so look again until a pass finds nothing.
        loop {
            let pass = test_worker(&self.queue).max_jobs(0).run().await?;
            if pass.processed() == 0 {
                return Ok(total);
            }
            total.succeeded += pass.succeeded;
            total.retried += pass.retried;
            total.failed += pass.failed;
            total.released += pass.released;
        }
    }

    /// Runs `job` once, now, in this process, through the real worker code (its panic
    /// catching and timeout included), and returns how the run ended.
    ///
    /// The job is not recorded as dispatched; jobs it dispatches are. A failed run is not
    /// retried: the error is returned instead.
    ///
    /// ```standalone_crate
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Resize { pub width: u32 }
    ///
    /// impl Jobable for Resize {
    ///     async fn run(&self, ctx: &JobContext) -> JobResult {
    ///         if self.width == 0 {
    ///             return Err(JobError::new("a width of 0 cannot be resized to"));
    ///         }
    ///         ctx.dispatch(Resize { width: self.width / 2 }).await?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let fake = rakit_job::testing::QueueFake::new();
    /// fake.run_inline(Resize { width: 640 }).await.unwrap();
    /// fake.assert_dispatched_where::<Resize>(|job| job.width == 320);
    /// let error = fake.run_inline(Resize { width: 0 }).await.unwrap_err();
    /// assert_eq!(error.message(), "a width of 0 cannot be resized to");
    /// # });
    /// ```
    pub async fn run_inline<J: Jobable>(&self, job: J) -> JobResult {
        let parts = job.into_parts().map_err(|e| JobError::new(e.to_string()))?;
        let payload = serde_json::to_string(&parts.payload).map_err(JobError::from)?;
        // The job runs from a store of its own; what it dispatches goes to this fake.
        let inline = Arc::new(Record::default());
        let queue = fake_queue(inline.clone(), FollowUps::To(self.queue.clone()));
        let stored = NewJob::now(&parts.name, &parts.queue, &payload);
        let id = stored.id.clone();
        queue
            .driver()
            .push_one(stored)
            .await
            .map_err(JobError::from)?;
        test_worker(&queue)
            .queues([parts.queue])
            .max_jobs(1)
            .run()
            .await
            .map_err(|e| JobError::new(e.to_string()))?;
        let ended = inline
            .outcomes()
            .iter()
            .find(|(of, _)| *of == id)
            .map(|(_, end)| end.clone());
        match ended {
            Some(Ok(())) => Ok(()),
            Some(Err(message)) => Err(JobError::new(message)),
            None => Err(JobError::new(format!(
                "the `{}` job did not run; its worker handed it back",
                J::NAME
            ))),
        }
    }

    /// The recorded dispatches of job type `J`.
    fn of<J: JobSpec>(&self) -> Vec<Dispatched> {
        self.record
            .journal()
            .iter()
            .filter(|d| d.name == J::NAME)
            .cloned()
            .collect()
    }

    /// Fails the test with `expected`, followed by everything that was dispatched.
    #[track_caller]
    fn fail(&self, expected: String) -> ! {
        let journal = self.record.journal().clone();
        if journal.is_empty() {
            panic!("{expected}; nothing was dispatched");
        }
        let lines: Vec<String> = journal
            .iter()
            .map(|d| format!("\n  - {}", d.describe()))
            .collect();
        panic!("{expected}; dispatched:{}", lines.concat());
    }
}

/// A worker fit for tests: no signal handlers, no start-up line, stops once nothing is ready.
fn test_worker(queue: &Queue) -> Worker {
    Worker::new(queue)
        .quiet()
        .stop_when_empty()
        .sleep(Duration::from_millis(10))
}

/// `a `send-email` job (my_app::SendEmail)`, for failure messages.
fn job_label<J: JobSpec>() -> String {
    format!("a `{}` job ({})", J::NAME, std::any::type_name::<J>())
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn system_time(ms: Millis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A queue on a fresh in-memory store whose pushes and outcomes go to `record`.
fn fake_queue(record: Arc<Record>, follow_ups: FollowUps) -> Queue {
    let store = Arc::new(Watched::new(
        Arc::new(MemoryDriver::new()),
        Recorder(record),
    ));
    let config = Config {
        driver: "memory".into(),
        ..Config::default()
    };
    Queue::with_follow_ups(store, config, follow_ups)
}

/// What a fake saw: the jobs stored, and how each run ended.
#[derive(Default)]
struct Record {
    journal: Mutex<Vec<Dispatched>>,
    outcomes: Mutex<Vec<(JobId, Result<(), String>)>>,
}

impl Record {
    fn journal(&self) -> MutexGuard<'_, Vec<Dispatched>> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outcomes(&self) -> MutexGuard<'_, Vec<(JobId, Result<(), String>)>> {
        self.outcomes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The fake's observer of its in-memory store.
struct Recorder(Arc<Record>);

impl Hooks for Recorder {
    fn describe(&self, _inner: String) -> String {
        "fake (in memory)".to_string()
    }

    fn pushed(&self, jobs: &[NewJob], outcomes: &[PushOutcome]) {
        let stored = jobs
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| **o == PushOutcome::Stored);
        let mut journal = self.0.journal();
        for (job, _) in stored {
            journal.push(Dispatched {
                id: job.id.clone(),
                name: job.name.clone(),
                queue: job.queue.clone(),
                payload: serde_json::from_str(&job.payload)
                    .unwrap_or_else(|_| Value::String(job.payload.clone())),
                dispatched_at: system_time(job.created_at),
                available_at: system_time(job.available_at),
                overlap_key: job.overlap_key.clone(),
                unique_key: job.unique_key.clone(),
            });
        }
    }

    fn completed(&self, finished: &[Finish], written: &[bool]) {
        let mut outcomes = self.0.outcomes();
        for (finish, _) in finished.iter().zip(written).filter(|(_, w)| **w) {
            let end = match finish {
                Finish::Ack { .. } => Ok(()),
                Finish::Retry { error, .. } | Finish::Fail { error, .. } => Err(error.clone()),
                Finish::Release { .. } => continue,
            };
            outcomes.push((finish.lease().id.clone(), end));
        }
    }
}
