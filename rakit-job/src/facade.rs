//! [`Job`]: the by-name facade, as in Rakit's `Job::dispatch('send-email', [...])`.

use crate::dispatch::{NamedJob, PendingDispatch};
use crate::error::Error;
use crate::queue::default_queue;
use crate::worker::{Worker, WorkerReport};
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
    pub async fn run(name: &str) -> Result<WorkerReport, Error> {
        let queue = default_queue().await?;
        Worker::new(&queue)
            .only_named(name)
            .stop_when_empty()
            .quiet()
            .run()
            .await
    }

    /// Runs every ready job of every queue in this process, then returns (the legacy `Job::runall`).
    pub async fn runall() -> Result<WorkerReport, Error> {
        let queue = default_queue().await?;
        Worker::new(&queue).stop_when_empty().quiet().run().await
    }
}
