//! What rakit-job reports about its work: tracing spans for every dispatch and every job
//! run, and, with the `metrics` cargo feature, counters, a histogram and a gauge through
//! the [`metrics`](https://docs.rs/metrics) facade.
//!
//! **Spans** (target `rakit_job`, level INFO) cost next to nothing without a subscriber:
//!
//! | span | fields |
//! |---|---|
//! | `dispatch` | `job` (the first job's name), `id` (when one job), `queue`, `delay_ms`, `count` (jobs in the dispatch), `outcome`: `stored`, `skipped` (a unique dispatch) or `refused` |
//! | `run` | `job`, `id`, `queue`, `attempt`, `outcome`: `succeeded`, `retried`, `failed`, `cancelled`, `released` or `lease_lost`; `duration_ms`; `error` when it failed |
//!
//! A job's own `tracing` events happen inside its `run` span, so they carry its name, id
//! and attempt. The guide-shaped lines (`Job added`, `Job executed`, `Job retry`,
//! `Job failed`) are events inside these spans; `logging = false` turns them off, not the spans.
//!
//! **Metrics** (feature `metrics`), labelled `job` and `queue`: the counters [`DISPATCHED`],
//! [`SUCCEEDED`], [`RETRIED`], [`FAILED`] and [`RELEASED`], the histogram [`RUN_SECONDS`]
//! (also labelled `outcome`), and the gauge [`QUEUE_DEPTH`] (labelled `queue` and `state`)
//! that `watch_queue_depth` keeps up to date. Install any `metrics` exporter first,
//! e.g. Prometheus:
//!
//! ```ignore
//! metrics_exporter_prometheus::PrometheusBuilder::new().install()?; // serves :9000/metrics
//! ```

use rakit_job_core::NewJob;
use std::time::Instant;
use tracing::Span;
use tracing::field::Empty;

/// Counter: jobs stored by a dispatch.
///
/// ```
/// assert_eq!(rakit_job::observe::DISPATCHED, "rakit_job_dispatched_total");
/// ```
pub const DISPATCHED: &str = "rakit_job_dispatched_total";

/// Counter: job runs that succeeded.
///
/// ```
/// assert_eq!(rakit_job::observe::SUCCEEDED, "rakit_job_succeeded_total");
/// ```
pub const SUCCEEDED: &str = "rakit_job_succeeded_total";

/// Counter: failed attempts scheduled to run again.
///
/// ```
/// assert_eq!(rakit_job::observe::RETRIED, "rakit_job_retried_total");
/// ```
pub const RETRIED: &str = "rakit_job_retried_total";

/// Counter: jobs moved to the failed-jobs store.
///
/// ```
/// assert_eq!(rakit_job::observe::FAILED, "rakit_job_failed_total");
/// ```
pub const FAILED: &str = "rakit_job_failed_total";

/// Counter: jobs handed back without running (their no-overlap key was taken, or the worker stopped).
///
/// ```
/// assert_eq!(rakit_job::observe::RELEASED, "rakit_job_released_total");
/// ```
pub const RELEASED: &str = "rakit_job_released_total";

/// Histogram: how long a job run took, from taking it to writing its outcome, in seconds.
///
/// ```
/// assert_eq!(rakit_job::observe::RUN_SECONDS, "rakit_job_run_seconds");
/// ```
pub const RUN_SECONDS: &str = "rakit_job_run_seconds";

/// Gauge: jobs per queue and state (`ready`, `scheduled`, `reserved`, `failed`).
///
/// ```
/// assert_eq!(rakit_job::observe::QUEUE_DEPTH, "rakit_job_queue_depth");
/// ```
pub const QUEUE_DEPTH: &str = "rakit_job_queue_depth";

/// The span of one dispatch (of one job or many).
pub(crate) struct Dispatch {
    span: Span,
}

impl Dispatch {
    pub(crate) fn start() -> Self {
        let span = tracing::info_span!(
            target: "rakit_job",
            "dispatch",
            job = Empty,
            id = Empty,
            queue = Empty,
            delay_ms = Empty,
            count = Empty,
            outcome = Empty
        );
        Dispatch { span }
    }

    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    /// Records the jobs about to be pushed: their number, and the first one's details.
    pub(crate) fn jobs(&self, jobs: &[NewJob]) {
        self.span.record("count", jobs.len());
        if let Some(job) = jobs.first() {
            self.span.record("job", job.name.as_str());
            self.span.record("queue", job.queue.as_str());
            self.span
                .record("delay_ms", (job.available_at - job.created_at).max(0));
            if jobs.len() == 1 {
                self.span.record("id", job.id.as_str());
            }
        }
    }

    /// Records how the dispatch ended (`stored` when any job was, `skipped` when a unique
    /// key turned every one away, `refused` on an error) and counts each job stored, given
    /// as (name, queue).
    pub(crate) fn end<'a>(self, outcome: &str, stored: impl Iterator<Item = (&'a str, &'a str)>) {
        self.span.record("outcome", outcome);
        for (name, queue) in stored {
            meter::dispatched(name, queue);
        }
    }
}

