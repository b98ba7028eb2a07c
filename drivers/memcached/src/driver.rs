//! [`MemcachedDriver`]: the store's operations over memcached, as a [`BlockingDriver`],
//! which rakit-job-core turns into a `Store` and an `Admin` running each call on tokio's
//! blocking pool (the `memcache` client blocks).

use crate::client::Mc;
use crate::jobs::Woke;
use crate::keys::Keys;
use crate::server::Server;
use crate::{cancel, entries, failed, jobs, listing, locks, throughput};
use rakit_job_core::{
    Backoff, BlockingDriver, CancelOutcome, Capabilities, DriverError, FailedSelect, Finish, JobId,
    JobInfo, JobPage, JobQuery, Lease, LeaseState, LockRequest, Locked, Millis, MinuteCount,
    NewJob, PushOutcome, QueueStats, ReserveRequest, Reserved, redact_url, run_blocking,
    validate_identifier,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A job store in memcached: fast and shared by every process that reaches the server,
/// but not durable — an evicted or restarted server loses jobs (see `docs/memcached.md`).
/// Clones share one connection pool.
///
/// ```no_run
/// use rakit_job_core::{NewJob, StoreExt};
///
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
/// driver.push_one(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcachedDriver {
    inner: Arc<Inner>,
}

struct Inner {
    server: Server,
    url: String,
    prefix: String,
    /// Wakes this process's idle workers when a job became due through this driver.
    due: Notify,
    /// memcached cannot wake workers of other processes: they poll, often while jobs flow.
    backoff: Backoff,
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
        let store = format!("memcached {}", redact_url(url));
        let target = url.to_string();
        let mc = run_blocking(move || Mc::connect(&target, store)).await?;
        Ok(MemcachedDriver {
            inner: Arc::new(Inner {
                server: Server::new(mc, Keys::new(prefix)),
                url: redact_url(url),
                prefix: prefix.to_string(),
                due: Notify::new(),
                backoff: Backoff::default(),
            }),
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
        self.inner.server.vanished()
    }

    fn server(&self) -> &Server {
        &self.inner.server
    }

    /// Wakes this process's idle workers when `due_now`.
    fn wake_if(&self, due_now: bool) {
        if due_now {
            self.inner.due.notify_waiters();
        }
    }
}

impl BlockingDriver for MemcachedDriver {
    fn describe(&self) -> String {
        format!(
            "memcached {} (prefix {})",
            self.inner.url, self.inner.prefix
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: false,
            wakes_when_due: false,
            durable: false,
        }
    }

    fn check(&self) -> Result<(), DriverError> {
        self.server().mc.version().map(|_| ())
    }

    fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        let outcomes = jobs::push(self.server(), &jobs)?;
        let due_now = jobs
            .iter()
            .zip(&outcomes)
            .any(|(j, o)| *o == PushOutcome::Stored && j.available_at <= rakit_job_core::now_ms());
        self.wake_if(due_now);
        Ok(outcomes)
    }

    fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let mut woke = Woke::default();
        let taken = jobs::reserve(self.server(), request, &mut woke)?;
        self.inner.backoff.record(taken.len());
        self.wake_if(woke.due_now);
        Ok(taken)
    }

    fn extend(&self, leases: &[Lease], lease_ms: Millis) -> Result<Vec<LeaseState>, DriverError> {
        jobs::extend(self.server(), leases, lease_ms)
    }

    fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        let mut woke = Woke::default();
        let written = jobs::complete(self.server(), finished, &mut woke)?;
        self.wake_if(woke.due_now);
        Ok(written)
    }

    fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        locks::lock(self.server(), request)
    }

    fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        locks::unlock(self.server(), key, owner)
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        // memcached cannot signal; only jobs made due through this driver wake early, and
        // the poll is short while jobs flow.
        let pause = self.inner.backoff.pause(timeout);
        let _ = tokio::time::timeout(pause, self.inner.due.notified()).await;
        Ok(())
    }

    fn queues(&self) -> Result<Vec<String>, DriverError> {
        listing::queues(self.server())
    }

    fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        listing::stats(self.server())
    }

    fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        listing::jobs(self.server(), query)
    }

    fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        listing::job(self.server(), id)
    }

    fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        cancel::cancel(self.server(), id)
    }

    fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let retried = failed::retry(self.server(), which)?;
        self.wake_if(retried > 0);
        Ok(retried)
    }

    fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        failed::forget(self.server(), which)
    }

    fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        failed::prune(self.server(), before)
    }

    fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        entries::put(self.server(), kind, key, value, ttl_ms)
    }

    fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        entries::remove(self.server(), kind, key)
    }

    fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        entries::list(self.server(), kind)
    }

    fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        entries::get(self.server(), kind, key)
    }

    fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        entries::swap(self.server(), kind, key, expected, value)
    }

    fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        throughput::add(self.server(), counts)
    }

    fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        throughput::read(self.server(), since)
    }
}
