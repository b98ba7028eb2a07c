//! Bulk dispatch: many jobs stored in a few round trips, for imports and fan-outs.

use crate::dispatch::{DispatchSource, PendingDispatch, When};
use crate::error::Error;
use crate::queue::Queue;
use rakit_job_core::{JobId, NewJob, PushOutcome};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

/// The most jobs handed to the store in one call; SQL stores cut it further into statements.
const BATCH: usize = 5_000;

/// A bulk dispatch being built; nothing is stored until it is awaited.
///
/// Every job is checked (queue name, payload, keys) before any is stored, so one bad job
/// refuses the whole batch. SQL stores write each batch of up to 5,000 jobs in one
/// transaction; Redis sends it in one pipeline. Awaiting it gives the ids of the stored
/// jobs, in order; a job of a `unique` type whose key is taken is skipped.
///
/// ```no_run
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct SendEmail { pub to: String }
/// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let users = ["a@example.com", "b@example.com"];
/// let ids = SendEmail::dispatch_many(users.iter().map(|to| SendEmail { to: to.to_string() }))
///     .on_queue("low")
///     .await?;
/// assert_eq!(ids.len(), 2);
/// # Ok(()) }
/// ```
#[must_use = "a dispatch stores nothing until it is awaited"]
pub struct PendingBatch<S> {
    sources: Vec<S>,
    queue: Option<String>,
    at: Option<When>,
    delay: Duration,
    via: Option<Queue>,
}

impl<S: DispatchSource> PendingBatch<S> {
    /// Starts a bulk dispatch of `sources`, each with its own defaults.
    pub fn new(sources: impl IntoIterator<Item = S>) -> Self {
        PendingBatch {
            sources: sources.into_iter().collect(),
            queue: None,
            at: None,
            delay: Duration::ZERO,
            via: None,
        }
    }

    /// Sends every job to `queue` instead of its default one.
    pub fn on_queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_string());
        self
    }

    /// Runs the jobs no earlier than `delay` from now (added to [`at`](Self::at) if both are set).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Runs the jobs no earlier than `when`.
    pub fn at(mut self, when: impl Into<When>) -> Self {
        self.at = Some(when.into());
        self
    }

    /// Stores the jobs through `queue` instead of the default connection.
    pub fn via(mut self, queue: &Queue) -> Self {
        self.via = Some(queue.clone());
        self
    }

    async fn store(self) -> Result<Vec<JobId>, Error> {
        let mut target: Option<Queue> = None;
        let mut records: Vec<NewJob> = Vec::with_capacity(self.sources.len());
        for source in self.sources {
            let mut one = PendingDispatch::new(source).delay(self.delay);
            if let Some(queue) = &self.queue {
                one = one.on_queue(queue);
            }
            if let Some(when) = &self.at {
                one = one.at(when.clone());
            }
            if let Some(via) = target.as_ref().or(self.via.as_ref()) {
                one = one.via(via);
            }
            let (queue, job) = one.prepare(false).await?;
            target.get_or_insert(queue);
            records.push(job);
        }
        let Some(queue) = target else {
            return Ok(Vec::new());
        };
        let mut stored = Vec::with_capacity(records.len());
        while !records.is_empty() {
            let rest = records.split_off(records.len().min(BATCH));
            let batch = std::mem::replace(&mut records, rest);
            let ids: Vec<(JobId, String, String)> = batch
                .iter()
                .map(|job| (job.id.clone(), job.name.clone(), job.queue.clone()))
                .collect();
            let outcomes = queue.driver().push_many(batch).await?;
            for ((id, name, on), outcome) in ids.into_iter().zip(outcomes) {
                if outcome == PushOutcome::Stored {
                    if queue.config().logging {
                        tracing::info!(target: "rakit_job", "Job added: {name} - #{id} (queue: {on})");
                    }
                    stored.push(id);
                }
            }
            queue.notify_pushed();
        }
        Ok(stored)
    }
}

impl<S: DispatchSource> IntoFuture for PendingBatch<S> {
    type Output = Result<Vec<JobId>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.store())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamedJob;
    use serde_json::json;

    #[tokio::test]
    async fn every_job_of_a_batch_is_stored_and_a_bad_job_refuses_it_whole() {
        let queue = Queue::memory();
        let jobs = (0..12_000).map(|n| NamedJob::new("import-row", json!({ "n": n })));
        let ids = PendingBatch::new(jobs)
            .on_queue("imports")
            .via(&queue)
            .await
            .unwrap();
        assert_eq!(ids.len(), 12_000, "three store calls, every job stored");
        let stats = queue.driver().stats().await.unwrap();
        assert_eq!(
            (stats[0].queue.as_str(), stats[0].ready),
            ("imports", 12_000)
        );

        let bad = [NamedJob::new("ok", json!({})), NamedJob::new("", json!({}))];
        let refused = PendingBatch::new(bad).on_queue("other").via(&queue).await;
        assert!(
            matches!(refused, Err(Error::InvalidPayload(_))),
            "{refused:?}"
        );
        let stats = queue.driver().stats().await.unwrap();
        assert_eq!(stats.len(), 1, "nothing of the refused batch was stored");
    }
}
