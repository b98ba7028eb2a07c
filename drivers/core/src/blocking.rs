//! [`BlockingDriver`]: the synchronous twin of [`Store`] and [`Admin`], for stores whose
//! every step blocks a thread (a folder on disk, a blocking network client).
//!
//! Such a store writes its operations once, as plain functions, and implements this twin.
//! The one generic adapter below makes every [`BlockingDriver`] a [`Store`] and an
//! [`Admin`] by running each call on tokio's blocking pool, so the async runtime never
//! stalls on the disk or the network. Only [`BlockingDriver::wait`] stays async: it
//! waits for a signal, not for a thread.

use crate::threads;
use crate::{
    Admin, CancelOutcome, Capabilities, DriverError, FailedSelect, Finish, JobId, JobInfo, JobPage,
    JobQuery, Lease, LeaseState, LockRequest, Locked, Millis, MinuteCount, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Store,
};
use std::future::Future;
use std::time::Duration;

/// A store whose steps block: the same operations as [`Store`] and [`Admin`], as plain
/// functions. Implementing it makes the type a [`Store`], an [`Admin`] and so a
/// [`Driver`](crate::Driver); a clone must be cheap (an `Arc` inside), since each call
/// moves one to a blocking thread.
///
/// ```
/// use rakit_job_core::{BlockingDriver, Driver};
/// use std::sync::Arc;
///
/// fn shared<S: BlockingDriver>(store: S) -> Arc<dyn Driver> {
///     Arc::new(store)
/// }
/// ```
pub trait BlockingDriver: Clone + Send + Sync + 'static {
    /// See [`Store::describe`].
    fn describe(&self) -> String;
    /// See [`Store::capabilities`].
    fn capabilities(&self) -> Capabilities;
    /// See [`Store::check`].
    fn check(&self) -> Result<(), DriverError>;
    /// See [`Store::push`].
    fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError>;
    /// See [`Store::reserve`].
    fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError>;
    /// See [`Store::extend`].
    fn extend(&self, leases: &[Lease], lease_ms: Millis) -> Result<Vec<LeaseState>, DriverError>;
    /// See [`Store::complete`].
    fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError>;
    /// See [`Store::lock`].
    fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError>;
    /// See [`Store::unlock`].
    fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError>;

    /// See [`Store::wait`]; async, since it waits for a signal rather than a thread.
    fn wait(
        &self,
        _queues: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<(), DriverError>> + Send {
        async move {
            tokio::time::sleep(timeout).await;
            Ok(())
        }
    }

    /// See [`Admin::queues`].
    fn queues(&self) -> Result<Vec<String>, DriverError>;
    /// See [`Admin::stats`].
    fn stats(&self) -> Result<Vec<QueueStats>, DriverError>;
    /// See [`Admin::jobs`].
    fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError>;
    /// See [`Admin::job`].
    fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError>;
    /// See [`Admin::cancel`].
    fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError>;
    /// See [`Admin::retry_failed`].
    fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError>;
    /// See [`Admin::forget_failed`].
    fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError>;
    /// See [`Admin::prune_failed`].
    fn prune_failed(&self, before: Millis) -> Result<u64, DriverError>;
    /// See [`Admin::put_entry`].
    fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError>;
    /// See [`Admin::remove_entry`].
    fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError>;
    /// See [`Admin::entries`].
    fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError>;
    /// See [`Admin::entry`].
    fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError>;
    /// See [`Admin::swap_entry`].
    fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError>;
    /// See [`Admin::add_throughput`].
    fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError>;
    /// See [`Admin::throughput`].
    fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError>;
}

/// Runs blocking store work on the store threads (a few, kept for the process's life:
/// see `threads.rs` for why not tokio's blocking pool) and hands back its result; a
/// panic in `work` comes back as an error.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sum = rakit_job_core::run_blocking(|| Ok(2 + 2)).await?;
/// assert_eq!(sum, 4);
/// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
/// ```
pub async fn run_blocking<T, F>(work: F) -> Result<T, DriverError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DriverError> + Send + 'static,
{
    let (done, result) = tokio::sync::oneshot::channel();
    let task: threads::Task = Box::new(move || {
        let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    });
    if let Err(task) = threads::run(task) {
        tokio::task::spawn_blocking(task);
    }
    match result.await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => Err(DriverError::store(format!(
            "a store step panicked ({}); this is a bug in the store, please report it",
            panic_text(panic)
        ))),
        Err(_) => Err(DriverError::store(
            "a store step stopped before it finished; try again",
        )),
    }
}

/// The message a panic carried, for an error that names it.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("disk on {}", "fire")).unwrap_err();
/// assert_eq!(rakit_job_core::panic_text(caught), "disk on fire");
/// ```
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

/// A [`ReserveRequest`] that owns its text, so it can move to a blocking thread.
struct OwnedReserve {
    queues: Vec<String>,
    name: Option<String>,
    limit: usize,
    lease_ms: Millis,
    worker: String,
}

