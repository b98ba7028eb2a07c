//! [`MemcachedDriver`]: the [`Driver`] trait over memcached. The `memcache` client
//! blocks, so every operation runs on tokio's blocking pool and never stalls the runtime.

use crate::client::Mc;
use crate::keys::Keys;
use crate::store::Store;
use crate::{failed, jobs, locks, queues};
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, redact_url, validate_identifier,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A job store in memcached: fast and shared by every process that reaches the server,
/// but not durable — an evicted or restarted server loses jobs (see `docs/memcached.md`).
///
/// ```no_run
/// use rakit_job_core::{Driver, NewJob};
///
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
/// driver.push(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
/// # Ok(()) }
/// ```
pub struct MemcachedDriver {
    store: Arc<Store>,
    url: String,
    prefix: String,
    /// Wakes this process's idle workers after a push through this driver.
    pushed: Notify,
}

impl MemcachedDriver {
    /// Connects to the server at `url` (`memcache://host:port`), keeping every key under `prefix`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, prefix: &str) -> Result<MemcachedDriver, DriverError> {
        validate_identifier(prefix, true)?;
        let store_name = format!("memcached {}", redact_url(url));
        let (target, described) = (url.to_string(), store_name.clone());
        let mc = tokio::task::spawn_blocking(move || Mc::connect(&target, described))
            .await
            .map_err(|e| DriverError::Unreachable {
                store: store_name,
                reason: e.to_string(),
            })??;
        Ok(MemcachedDriver {
            store: Arc::new(Store::new(mc, Keys::new(prefix))),
            url: redact_url(url),
            prefix: prefix.to_string(),
            pushed: Notify::new(),
        })
    }

    /// Jobs this driver found gone from the server (evicted, flushed, or lost in a
    /// restart), most recent last; each was also reported with a warning and skipped.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
    /// for id in driver.vanished_jobs() {
    ///     eprintln!("job {id} was lost by memcached");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn vanished_jobs(&self) -> Vec<JobId> {
        self.store.vanished()
    }

    async fn run<T, F>(&self, work: F) -> Result<T, DriverError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, DriverError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| DriverError::store(format!("a memcached driver task stopped: {e}")))?
    }
}

#[async_trait::async_trait]
impl Driver for MemcachedDriver {
    fn describe(&self) -> String {
        format!("memcached {} (prefix {})", self.url, self.prefix)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: false,
            durable: false,
            has_schema: false,
        }
    }

    async fn check(&self) -> Result<(), DriverError> {
        self.run(|store| store.mc.version().map(|_| ())).await
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        let outcome = self.run(move |store| jobs::push(store, &job)).await?;
        if outcome == PushOutcome::Stored {
            self.pushed.notify_waiters();
        }
        Ok(outcome)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let want = jobs::Want {
            queues: request.queues.to_vec(),
            name: request.name.map(str::to_string),
            limit: request.limit,
            lease_ms: request.lease_ms,
        };
        self.run(move |store| jobs::reserve(store, &want)).await
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        let lease = lease.clone();
        self.run(move |store| jobs::extend(store, &lease, lease_ms))
            .await
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let lease = lease.clone();
        self.run(move |store| jobs::ack(store, &lease)).await
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        let (lease, error) = (lease.clone(), error.to_string());
        self.run(move |store| jobs::retry(store, &lease, available_at, &error))
            .await
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        let lease = lease.clone();
        let released = self
            .run(move |store| jobs::release(store, &lease, available_at))
            .await?;
        if released {
            self.pushed.notify_waiters();
        }
        Ok(released)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let (lease, error) = (lease.clone(), error.to_string());
        self.run(move |store| jobs::fail(store, &lease, &error))
            .await
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.run(move |store| locks::lock(store, &key, &owner, ttl_ms))
            .await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.run(move |store| locks::unlock(store, &key, &owner))
            .await
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.run(queues::queues).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.run(queues::stats).await
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        self.run(move |store| failed::list(store, limit)).await
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        let id = id.clone();
        let retried = self.run(move |store| failed::retry(store, &id)).await?;
        if retried {
            self.pushed.notify_waiters();
        }
        Ok(retried)
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        let id = id.clone();
        self.run(move |store| failed::forget(store, &id)).await
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        self.run(failed::flush).await
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        // memcached cannot signal; only pushes through this driver wake early.
        let _ = tokio::time::timeout(timeout, self.pushed.notified()).await;
        Ok(())
    }
}
