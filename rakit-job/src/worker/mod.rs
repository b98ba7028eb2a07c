//! The worker: fetches jobs in priority order and runs them, [`execute`] one job at a
//! time per slot, [`complete`] writing each outcome back, until shutdown, `max_jobs`,
//! or an empty queue.

mod ahead;
mod complete;
mod execute;
mod fetch;
#[cfg(test)]
mod overlap_tests;
mod progress;
mod shutdown;
#[cfg(test)]
mod spy;

use crate::context::CancelSignal;
use crate::error::Error;
use crate::queue::Queue;
use crate::registry;
use ahead::ClaimAhead;
use execute::{Outcome, Policy};
use fetch::{Claim, Fetcher};
use progress::Progress;
use rakit_job_core::{DriverError, Reserved};
pub use shutdown::ShutdownHandle;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The most jobs a worker claims beyond its free slots, unless `Worker::prefetch` says otherwise.
const DEFAULT_PREFETCH: usize = 128;

/// Claims a worker has in flight at once: a second starts while the first is answered
/// when the jobs claimed ahead run low, so a slow claim does not leave the slots idle.
const MAX_CLAIMS: usize = 2;

/// Runs jobs from a [`Queue`].
///
/// ```no_run
/// use rakit_job::prelude::*;
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let queue = rakit_job::init().await?;
/// Worker::new(&queue)
///     .queues(["high", "default"])
///     .concurrency(8)
///     .retries(3)
///     .sleep(Duration::from_millis(1000))
///     .max_jobs(100)
///     .run()
///     .await?;
/// # Ok(()) }
/// ```
pub struct Worker {
    queue: Queue,
    queues: Option<Vec<String>>,
    only_named: Option<String>,
    concurrency: usize,
    prefetch: usize,
    retries: Option<u32>,
    sleep: Option<Duration>,
    max_jobs: Option<u64>,
    stop_when_empty: bool,
    grace: Duration,
    signals: bool,
    progress: bool,
    quiet: bool,
    shutdown: ShutdownHandle,
}

/// What a worker did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that ran to success.
    pub succeeded: u64,
    /// Failed attempts that were scheduled to run again.
    pub retried: u64,
    /// Jobs moved to the failed-jobs store.
    pub failed: u64,
    /// Jobs handed back untouched (their no-overlap key was taken, or shutdown came first).
    pub released: u64,
}

impl WorkerReport {
    /// Jobs taken from the store, whatever became of them.
    pub fn processed(&self) -> u64 {
        self.succeeded + self.retried + self.failed + self.released
    }

    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Succeeded => self.succeeded += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Released | Outcome::LeaseLost => self.released += 1,
        }
    }
}

impl Worker {
    /// A worker on `queue`, serving every queue (`high`, `default`, `low` first), one job at a time.
    pub fn new(queue: &Queue) -> Self {
        Worker {
            queue: queue.clone(),
            queues: None,
            only_named: None,
            concurrency: 1,
            prefetch: DEFAULT_PREFETCH,
            retries: None,
            sleep: None,
            max_jobs: None,
            stop_when_empty: false,
            grace: Duration::from_secs(30),
            signals: true,
            progress: false,
            quiet: false,
            shutdown: ShutdownHandle::default(),
        }
    }

