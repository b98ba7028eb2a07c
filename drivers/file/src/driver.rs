//! [`FileDriver`]: the [`Driver`] trait over a folder, every file step on tokio's
//! blocking pool so the async runtime never stalls on the disk.

use crate::layout::Layout;
use crate::watch::Waker;
use crate::{corrupt, failed, fsio, keys, queue, stats};
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, now_ms, validate_queue,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A job store in a folder: a folder per queue, a file per job, claimed by an atomic
/// rename, so any number of worker processes on one machine can share it.
///
/// ```no_run
/// use rakit_job_core::{Driver, NewJob};
///
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
/// driver.push(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
/// # Ok(()) }
/// ```
pub struct FileDriver {
    layout: Arc<Layout>,
    waker: Waker,
}

impl FileDriver {
    /// Opens the store in `folder`, creating the folder and its layout if needed.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(folder: impl AsRef<Path>) -> Result<FileDriver, DriverError> {
        let root = folder.as_ref().to_path_buf();
        let layout = Layout::new(root.clone());
        let store = format!("file {}", root.display());
        let prepared = layout.clone();
        blocking(move || {
            for dir in prepared.fixed_folders() {
                fsio::ensure_dir(&dir)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| DriverError::Unreachable {
            store,
            reason: e.to_string(),
        })?;
        Ok(FileDriver {
            layout: Arc::new(layout),
            waker: Waker::new(),
        })
    }

    /// The folder this store lives in.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
    /// assert!(driver.folder().ends_with("storage/jobs"));
    /// # Ok(()) }
    /// ```
    pub fn folder(&self) -> &Path {
        self.layout.root()
    }

    /// Files set aside as corrupt (half-written by a crash, unreadable, or not job files),
    /// oldest first; each was also reported with a warning when it was found.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
    /// for path in driver.corrupt_files().await? {
    ///     eprintln!("inspect {}", path.display());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn corrupt_files(&self) -> Result<Vec<PathBuf>, DriverError> {
        self.run(|layout| {
            let dir = layout.corrupt();
            corrupt::list(layout).map_err(|e| fsio::io_error(&dir, e))
        })
        .await
    }

    async fn run<T, F>(&self, work: F) -> Result<T, DriverError>
    where
        T: Send + 'static,
        F: FnOnce(&Layout) -> Result<T, DriverError> + Send + 'static,
    {
        let layout = self.layout.clone();
        blocking(move || work(&layout)).await
    }
}

/// Runs file-system work on the blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, DriverError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, DriverError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DriverError::store(format!("a file driver task stopped: {e}")))?
}

#[async_trait::async_trait]
impl Driver for FileDriver {
    fn describe(&self) -> String {
        format!("file {}", self.layout.root().display())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: true,
            durable: true,
            has_schema: false,
        }
    }

    async fn check(&self) -> Result<(), DriverError> {
        let store = self.describe();
        self.run(|layout| {
            for dir in layout.fixed_folders() {
                fsio::ensure_dir(&dir)?;
            }
            let probe = fsio::write_temp(layout.root(), b"")
                .map_err(|e| fsio::io_error(layout.root(), e))?;
            std::fs::remove_file(&probe).map_err(|e| fsio::io_error(&probe, e))
        })
        .await
        .map_err(|e| DriverError::Unreachable {
            store,
            reason: e.to_string(),
        })
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        let outcome = self.run(move |layout| queue::push(layout, &job)).await?;
        if outcome == PushOutcome::Stored {
            self.waker.poke();
        }
        Ok(outcome)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let want = queue::Want {
            queues: request.queues.to_vec(),
            name: request.name.map(str::to_string),
            limit: request.limit,
            lease_ms: request.lease_ms,
        };
        self.run(move |layout| queue::reserve(layout, &want)).await
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        let lease = lease.clone();
        self.run(move |layout| queue::extend(layout, &lease, lease_ms))
            .await
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let lease = lease.clone();
        self.run(move |layout| queue::ack(layout, &lease)).await
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        let (lease, error) = (lease.clone(), error.to_string());
        self.run(move |layout| queue::retry(layout, &lease, available_at, &error))
            .await
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        let lease = lease.clone();
        let released = self
            .run(move |layout| queue::release(layout, &lease, available_at))
            .await?;
        if released {
            self.waker.poke();
        }
        Ok(released)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let (lease, error) = (lease.clone(), error.to_string());
        self.run(move |layout| queue::fail(layout, &lease, &error))
            .await
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.run(move |layout| keys::lock(layout, &key, &owner, ttl_ms))
            .await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let (key, owner) = (key.to_string(), owner.to_string());
        self.run(move |layout| keys::unlock(layout, &key, &owner))
            .await
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.run(stats::queues).await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.run(stats::stats).await
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        self.run(move |layout| failed::list(layout, limit)).await
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        let id = id.clone();
        let retried = self.run(move |layout| failed::retry(layout, &id)).await?;
        if retried {
            self.waker.poke();
        }
        Ok(retried)
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        let id = id.clone();
        self.run(move |layout| failed::forget(layout, &id)).await
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        self.run(failed::flush).await
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let queues: Vec<String> = queues
            .iter()
            .filter(|q| validate_queue(q).is_ok())
            .cloned()
            .collect();
        let (dirs, next_due) = self
            .run(move |layout| {
                let mut dirs = Vec::with_capacity(queues.len());
                for queue in &queues {
                    queue::guard(layout, queue)?;
                    fsio::ensure_dir(&layout.ready(queue))?;
                    fsio::ensure_dir(&layout.reserved(queue))?;
                    dirs.push(layout.ready(queue));
                }
                Ok((dirs, stats::next_due(layout, &queues, now_ms())))
            })
            .await?;
        // Sleep no longer than until the next scheduled job or lease expiry comes due.
        let until_due = next_due.map(|t| Duration::from_millis((t - now_ms()).max(0) as u64 + 1));
        let limit = until_due.map_or(timeout, |d| d.min(timeout));
        self.waker.wait(&dirs, limit).await;
        Ok(())
    }
}
