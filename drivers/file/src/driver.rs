//! [`FileDriver`]: the store's operations over a folder, as a [`BlockingDriver`], which
//! rakit-job-core turns into a `Store` and an `Admin` running each call on tokio's
//! blocking pool.

use crate::done::Sweeper;
use crate::due::DueNames;
use crate::keys::Layout;
use crate::{
    cancel, corrupt, entries, failed, files, followups, fsio, jobs, listing, locks, notes,
    throughput,
};
use rakit_job_core::watch::{FileWatch, file_arrived};
use rakit_job_core::{
    BlockingDriver, CancelOutcome, Capabilities, DriverError, FailedSelect, Finish, JobId, JobInfo,
    JobPage, JobQuery, Lease, LeaseState, LockRequest, Locked, Millis, MinuteCount, NewJob,
    PushOutcome, QueueStats, ReserveRequest, Reserved, UNSIGNALLED_POLL, now_ms, run_blocking,
    validate_queue,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a worker process looks for acks a crash left half-way.
const RECOVER_EVERY: Duration = Duration::from_secs(5);
/// How often it clears unique windows that ran out and error texts a crash left behind.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// A job store in a folder: a folder per queue, a file per job, claimed by an atomic
/// rename, so any number of worker processes on one machine can share it. Clones share
/// one store.
///
/// ```no_run
/// use rakit_job_core::{NewJob, StoreExt};
///
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
/// driver.push_one(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileDriver {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    waker: FileWatch,
    upkeep: Mutex<Upkeep>,
    due: DueNames,
    sweeper: Sweeper,
}

/// When this process last looked for half-done acks, and last swept.
struct Upkeep {
    recovered: Instant,
    swept: Instant,
}

impl FileDriver {
    /// Opens the store in `folder`, creating the folder and its layout if needed, and
    /// finishing any ack a crash left half-way.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(folder: impl AsRef<Path>) -> Result<FileDriver, DriverError> {
        let layout = Layout::new(folder.as_ref().to_path_buf());
        let store = format!("file {}", layout.root().display());
        let prepared = layout.clone();
        run_blocking(move || {
            for dir in prepared.fixed_folders() {
                fsio::ensure_dir(&dir)?;
            }
            followups::recover(&prepared)
        })
        .await
        .map_err(|e| unreachable(store, e))?;
        let now = Instant::now();
        let sweeper = Sweeper::new(&layout);
        Ok(FileDriver {
            inner: Arc::new(Inner {
                layout,
                waker: FileWatch::new("the job folders", file_arrived),
                upkeep: Mutex::new(Upkeep {
                    recovered: now,
                    swept: now,
                }),
                due: DueNames::default(),
                sweeper,
            }),
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
        self.inner.layout.root()
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
        let layout = self.inner.layout.clone();
        run_blocking(move || {
            let dir = layout.corrupt();
            corrupt::list(&layout).map_err(|e| fsio::io_error(&dir, e))
        })
        .await
    }

    fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Wakes this process's idle workers when `due_now`.
    fn wake_if(&self, due_now: bool) {
        if due_now {
            self.inner.waker.poke();
        }
    }

    /// Now and then, from a worker's claim: finishes acks a crash left half-way, and
    /// sweeps what ran out.
    fn upkeep(&self) -> Result<(), DriverError> {
        let (recover, sweep) = {
            let mut last = self.inner.upkeep.lock().unwrap_or_else(|p| p.into_inner());
            let recover = last.recovered.elapsed() >= RECOVER_EVERY;
            let sweep = last.swept.elapsed() >= SWEEP_EVERY;
            if recover {
                last.recovered = Instant::now();
            }
            if sweep {
                last.swept = Instant::now();
            }
            (recover, sweep)
        };
        if recover {
            let due_now = followups::recover(self.layout())?;
            if due_now {
                self.inner.due.forget();
            }
            self.wake_if(due_now);
            self.inner.sweeper.poke();
        }
        if sweep {
            locks::sweep_windows(self.layout())?;
            notes::sweep(self.layout())?;
        }
        Ok(())
    }
}

fn unreachable(store: String, e: DriverError) -> DriverError {
    match e {
        DriverError::Broken { .. } | DriverError::Invalid(_) => e,
        other => DriverError::Unreachable {
            store,
            reason: other.to_string(),
        },
    }
}

impl BlockingDriver for FileDriver {
    fn describe(&self) -> String {
        format!("file {}", self.layout().root().display())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: true,
            wakes_when_due: true,
            durable: true,
        }
    }