    /// Serves only these queues, in strict priority order: a job on the first is always taken before one on the second.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues = Some(queues.into_iter().map(Into::into).collect());
        self
    }

    /// Runs only jobs of this name (`job:run NAME`).
    pub fn only_named(mut self, name: &str) -> Self {
        self.only_named = Some(rakit_job_core::slug(name));
        self
    }

    /// Runs up to `n` jobs at the same time (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Claims up to `n` jobs beyond the free slots in the same round trip, so a busy worker
    /// takes a batch per claim instead of one job per finished job; 0 turns it off (default 128).
    ///
    /// Only fast jobs are claimed ahead: the worker holds about 50 ms of work beyond what
    /// is running, judged from how long recent jobs took, so slow jobs are never parked
    /// while another worker idles. Claimed-ahead jobs are handed back untouched on shutdown
    /// or if they wait longer than a third of the lease. A job dispatched to a higher queue
    /// waits at most for the jobs already claimed ahead.
    ///
    /// ```
    /// # let queue = rakit_job::Queue::memory();
    /// let worker = rakit_job::Worker::new(&queue).concurrency(16).prefetch(0);
    /// ```
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// Retries after a job's first run, for jobs that do not set their own `retries`.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = Some(n);
        self
    }

    /// How long an idle worker waits before looking again when the store cannot signal.
    pub fn sleep(mut self, interval: Duration) -> Self {
        self.sleep = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Stops after taking `n` jobs, so a supervisor can restart the process fresh; 0 means no limit.
    pub fn max_jobs(mut self, n: u64) -> Self {
        self.max_jobs = Some(n);
        self
    }

    /// Stops as soon as no ready job is left, instead of waiting for more.
    pub fn stop_when_empty(mut self) -> Self {
        self.stop_when_empty = true;
        self
    }

    /// How long running jobs may finish after a shutdown request before they are handed back.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Whether SIGINT and SIGTERM stop the worker (on by default).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.signals = on;
        self
    }

    /// Shows a live progress line on standard error.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Writes no log lines of its own (job logging aside).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// A handle that stops this worker gracefully from elsewhere in the program.
    ///
    /// ```standalone_crate
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = rakit_job::Queue::memory();
    /// let worker = rakit_job::Worker::new(&queue).handle_signals(false);
    /// let stop = worker.shutdown_handle();
    /// let running = tokio::spawn(worker.run());
    /// stop.shutdown();
    /// assert_eq!(running.await.unwrap().unwrap().processed(), 0);
    /// # });
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Waits out a failed claim: 1 s doubling to 30 s, or until shutdown.
    async fn pause_after(&self, fetcher: &mut Fetcher, e: &DriverError) {
        let pause = fetcher.outage(e);
        tracing::warn!(target: "rakit_job", "{e}; trying again in {}s", pause.as_secs());
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.shutdown.requested() => {}
        }
    }

    /// Runs until shutdown, `max_jobs`, or (with [`stop_when_empty`](Self::stop_when_empty)) an empty queue.
    pub async fn run(self) -> Result<WorkerReport, Error> {
        registry::check_unique_names()?;
        for queue in self.queues.iter().flatten() {
            rakit_job_core::validate_queue(queue)?;
        }
        let driver = self.queue.driver().clone();
        driver.check().await?;
        let config = self.queue.config().clone();
        if !self.quiet {
            let names: Vec<&str> = registry::all().iter().map(|e| e.name).collect();
            tracing::info!(
                target: "rakit_job",
                "worker started on {} serving {} with jobs: {}",
                self.queue.describe(),
                self.queues.as_ref().map_or("every queue".to_string(), |q| q.join(", ")),
                if names.is_empty() { "(none linked in)".to_string() } else { names.join(", ") }
            );
        }
        if self.signals {
            shutdown::listen_for_signals(self.shutdown.clone());
        }
        let sleep = self.sleep.unwrap_or(config.sleep());
        let max_jobs = match self.max_jobs.unwrap_or(config.max_job) {
            0 => u64::MAX,
            n => n,
        };
        let (acker, writer) = complete::Acker::start(driver.clone());
        let policy = Policy {
            queue: self.queue.clone(),
            retries: self.retries.unwrap_or(config.max_retries),
            sleep,
            lease_ms: config.lease_ms as i64,
            logging: config.logging,
            acker,
        };
        let mut fetcher = Fetcher::new(&self.queue, self.queues.clone(), self.only_named.clone());
        let mut ahead = ClaimAhead::new(self.prefetch);
        let stale_after = Duration::from_millis(config.lease_ms / 3);
        let mut progress = Progress::new(self.progress);
        let mut report = WorkerReport::default();
        let mut running: JoinSet<(Outcome, Duration)> = JoinSet::new();
        let hand_back = CancelSignal::default();
        let mut taken: u64 = 0;
        let start = |running: &mut JoinSet<(Outcome, Duration)>, job: Reserved| {
            let run = execute::run(policy.clone(), job, hand_back.clone());
            running.spawn(async move {
                let started = Instant::now();
                (run.await, started.elapsed())
            });
        };

        // Claims in flight, oldest first; their jobs join the buffer in that order.
        let mut claims: VecDeque<Claim> = VecDeque::new();
        let mut dry = false;
        loop {
            if self.shutdown.is_requested() {
                break;
            }
            while let Some(done) = running.try_join_next() {
                settle(done, &mut report, &mut taken, &mut ahead);
            }
            hand_back_all(&policy, ahead.take_if_stale(stale_after)).await;
            while running.len() < self.concurrency
                && taken < max_jobs
                && let Some(job) = ahead.pop()
            {
                taken += 1;
                start(&mut running, job);
            }
            // Listen for in-process pushes before looking, so a push right after an empty fetch still wakes us.
            let pushed = self.queue.pushed();
            tokio::pin!(pushed);
            pushed.as_mut().enable();
            let free = self.concurrency - running.len();
            let extra = ahead.extra(self.concurrency);
            let coming = ahead.len() + claims.iter().map(|c| c.asked).sum::<usize>();
            let room = (max_jobs - taken).min(usize::MAX as u64) as usize;
            // Each claim asks for a full batch: claims cost the store per job more than per
            // call, and the buffer stays bounded (two claims, each handed back when stale).
            let wanted = (free + extra).min(room.saturating_sub(coming));
            // Claim for free slots, or before the jobs claimed ahead run out: a claim
            // then overlaps the jobs still running instead of idling the slots.
            let low = coming <= extra / 2;
            if !dry && wanted > 0 && claims.len() < MAX_CLAIMS && (free > coming || low) {
                match fetcher.start(wanted, policy.lease_ms).await {
                    Ok(claim) => {
                        claims.push_back(claim);
                        continue;
                    }
                    Err(e) => {
                        self.pause_after(&mut fetcher, &e).await;
                        continue;
                    }
                }
            }
            let was_dry = std::mem::take(&mut dry);
            let idle = claims.is_empty() && ahead.is_empty();
            if idle
                && running.is_empty()
                && (taken >= max_jobs || (self.stop_when_empty && was_dry))
            {
                break;
            }
            let waiting = idle && free > 0 && wanted > 0;
            let queues = fetcher.current_queues();
            tokio::select! {
                got = next_claim(&mut claims) => {
                    let claim = claims.pop_front().expect("a claim was in flight");
                    match got {
                        Ok(jobs) => {
                            let count = jobs.len();
                            jobs.into_iter().for_each(|job| ahead.push(job));
                            progress.show(&report, running.len());
                            match fetcher.finished(&claim, count).await {
                                Ok(again) => dry = count == 0 && !again,
                                Err(e) => self.pause_after(&mut fetcher, &e).await,
                            }
                        }
                        Err(e) => self.pause_after(&mut fetcher, &e).await,
                    }
                }
                Some(done) = running.join_next(), if !running.is_empty() => {
                    settle(done, &mut report, &mut taken, &mut ahead);
                    progress.show(&report, running.len());
                }
                _ = &mut pushed, if waiting => {}
                _ = driver.wait(queues, sleep), if waiting => {}
                _ = self.shutdown.requested() => {}
            }
        }

        // Jobs of claims still in flight are handed back with the rest of the buffer.
        while let Some(mut claim) = claims.pop_front() {
            if let Ok(jobs) = claim.jobs().await {
                jobs.into_iter().for_each(|job| ahead.push(job));
            }
        }
        hand_back_all(&policy, ahead.take_all()).await;
        if !running.is_empty() {
            if !self.quiet {
                tracing::info!(target: "rakit_job", "stopping: waiting up to {}s for {} running job(s)", self.grace.as_secs(), running.len());
            }
            let deadline = tokio::time::sleep(self.grace);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    done = running.join_next() => match done {
                        Some(done) => report.count(&outcome_of(done)),
                        None => break,
                    },
                    _ = &mut deadline => {
                        hand_back.cancel();
                        while let Some(done) = running.join_next().await {
                            report.count(&outcome_of(done));
                        }
                        break;
                    }
                }
            }
        }
        // Acks are written after their slots were freed: wait until the last is written.
        drop(policy);
        let _ = writer.await;
        progress.finish(&report);
        Ok(report)
    }
}

