//! What a running job knows about itself: [`JobContext`].

use crate::ChainPosition;
use crate::queue::Queue;
use rakit_job_core::{JobId, Millis};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// A job run's identity and its line back to the worker.
///
/// ```
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct Ping;
///
/// impl Jobable for Ping {
///     async fn run(&self, ctx: &JobContext) -> JobResult {
///         println!("{} #{} on {}, attempt {}", ctx.name(), ctx.id(), ctx.queue(), ctx.attempt());
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone)]
pub struct JobContext {
    pub(crate) id: JobId,
    pub(crate) name: String,
    pub(crate) queue_name: String,
    pub(crate) attempt: u32,
    pub(crate) dispatched_at: Millis,
    pub(crate) chain: Option<ChainPosition>,
    pub(crate) cancel: CancelSignal,
    /// Where the job's own dispatches go.
    pub(crate) connection: Queue,
}

impl JobContext {
    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// The job's name (its slug).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue it was taken from.
    pub fn queue(&self) -> &str {
        &self.queue_name
    }

    /// Which run this is: 1 on the first, 2 on the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the job was dispatched.
    pub fn dispatched_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.dispatched_at.max(0) as u64)
    }

    /// Where the job stands in its chain ([`PendingDispatch::then`](crate::PendingDispatch::then)),
    /// or `None` when it was dispatched alone.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Step;
    ///
    /// impl Jobable for Step {
    ///     async fn run(&self, ctx: &JobContext) -> JobResult {
    ///         if let Some(link) = ctx.chain() {
    ///             println!("step {} of {}", link.index + 1, link.len);
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn chain(&self) -> Option<ChainPosition> {
        self.chain
    }

    /// True once the worker wants the job to stop: its timeout passed, it was cancelled,
    /// its lease was lost, or the worker is shutting down. The job is stopped for good at
    /// its next `.await` after a short grace; a job that checks this can stop cleanly first.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the worker wants the job to stop (see [`is_cancelled`](Self::is_cancelled));
    /// select on it in long loops.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use std::time::Duration;
    ///
    /// #[job(timeout = "1h")]
    /// pub struct Export { pub rows: u64 }
    ///
    /// impl Jobable for Export {
    ///     async fn run(&self, ctx: &JobContext) -> JobResult {
    ///         for _row in 0..self.rows {
    ///             tokio::select! {
    ///                 _ = ctx.cancelled() => return Err("stopped before the export was complete".into()),
    ///                 _ = tokio::time::sleep(Duration::from_millis(1)) => {} // one row's work
    ///             }
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

/// A one-way "please stop" flag that can be awaited.
#[derive(Clone, Default)]
pub(crate) struct CancelSignal(Arc<CancelInner>);

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl CancelSignal {
    pub(crate) fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