/// The span and clock of one job run.
pub(crate) struct JobRun {
    span: Span,
    job: String,
    queue: String,
    started: Instant,
}

impl JobRun {
    pub(crate) fn start(job: &str, id: &str, queue: &str, attempt: u32) -> Self {
        let span = tracing::info_span!(
            target: "rakit_job",
            "run",
            job,
            id,
            queue,
            attempt,
            outcome = Empty,
            duration_ms = Empty,
            error = Empty
        );
        JobRun {
            span,
            job: job.to_string(),
            queue: queue.to_string(),
            started: Instant::now(),
        }
    }

    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    /// Records the outcome (`succeeded`, `retried`, `failed`, `released`, `lease_lost`) and the time taken.
    pub(crate) fn end(self, outcome: &'static str) {
        let elapsed = self.started.elapsed();
        self.span.record("outcome", outcome);
        self.span.record("duration_ms", elapsed.as_millis() as u64);
        meter::ran(&self.job, &self.queue, outcome, elapsed.as_secs_f64());
    }
}

/// Records why the current job run failed on its `run` span.
pub(crate) fn run_error(error: &str) {
    Span::current().record("error", error);
}

#[cfg(feature = "metrics")]
mod meter {
    use std::sync::Once;

    fn describe() {
        static DESCRIBED: Once = Once::new();
        DESCRIBED.call_once(|| {
            metrics::describe_counter!(super::DISPATCHED, "Jobs stored by a dispatch.");
            metrics::describe_counter!(super::SUCCEEDED, "Job runs that succeeded.");
            metrics::describe_counter!(super::RETRIED, "Failed attempts scheduled to run again.");
            metrics::describe_counter!(super::FAILED, "Jobs moved to the failed-jobs store.");
            metrics::describe_counter!(super::RELEASED, "Jobs handed back without running.");
            metrics::describe_histogram!(
                super::RUN_SECONDS,
                metrics::Unit::Seconds,
                "How long a job run took."
            );
            metrics::describe_gauge!(super::QUEUE_DEPTH, "Jobs per queue and state.");
        });
    }

    pub(super) fn dispatched(job: &str, queue: &str) {
        describe();
        metrics::counter!(super::DISPATCHED, "job" => job.to_string(), "queue" => queue.to_string()).increment(1);
    }

    pub(super) fn ran(job: &str, queue: &str, outcome: &'static str, seconds: f64) {
        describe();
        let name = match outcome {
            "succeeded" => super::SUCCEEDED,
            "retried" => super::RETRIED,
            "failed" | "cancelled" => super::FAILED,
            _ => super::RELEASED,
        };
        metrics::counter!(name, "job" => job.to_string(), "queue" => queue.to_string())
            .increment(1);
        if matches!(outcome, "succeeded" | "retried" | "failed") {
            metrics::histogram!(super::RUN_SECONDS, "job" => job.to_string(), "queue" => queue.to_string(), "outcome" => outcome)
                .record(seconds);
        }
    }

    pub(super) fn depth(stats: &[rakit_job_core::QueueStats]) {
        describe();
        for s in stats {
            for (state, n) in [
                ("ready", s.ready),
                ("scheduled", s.scheduled),
                ("reserved", s.reserved),
                ("failed", s.failed),
            ] {
                metrics::gauge!(super::QUEUE_DEPTH, "queue" => s.queue.clone(), "state" => state)
                    .set(n as f64);
            }
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod meter {
    pub(super) fn dispatched(_job: &str, _queue: &str) {}
    pub(super) fn ran(_job: &str, _queue: &str, _outcome: &'static str, _seconds: f64) {}
}

/// Sets the [`QUEUE_DEPTH`] gauge from the store's counts once (feature `metrics`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = rakit_job::Queue::memory();
/// rakit_job::observe::record_queue_depth(&queue).await.unwrap();
/// # });
/// ```
#[cfg(feature = "metrics")]
pub async fn record_queue_depth(queue: &crate::Queue) -> Result<(), crate::Error> {
    let stats = queue.driver().stats().await?;
    meter::depth(&stats);
    Ok(())
}

/// Keeps the [`QUEUE_DEPTH`] gauge up to date, reading the store's counts every `every`
/// in a background task, until the returned handle is aborted (feature `metrics`).
///
/// A failed read is logged and tried again at the next tick.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = rakit_job::Queue::memory();
/// let watcher = rakit_job::observe::watch_queue_depth(&queue, std::time::Duration::from_secs(15));
/// watcher.abort();
/// # });
/// ```
#[cfg(feature = "metrics")]
pub fn watch_queue_depth(
    queue: &crate::Queue,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let queue = queue.clone();
    let every = every.max(std::time::Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = record_queue_depth(&queue).await {
                tracing::warn!(target: "rakit_job", "cannot read the queue depth for metrics: {e}");
            }
        }
    })
}