impl OwnedReserve {
    fn new(request: &ReserveRequest<'_>) -> Self {
        OwnedReserve {
            queues: request.queues.to_vec(),
            name: request.name.map(str::to_string),
            limit: request.limit,
            lease_ms: request.lease_ms,
            worker: request.worker.to_string(),
        }
    }

    fn request(&self) -> ReserveRequest<'_> {
        ReserveRequest {
            queues: &self.queues,
            name: self.name.as_deref(),
            limit: self.limit,
            lease_ms: self.lease_ms,
            worker: &self.worker,
        }
    }
}

#[async_trait::async_trait]
impl<T: BlockingDriver> Store for T {
    fn describe(&self) -> String {
        BlockingDriver::describe(self)
    }

    fn capabilities(&self) -> Capabilities {
        BlockingDriver::capabilities(self)
    }

    async fn check(&self) -> Result<(), DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::check(&me)).await
    }

    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::push(&me, jobs)).await
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let (me, owned) = (self.clone(), OwnedReserve::new(request));
        run_blocking(move || BlockingDriver::reserve(&me, &owned.request())).await
    }

    async fn extend(
        &self,
        leases: &[Lease],
        lease_ms: Millis,
    ) -> Result<Vec<LeaseState>, DriverError> {
        let (me, leases) = (self.clone(), leases.to_vec());
        run_blocking(move || BlockingDriver::extend(&me, &leases, lease_ms)).await
    }

    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        let (me, finished) = (self.clone(), finished.to_vec());
        run_blocking(move || BlockingDriver::complete(&me, &finished)).await
    }

    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        let me = self.clone();
        let (key, owner) = (request.key.to_string(), request.owner.to_string());
        let (capacity, ttl_ms) = (request.capacity, request.ttl_ms);
        run_blocking(move || {
            let request = LockRequest {
                key: &key,
                capacity,
                owner: &owner,
                ttl_ms,
            };
            BlockingDriver::lock(&me, &request)
        })
        .await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let (me, key, owner) = (self.clone(), key.to_string(), owner.to_string());
        run_blocking(move || BlockingDriver::unlock(&me, &key, &owner)).await
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        BlockingDriver::wait(self, queues, timeout).await
    }
}

#[async_trait::async_trait]
impl<T: BlockingDriver> Admin for T {
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::queues(&me)).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::stats(&me)).await
    }

    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        let (me, query) = (self.clone(), query.clone());
        run_blocking(move || BlockingDriver::jobs(&me, &query)).await
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        let (me, id) = (self.clone(), id.clone());
        run_blocking(move || BlockingDriver::job(&me, &id)).await
    }

    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        let (me, id) = (self.clone(), id.clone());
        run_blocking(move || BlockingDriver::cancel(&me, &id)).await
    }

    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let (me, which) = (self.clone(), which.clone());
        run_blocking(move || BlockingDriver::retry_failed(&me, &which)).await
    }

    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let (me, which) = (self.clone(), which.clone());
        run_blocking(move || BlockingDriver::forget_failed(&me, &which)).await
    }

    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::prune_failed(&me, before)).await
    }

    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        let me = self.clone();
        let (kind, key, value) = (kind.to_string(), key.to_string(), value.to_string());
        run_blocking(move || BlockingDriver::put_entry(&me, &kind, &key, &value, ttl_ms)).await
    }

    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        let (me, kind, key) = (self.clone(), kind.to_string(), key.to_string());
        run_blocking(move || BlockingDriver::remove_entry(&me, &kind, &key)).await
    }

    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        let (me, kind) = (self.clone(), kind.to_string());
        run_blocking(move || BlockingDriver::entries(&me, &kind)).await
    }

    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        let (me, kind, key) = (self.clone(), kind.to_string(), key.to_string());
        run_blocking(move || BlockingDriver::entry(&me, &kind, &key)).await
    }

    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        let (me, kind, key) = (self.clone(), kind.to_string(), key.to_string());
        let (expected, value) = (expected.map(str::to_string), value.to_string());
        run_blocking(move || {
            BlockingDriver::swap_entry(&me, &kind, &key, expected.as_deref(), &value)
        })
        .await
    }

    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        let (me, counts) = (self.clone(), counts.to_vec());
        run_blocking(move || BlockingDriver::add_throughput(&me, &counts)).await
    }

    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        let me = self.clone();
        run_blocking(move || BlockingDriver::throughput(&me, since)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_step_comes_back_as_an_error_and_the_threads_go_on() {
        let failed = run_blocking(|| -> Result<(), DriverError> { panic!("disk on fire") }).await;
        let message = failed.unwrap_err().to_string();
        assert!(message.contains("disk on fire"), "{message}");
        assert_eq!(run_blocking(|| Ok(7)).await.unwrap(), 7);
    }
}
