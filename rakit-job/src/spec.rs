//! What a job is: its metadata ([`JobSpec`], written by `#[job]`) and its behaviour
//! ([`Jobable`], written by you), and how a typed job becomes a dispatch.

use crate::context::JobContext;
use crate::dispatch::{DispatchSource, JobParts, PendingBatch, PendingDispatch};
use crate::error::{Error, JobError};
use crate::options::JobOptions;
use crate::when::When;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;

/// The outcome of a job run: `Ok(())`, or an error that makes the worker retry it.
pub type JobResult = Result<(), JobError>;

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
    /// any is stored; await it for the stored ids. See [`PendingBatch`].
    fn dispatch_many(jobs: impl IntoIterator<Item = Self>) -> PendingBatch<Self> {
        PendingBatch::many(jobs)
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
///             return Err("the upload has no file".into());
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
    /// Does the work. Return an error (`?` converts any std error, `.into()` a message) to
    /// have it retried.
    fn run(&self, ctx: &JobContext) -> impl Future<Output = JobResult> + Send;
}

impl<J: JobSpec> DispatchSource for J {
    fn into_parts(self) -> Result<JobParts, Error> {
        let payload = serde_json::to_value(&self).map_err(|e| {
            Error::InvalidPayload(format!(
                "the `{}` job cannot be turned into JSON: {e}",
                J::NAME
            ))
        })?;
        Ok(JobParts {
            name: J::NAME.to_string(),
            queue: J::QUEUE.to_string(),
            payload,
            options: J::OPTIONS,
        })
    }
}

impl JobContext {
    /// Starts a follow-up dispatch on the same connection this job came from.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Resize { pub width: u32 }
    ///
    /// impl Jobable for Resize {
    ///     async fn run(&self, ctx: &JobContext) -> JobResult {
    ///         if self.width > 100 {
    ///             ctx.dispatch(Resize { width: self.width / 2 }).await?;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn dispatch<J: JobSpec>(&self, job: J) -> PendingDispatch<J> {
        J::dispatch(job).via(&self.connection)
    }
}