type Finished = Result<(Outcome, Duration), tokio::task::JoinError>;

/// The jobs of the oldest claim in flight, or never when there is none.
async fn next_claim(claims: &mut VecDeque<Claim>) -> Result<Vec<Reserved>, DriverError> {
    match claims.front_mut() {
        Some(claim) => claim.jobs().await,
        None => std::future::pending().await,
    }
}

/// A run task that died (it never should: runs catch panics) counts as a lost lease.
fn outcome_of(done: Finished) -> Outcome {
    done.map_or(Outcome::LeaseLost, |(outcome, _)| outcome)
}

/// Counts a finished run and times it for claiming ahead.
fn settle(done: Finished, report: &mut WorkerReport, taken: &mut u64, ahead: &mut ClaimAhead) {
    if let Ok((_, took)) = &done {
        ahead.finished(*took);
    }
    let outcome = outcome_of(done);
    if matches!(outcome, Outcome::Released | Outcome::LeaseLost) {
        // A job handed back did not run: it does not count towards max_jobs.
        *taken -= 1;
    }
    report.count(&outcome);
}

/// Gives claimed-but-unstarted jobs back to the store, ready now and with the attempt
/// uncounted; a job that cannot be handed back runs again when its lease expires.
async fn hand_back_all(policy: &Policy, jobs: Vec<Reserved>) {
    if jobs.is_empty() {
        return;
    }
    let now = rakit_job_core::now_ms();
    for job in &jobs {
        if let Err(e) = policy.queue.driver().release(&job.lease, now).await {
            tracing::warn!(target: "rakit_job", "could not hand back {} #{}: {e}; it runs again when its lease expires", job.job.name, job.job.id);
        }
    }
    policy.queue.notify_pushed();
}