    fn check(&self) -> Result<(), DriverError> {
        let layout = self.layout();
        let probed = (|| {
            for dir in layout.fixed_folders() {
                fsio::ensure_dir(&dir)?;
            }
            let root = layout.root();
            let probe = fsio::write_temp(root, b"", true).map_err(|e| fsio::io_error(root, e))?;
            std::fs::remove_file(&probe).map_err(|e| fsio::io_error(&probe, e))
        })();
        probed.map_err(|e| unreachable(self.describe(), e))
    }

    fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        let outcomes = jobs::push(self.layout(), &jobs)?;
        for job in &jobs {
            self.inner.due.stored(&job.queue, job.available_at);
        }
        self.wake_if(outcomes.contains(&PushOutcome::Stored));
        Ok(outcomes)
    }

    fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        if let Err(e) = self.upkeep() {
            tracing::warn!("the job folder's housekeeping failed and will be tried again ({e})");
        }
        jobs::reserve(self.layout(), &self.inner.due, request)
    }

    fn extend(&self, leases: &[Lease], lease_ms: Millis) -> Result<Vec<LeaseState>, DriverError> {
        jobs::extend(self.layout(), leases, lease_ms)
    }

    fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        let completed = jobs::complete(self.layout(), finished)?;
        if finished.iter().any(|f| matches!(f, Finish::Ack { .. })) {
            self.inner.sweeper.poke();
        }
        for finish in finished {
            match finish {
                Finish::Retry { available_at, .. } | Finish::Release { available_at, .. } => {
                    self.inner.due.stored(&finish.lease().queue, *available_at);
                }
                Finish::Ack { then, .. } => then
                    .iter()
                    .for_each(|job| self.inner.due.stored(&job.queue, job.available_at)),
                Finish::Fail { .. } => {}
            }
        }
        self.wake_if(completed.due_now);
        Ok(completed.written)
    }

    fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        locks::lock(self.layout(), request)
    }

    fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        locks::unlock(self.layout(), key, owner)
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let queues: Vec<String> = queues
            .iter()
            .filter(|q| validate_queue(q).is_ok())
            .cloned()
            .collect();
        let layout = self.layout().clone();
        let (dirs, next_due) = run_blocking(move || {
            // The folder of queues too: a push to a new queue creates its folder there.
            let mut dirs = vec![layout.queues()];
            fsio::ensure_dir(&dirs[0])?;
            for queue in &queues {
                files::prepare(&layout, queue)?;
                dirs.push(layout.ready(queue));
            }
            Ok((dirs, listing::next_due(&layout, &queues, now_ms())))
        })
        .await?;
        // Sleep no longer than until the next scheduled job or lease expiry comes due.
        let until_due = next_due.map(|t| Duration::from_millis((t - now_ms()).max(0) as u64 + 1));
        let limit = until_due.map_or(timeout, |d| d.min(timeout));
        if !self.inner.waker.wait(&dirs, limit).await {
            tokio::time::sleep(limit.min(UNSIGNALLED_POLL)).await;
        }
        Ok(())
    }

    fn queues(&self) -> Result<Vec<String>, DriverError> {
        listing::queues(self.layout())
    }

    fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        listing::stats(self.layout())
    }

    fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        listing::jobs(self.layout(), query)
    }

    fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        listing::job(self.layout(), id)
    }

    fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        cancel::cancel(self.layout(), id)
    }

    fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let retried = failed::retry(self.layout(), which)?;
        self.inner.due.forget();
        self.wake_if(retried > 0);
        Ok(retried)
    }

    fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        failed::forget(self.layout(), which)
    }

    fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        failed::prune(self.layout(), before)
    }

    fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        entries::put(self.layout(), kind, key, value, ttl_ms)
    }

    fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        entries::remove(self.layout(), kind, key)
    }

    fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        entries::list(self.layout(), kind)
    }

    fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        entries::get(self.layout(), kind, key)
    }

    fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        entries::swap(self.layout(), kind, key, expected, value)
    }

    fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        throughput::add(self.layout(), counts)
    }

    fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        throughput::read(self.layout(), since)
    }
}
