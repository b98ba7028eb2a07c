//! [`Job`]: the by-name facade, as in Rakit's `Job::dispatch('send-email', [...])`, and
//! [`NamedJob`], a job named at run time.

use crate::dispatch::{DispatchSource, JobParts, PendingDispatch};
use crate::error::Error;
use crate::options::JobOptions;
use crate::queue::default_queue;
use crate::registry;
use crate::worker::{Worker, WorkerReport};
use rakit_job_core::slug;
use serde_json::Value;

/// Dispatch and run jobs by name, for code that does not see the job's type.
///
/// ```no_run
/// use rakit_job::prelude::*;
/// use serde_json::json;
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// Job::dispatch("send-email", json!({"to": "user@example.com", "subject": "Welcome!"}))
///     .on_queue("high")
///     .await?;
/// # Ok(()) }
/// ```
pub struct Job;

impl Job {
    /// Starts a dispatch of the job `name` with a JSON payload. When a `#[job]` of that
    /// name is linked in, the payload must deserialize into it or the dispatch is refused.
    pub fn dispatch(name: &str, payload: Value) -> PendingDispatch<NamedJob> {
        PendingDispatch::new(NamedJob::new(name, payload))
    }

    /// Stores the job `name` now, on its default queue (the legacy `Job::add`).
    pub async fn add(name: &str, payload: Value) -> Result<crate::JobId, Error> {
        Job::dispatch(name, payload).await
    }

    /// Runs the ready jobs named `name` in this process, then returns (the legacy `Job::run`).
    /// It takes no signal handler: Ctrl-C and SIGTERM keep their usual effect on the process.
    pub async fn run(name: &str) -> Result<WorkerReport, Error> {
        let queue = default_queue().await?;
        Worker::new(&queue)
            .only_named(name)
            .stop_when_empty()
            .quiet()
            .run()
            .await
    }

    /// The names of the `#[job]` types linked into this program, sorted.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    /// assert!(Job::names().contains(&"send-email"));
    /// ```
    pub fn names() -> Vec<&'static str> {
        registry::all().iter().map(|e| e.name).collect()
    }

    /// True when a `#[job]` type or a listener runs jobs named `name` (any spelling).
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// #[job]
    /// pub struct SendEmail { pub to: String }
    /// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    /// assert!(Job::is_known("Send Email"));
    /// assert!(!Job::is_known("nobody"));
    /// ```
    pub fn is_known(name: &str) -> bool {
        registry::find(name).is_some() || registry::listener(&slug(name)).is_some()
    }

    /// Runs every ready job of every queue in this process, then returns (the legacy
    /// `Job::runall`). Like [`Job::run`], it leaves the process's signals alone.
    pub async fn runall() -> Result<WorkerReport, Error> {
        let queue = default_queue().await?;
        Worker::new(&queue).stop_when_empty().quiet().run().await
    }
}

/// A job named at run time with a JSON payload: what [`Job::dispatch`] sends.
pub struct NamedJob {
    name: String,
    payload: Value,
}

impl NamedJob {
    /// A job of `name` (any spelling of its slug) carrying `payload`.
    pub fn new(name: &str, payload: Value) -> Self {
        NamedJob {
            name: name.to_string(),
            payload,
        }
    }
}

impl DispatchSource for NamedJob {
    fn into_parts(self) -> Result<JobParts, Error> {
        let name = slug(&self.name);
        if name.is_empty() {
            return Err(Error::InvalidPayload(format!(
                "{:?} is not a job name; use letters, digits and dashes, e.g. \"send-email\"",
                self.name
            )));
        }
        match registry::find(&name) {
            Some(entry) => {
                entry.check(&self.payload).map_err(|e| {
                    Error::InvalidPayload(format!(
                        "the payload does not fit the `{name}` job ({}): {e}; send the fields it declares",
                        entry.type_name
                    ))
                })?;
                Ok(JobParts {
                    name,
                    queue: entry.queue.to_string(),
                    payload: self.payload,
                    options: entry.options,
                })
            }
            None => Ok(JobParts {
                name,
                queue: "default".into(),
                payload: self.payload,
                options: JobOptions::DEFAULT,
            }),
        }
    }
}
