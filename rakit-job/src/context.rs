//! What a running job knows about itself: [`JobContext`].

use crate::dispatch::PendingDispatch;
use crate::job::JobSpec;
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
    pub(crate) cancel: CancelSignal,
    pub(crate) queue: Queue,
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

    /// True once the worker wants the job to stop (timeout, lost lease or shutdown).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the worker wants the job to stop; select on it in long loops.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Starts a follow-up dispatch on the same connection this job came from.
    pub fn dispatch<J: JobSpec>(&self, job: J) -> PendingDispatch<J> {
        J::dispatch(job).via(&self.queue)
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
