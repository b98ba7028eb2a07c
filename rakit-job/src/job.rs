//! What a job is: its metadata ([`JobSpec`], written by `#[job]`) and its behaviour
//! ([`Jobable`], written by you).

use crate::context::JobContext;
use crate::dispatch::{PendingDispatch, When};
use crate::error::JobError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// The outcome of a job run: `Ok(())`, or an error that makes the worker retry it.
pub type JobResult = Result<(), JobError>;

/// How a job's key for `no_overlap` or `unique` is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRule {
    /// The option is off.
    Off,
    /// The key is the job's name: one at a time for the whole job type.
    Name,
    /// The key is the job's name plus the value of this payload field.
    Field(&'static str),
}

/// How long a failed job waits before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// 1 s, 2 s, 4 s, … doubling per attempt, capped at one hour.
    Exponential,
    /// Always the worker's `sleep` interval, as Rakit waited `sleep_ms` between attempts.
    Fixed,
    /// The listed delays in order; the last repeats.
    List(&'static [Duration]),
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1 for the first run).
    ///
    /// ```
    /// use rakit_job::Backoff;
    /// use std::time::Duration;
    /// let sleep = Duration::from_millis(500);
    /// assert_eq!(Backoff::Exponential.delay(3, sleep), Duration::from_secs(4));
    /// assert_eq!(Backoff::Fixed.delay(3, sleep), sleep);
    /// const STEPS: &[Duration] = &[Duration::from_secs(1), Duration::from_secs(10)];
    /// assert_eq!(Backoff::List(STEPS).delay(5, sleep), Duration::from_secs(10));
    /// ```
    pub fn delay(&self, attempt: u32, sleep: Duration) -> Duration {
        match self {
            Backoff::Exponential => {
                let exp = attempt.saturating_sub(1).min(12);
                Duration::from_secs(1u64 << exp).min(Duration::from_secs(3600))
            }
            Backoff::Fixed => sleep,
            Backoff::List(steps) => {
                let i = (attempt.saturating_sub(1) as usize).min(steps.len().saturating_sub(1));
                steps.get(i).copied().unwrap_or(sleep)
            }
        }
    }
}

/// The options `#[job(...)]` sets; the defaults are what a job without arguments gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOptions {
    /// Runs of jobs with the same key never overlap.
    pub no_overlap: KeyRule,
    /// A dispatch is skipped while a job with the same key is stored.
    pub unique: KeyRule,
    /// Retries after the first run; `None` uses the worker's or the config's.
    pub retries: Option<u32>,
    /// Longest run before the job is stopped and counted as failed.
    pub timeout: Option<Duration>,
    /// Delay between attempts.
    pub backoff: Backoff,
}

impl JobOptions {
    /// The options of a job with no arguments.
    ///
    /// ```
    /// let o = rakit_job::JobOptions::DEFAULT;
    /// assert_eq!(o.retries, None);
    /// ```
    pub const DEFAULT: JobOptions = JobOptions {
        no_overlap: KeyRule::Off,
        unique: KeyRule::Off,
        retries: None,
        timeout: None,
        backoff: Backoff::Exponential,
    };
}

/// A job's metadata and its dispatch constructors; `#[job]` implements it, you do not.
///
/// ```
/// use rakit_job::prelude::*;
///
/// #[job(queue = "high", retries = 5)]
/// pub struct SendEmail {
///     pub to: String,
/// }
///
/// assert_eq!(SendEmail::NAME, "send-email");
/// assert_eq!(SendEmail::QUEUE, "high");
/// assert_eq!(SendEmail::OPTIONS.retries, Some(5));
/// # impl Jobable for SendEmail {
/// #     async fn run(&self, _ctx: &JobContext) -> JobResult { Ok(()) }
/// # }
/// ```
pub trait JobSpec: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The job's slug, the name workers look it up by.
    const NAME: &'static str;
    /// The queue it goes to unless dispatch says otherwise.
    const QUEUE: &'static str;
    /// Its options.
    const OPTIONS: JobOptions;

    /// Starts a dispatch of `job`; await it (after any `.on_queue(..)`, `.delay(..)`, …) to store it.
    fn dispatch(job: Self) -> PendingDispatch<Self> {
        PendingDispatch::new(job)
    }

    /// Starts a bulk dispatch of `jobs`: stored in a few round trips, all checked before
    /// any is stored; await it for the stored ids. See [`PendingBatch`](crate::PendingBatch).
    fn dispatch_many(jobs: impl IntoIterator<Item = Self>) -> crate::PendingBatch<Self> {
        crate::PendingBatch::new(jobs)
    }

    /// Starts a dispatch of `job` to run at `when`: a `"YYYY-MM-DD HH:MM:SS"` local time,
    /// an RFC 3339 string, a chrono `DateTime` or a `SystemTime`.
    fn dispatch_at(when: impl Into<When>, job: Self) -> PendingDispatch<Self> {
        PendingDispatch::new(job).at(when)
    }
}

/// The work a job does. Implement `run` with `async fn`.
///
/// ```
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct ProcessUpload {
///     pub file: String,
///     pub user_id: u64,
/// }
///
/// impl Jobable for ProcessUpload {
///     async fn run(&self, ctx: &JobContext) -> JobResult {
///         if self.file.is_empty() {
///             return Err(JobError::new("the upload has no file"));
///         }
///         println!("attempt {} for {}", ctx.attempt(), self.file);
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a `#[job]` but does not implement `Jobable`",
    label = "add `impl Jobable for {Self} {{ async fn run(&self, ctx: &JobContext) -> JobResult {{ .. }} }}`"
)]
pub trait Jobable: JobSpec {
    /// Does the work. Return an error (`?` converts any std error) to have it retried.
    fn run(&self, ctx: &JobContext) -> impl Future<Output = JobResult> + Send;
}
