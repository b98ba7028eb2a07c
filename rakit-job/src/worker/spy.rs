//! A store for the worker's tests: the in-memory driver, recording the batch writes it is
//! asked for, and able to hold one chosen claim until the test lets it go.

use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, MemoryDriver, Millis, NewJob,
    PushOutcome, QueueStats, ReserveRequest, Reserved, Retry,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Holds the `hold`-th claim until [`open`](Gate::open) is called.
pub(crate) struct Gate {
    hold: usize,
    pub(crate) claims: AtomicUsize,
    pub(crate) holding: AtomicBool,
    /// Notified when the held claim starts waiting.
    pub(crate) started: Notify,
    open: Semaphore,
    /// Jobs the test saw run while the held claim waited.
    pub(crate) ran_while_held: AtomicUsize,
}

impl Gate {
    pub(crate) fn new(hold: usize) -> Gate {
        Gate {
            hold,
            claims: AtomicUsize::new(0),
            holding: AtomicBool::new(false),
            started: Notify::new(),
            open: Semaphore::new(0),
            ran_while_held: AtomicUsize::new(0),
        }
    }

    pub(crate) fn open(&self) {
        self.open.add_permits(1);
    }
}

/// The in-memory driver, watched.
#[derive(Default)]
pub(crate) struct Spy {
    memory: MemoryDriver,
    /// Each `ack_many` and `retry_many` call, with its size.
    pub(crate) batches: Mutex<Vec<(&'static str, usize)>>,
    gate: Option<Gate>,
}

impl Spy {
    /// A spy whose claims pass through the gate.
    pub(crate) fn gated(gate: Gate) -> Spy {
        Spy {
            gate: Some(gate),
            ..Spy::default()
        }
    }

    pub(crate) fn gate(&self) -> &Gate {
        self.gate.as_ref().expect("this spy has no gate")
    }
}

#[async_trait::async_trait]
impl Driver for Spy {
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        if let Some(gate) = &self.gate
            && gate.claims.fetch_add(1, Ordering::SeqCst) + 1 == gate.hold
        {
            gate.holding.store(true, Ordering::SeqCst);
            gate.started.notify_one();
            gate.open.acquire().await.unwrap().forget();
            gate.holding.store(false, Ordering::SeqCst);
        }
        self.memory.reserve(request).await
    }
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        self.batches.lock().unwrap().push(("ack", leases.len()));
        self.memory.ack_many(leases).await
    }
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        self.batches.lock().unwrap().push(("retry", retries.len()));
        self.memory.retry_many(retries).await
    }
    fn describe(&self) -> String {
        self.memory.describe()
    }
    fn capabilities(&self) -> Capabilities {
        self.memory.capabilities()
    }
    async fn check(&self) -> Result<(), DriverError> {
        self.memory.check().await
    }
    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        self.memory.push(job).await
    }
    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        self.memory.push_many(jobs).await
    }
    async fn extend(&self, lease: &Lease, ms: Millis) -> Result<bool, DriverError> {
        self.memory.extend(lease, ms).await
    }
    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        self.memory.ack(lease).await
    }
    async fn retry(&self, lease: &Lease, at: Millis, e: &str) -> Result<bool, DriverError> {
        self.memory.retry(lease, at, e).await
    }
    async fn release(&self, lease: &Lease, at: Millis) -> Result<bool, DriverError> {
        self.memory.release(lease, at).await
    }
    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        self.memory.fail(lease, error).await
    }
    async fn lock(&self, key: &str, owner: &str, ttl: Millis) -> Result<bool, DriverError> {
        self.memory.lock(key, owner, ttl).await
    }
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        self.memory.unlock(key, owner).await
    }
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.memory.queues().await
    }
    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.memory.stats().await
    }
    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        self.memory.failed(limit).await
    }
    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.memory.retry_failed(id).await
    }
    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.memory.forget_failed(id).await
    }
    async fn flush_failed(&self) -> Result<u64, DriverError> {
        self.memory.flush_failed().await
    }
    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        self.memory.wait(queues, timeout).await
    }
}
