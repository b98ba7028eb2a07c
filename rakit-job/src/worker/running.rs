//! The jobs a worker is running right now: what upkeep renews (their leases and the locks
//! they hold) and what it, timeouts and shutdown ask to stop. A job stays here until its
//! code has really ended, so its lease and locks are never let go while it still runs.

use crate::context::CancelSignal;
use rakit_job_core::Lease;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Why the worker wants a job to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Its `timeout` passed.
    Timeout,
    /// Someone cancelled it.
    Cancelled,
    /// Its lease was lost: another worker may be running it.
    LeaseLost,
    /// The worker is shutting down.
    Shutdown,
}

/// A job's stop request: the first reason wins, and the job's [`JobContext`]
/// cancellation fires at once, so a job can stop cleanly before it is aborted.
///
/// [`JobContext`]: crate::JobContext
#[derive(Default)]
pub(crate) struct Stop {
    ctx: CancelSignal,
    reason: Mutex<Option<StopReason>>,
    asked: Notify,
}

impl Stop {
    /// A stop request tied to the job's context signal.
    pub(crate) fn new(ctx: CancelSignal) -> Stop {
        Stop {
            ctx,
            ..Stop::default()
        }
    }

    /// Asks the job to stop for `reason`, unless it was already asked.
    pub(crate) fn request(&self, reason: StopReason) {
        let mut current = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none() {
            *current = Some(reason);
            self.ctx.cancel();
            self.asked.notify_waiters();
        }
    }

    /// Why the job was asked to stop, if it was.
    pub(crate) fn reason(&self) -> Option<StopReason> {
        *self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes once the job was asked to stop, with the reason.
    pub(crate) async fn requested(&self) -> StopReason {
        loop {
            let asked = self.asked.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            asked.await;
        }
    }
}

/// A lock a running job holds: one of `capacity` holds on `key`, owned by its lease.
#[derive(Clone, Debug)]
pub(crate) struct HeldLock {
    pub(crate) key: String,
    pub(crate) capacity: u32,
}

struct Entry {
    lease: Lease,
    locks: Vec<HeldLock>,
    stop: Arc<Stop>,
}

/// A running job as upkeep sees it.
pub(crate) struct Snapshot {
    pub(crate) lease: Lease,
    pub(crate) locks: Vec<HeldLock>,
    pub(crate) stop: Arc<Stop>,
}

/// The running jobs of one worker, by lease token.
#[derive(Default)]
pub(crate) struct RunningJobs {
    jobs: Mutex<HashMap<u64, Entry>>,
    /// Set once every job was asked to stop: a job added later is asked at once.
    closing: Mutex<Option<StopReason>>,
}

impl RunningJobs {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a job that is about to run; a job added while the worker stops is asked to stop at once.
    pub(crate) fn add(&self, lease: &Lease, locks: Vec<HeldLock>, stop: Arc<Stop>) {
        let closing = *self.closing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = closing {
            stop.request(reason);
        }
        let entry = Entry {
            lease: lease.clone(),
            locks,
            stop,
        };
        self.jobs().insert(lease.token, entry);
    }

    /// Removes a job whose code has ended.
    pub(crate) fn remove(&self, lease: &Lease) {
        self.jobs().remove(&lease.token);
    }

    /// Every running job, for one round of renewals.
    pub(crate) fn snapshot(&self) -> Vec<Snapshot> {
        self.jobs()
            .values()
            .map(|e| Snapshot {
                lease: e.lease.clone(),
                locks: e.locks.clone(),
                stop: e.stop.clone(),
            })
            .collect()
    }

    /// Asks every running job, and any added from now on, to stop for `reason`.
    pub(crate) fn stop_all(&self, reason: StopReason) {
        *self.closing.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        for entry in self.jobs().values() {
            entry.stop.request(reason);
        }
    }

    /// How many jobs are running.
    pub(crate) fn len(&self) -> usize {
        self.jobs().len()
    }
}

/// What a worker has done, shared with its heartbeat.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) done: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Runs that stored jobs as they ended (a chain's next job, a batch's callbacks), so
    /// a worker that stops when the queues are empty looks again.
    pub(crate) followed: AtomicU64,
}

impl Counters {
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
