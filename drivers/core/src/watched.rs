//! [`Watched`]: one forwarding wrapper for stores that only want to observe (the test
//! fake, the worker's test spies). It forwards every method to the store inside and calls
//! [`Hooks`], so a wrapper writes only the hooks it needs.

use crate::{
    Admin, CancelOutcome, Capabilities, Driver, DriverError, FailedSelect, Finish, JobId, JobInfo,
    JobPage, JobQuery, Lease, LeaseState, LockRequest, Locked, Millis, MinuteCount, NewJob,
    PushOutcome, QueueStats, ReserveRequest, Reserved, Store,
};
use std::sync::Arc;
use std::time::Duration;

/// What a [`Watched`] store tells its observer; every hook does nothing by default.
#[async_trait::async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// The name the wrapped store gives itself, from the inner store's.
    fn describe(&self, inner: String) -> String {
        inner
    }

    /// Called before each reserve reaches the store; it may hold the claim back.
    async fn reserving(&self, _request: &ReserveRequest<'_>) {}

    /// Called after a push, with the jobs and what became of each.
    fn pushed(&self, _jobs: &[NewJob], _outcomes: &[PushOutcome]) {}

    /// Called after final outcomes were written, with what each write did.
    fn completed(&self, _finished: &[Finish], _written: &[bool]) {}

    /// Called after a renewal with what the store found; a test may change the answer
    /// here to play a lost lease.
    fn renewed(&self, _leases: &[Lease], _states: &mut [LeaseState]) {}
}

/// A store that forwards to another and reports to its [`Hooks`].
///
/// ```
/// use rakit_job_core::{Hooks, MemoryDriver, NewJob, PushOutcome, StoreExt, Watched};
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
///
/// #[derive(Default)]
/// struct CountPushes(AtomicUsize);
/// impl Hooks for CountPushes {
///     fn pushed(&self, jobs: &[NewJob], _: &[PushOutcome]) {
///         self.0.fetch_add(jobs.len(), Ordering::SeqCst);
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Watched::new(Arc::new(MemoryDriver::new()), CountPushes::default());
/// store.push_one(NewJob::now("ping", "default", "{}")).await?;
/// assert_eq!(store.hooks().0.load(Ordering::SeqCst), 1);
/// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
/// ```
pub struct Watched<H> {
    inner: Arc<dyn Driver>,
    hooks: H,
}

impl<H: Hooks> Watched<H> {
    /// Wraps `inner`, reporting to `hooks`.
    pub fn new(inner: Arc<dyn Driver>, hooks: H) -> Self {
        Watched { inner, hooks }
    }

    /// The observer.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The store inside.
    pub fn inner(&self) -> &Arc<dyn Driver> {
        &self.inner
    }
}

#[async_trait::async_trait]
impl<H: Hooks> Store for Watched<H> {
    fn describe(&self) -> String {
        self.hooks.describe(self.inner.describe())
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn check(&self) -> Result<(), DriverError> {
        self.inner.check().await
    }
    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        let outcomes = self.inner.push(jobs.clone()).await?;
        self.hooks.pushed(&jobs, &outcomes);
        Ok(outcomes)
    }
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        self.hooks.reserving(request).await;
        self.inner.reserve(request).await
    }
    async fn extend(&self, leases: &[Lease], ms: Millis) -> Result<Vec<LeaseState>, DriverError> {
        let mut states = self.inner.extend(leases, ms).await?;
        self.hooks.renewed(leases, &mut states);
        Ok(states)
    }
    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        let written = self.inner.complete(finished).await?;
        self.hooks.completed(finished, &written);
        Ok(written)
    }
    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        self.inner.lock(request).await
    }
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        self.inner.unlock(key, owner).await
    }
    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        self.inner.wait(queues, timeout).await
    }
}

#[async_trait::async_trait]
impl<H: Hooks> Admin for Watched<H> {
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.inner.queues().await
    }
    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.inner.stats().await
    }
    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        self.inner.jobs(query).await
    }
    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        self.inner.job(id).await
    }
    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        self.inner.cancel(id).await
    }
    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        self.inner.retry_failed(which).await
    }
    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        self.inner.forget_failed(which).await
    }
    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        self.inner.prune_failed(before).await
    }
    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl: Option<Millis>,
    ) -> Result<(), DriverError> {
        self.inner.put_entry(kind, key, value, ttl).await
    }
    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        self.inner.remove_entry(kind, key).await
    }
    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        self.inner.entries(kind).await
    }
    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        self.inner.entry(kind, key).await
    }
    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        self.inner.swap_entry(kind, key, expected, value).await
    }
    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        self.inner.add_throughput(counts).await
    }
    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        self.inner.throughput(since).await
    }
}
