//! One run of a worker: its state, and the steps its loop takes — settle finished jobs,
//! tidy the buffer, start jobs, claim or wait — then a graceful stop.

use super::ahead::ClaimAhead;
use super::builder::Worker;
use super::complete::{self, Outcome, Policy, Writer};
use super::execute;
use super::fetch::{Claim, Fetcher, PAUSE_CHECK};
use super::progress::Progress;
use super::report::WorkerReport;
use super::running::{Counters, RunningJobs, StopReason};
use super::shutdown::ShutdownHandle;
use super::upkeep::Upkeep;
use crate::error::Error;
use crate::inspect::WorkerInfo;
use crate::queue::Queue;
use crate::registry;
use rakit_job_core::{DriverError, JobId, Reserved};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};

/// Claims a worker has in flight at once: a second starts while the first is answered
/// when the jobs claimed ahead run low, so a slow claim does not leave the slots idle.
const MAX_CLAIMS: usize = 2;

/// How long an idle worker waits, at least, on a store whose wait ends whenever a job may
/// have become claimable (PostgreSQL, SQLite, the folder): a safety net, not a poll.
const WATCHED_SLEEP: Duration = Duration::from_secs(30);

type Finished = Result<(Outcome, Duration), tokio::task::JoinError>;

impl Worker {
    /// Runs until shutdown, `max_jobs`, or (with [`stop_when_empty`](Self::stop_when_empty))
    /// an empty queue. An error the store cannot mend by waiting (missing tables, a wrong
    /// schema) stops it with that error; an unreachable store is waited out.
    pub async fn run(self) -> Result<WorkerReport, Error> {
        let mut session = Session::start(self).await?;
        while !session.over() {
            session.settle();
            session.tidy().await;
            session.start_jobs().await;
            if session.finished() {
                break;
            }
            session.claim_or_wait().await;
        }
        session.stop().await
    }
}

pub(super) struct Session {
    queue: Queue,
    policy: Policy,
    fetcher: Fetcher,
    ahead: ClaimAhead,
    claims: VecDeque<Claim>,
    running: JoinSet<(Outcome, Duration)>,
    report: WorkerReport,
    concurrency: usize,
    max_jobs: Option<u64>,
    taken: u64,
    stop_when_empty: bool,
    dry: bool,
    /// The runs that stored follow-ups, as last seen (see [`Counters::followed`]).
    followed_seen: u64,
    quiet: bool,
    waiting_said: bool,
    sleep: Duration,
    stale_after: Duration,
    shutdown: ShutdownHandle,
    signal: Option<JoinHandle<()>>,
    progress: Progress,
    upkeep: Upkeep,
    scheduler: Option<JoinHandle<()>>,
    writer: JoinHandle<()>,
    fatal: Option<DriverError>,
}

impl Session {
    /// Checks the store and the job names, announces the worker, and starts its tasks.
    pub(super) async fn start(worker: Worker) -> Result<Session, Error> {
        registry::check_unique_names()?;
        for queue in worker.queues.iter().flatten() {
            rakit_job_core::validate_queue(queue)?;
        }
        // A worker that runs until stopped runs the scheduler too.
        let schedules = match worker.stop_when_empty || worker.only_named.is_some() {
            true => Vec::new(),
            false => {
                let mut all = crate::schedule::schedules()?;
                for schedule in worker.schedules {
                    all.push(schedule?);
                }
                all
            }
        };
        worker.queue.driver().check().await?;
        let config = worker.queue.config().clone();
        let id: Arc<str> = JobId::generate().to_string().into();
        if !worker.quiet {
            let names: Vec<&str> = registry::all().iter().map(|e| e.name).collect();
            tracing::info!(
                target: "rakit_job",
                "worker started on {} serving {} with jobs: {}",
                worker.queue.describe(),
                served(&worker.queues),
                if names.is_empty() { "(none linked in)".to_string() } else { names.join(", ") }
            );
        }
        let sleep = worker.sleep.unwrap_or(config.sleep());
        let (writer, writer_task) = Writer::start(worker.queue.clone());
        let policy = Policy {
            queue: worker.queue.clone(),
            worker: id.clone(),
            retries: worker.retries.unwrap_or(config.max_retries),
            sleep,
            lease_ms: config.lease_ms as i64,
            grace: worker.grace,
            logging: config.logging,
            writer,
            running: Arc::new(RunningJobs::default()),
            counters: Arc::new(Counters::default()),
        };
        let info = WorkerInfo::of_this_process(&id, worker.queues.clone(), worker.concurrency);
        let upkeep = Upkeep::start(policy.clone(), info).await;
        let scheduler = crate::schedule::start(worker.queue.clone(), schedules);
        let signal = worker.shutdown_on.map(|signal| {
            let handle = worker.shutdown.clone();
            tokio::spawn(async move {
                signal.await;
                handle.shutdown();
            })
        });
        Ok(Session {
            fetcher: Fetcher::new(&worker.queue, id, worker.queues, worker.only_named),
            queue: worker.queue,
            ahead: ClaimAhead::new(worker.prefetch),
            claims: VecDeque::new(),
            running: JoinSet::new(),
            report: WorkerReport::default(),
            concurrency: worker.concurrency,
            max_jobs: worker.max_jobs,
            taken: 0,
            stop_when_empty: worker.stop_when_empty,
            dry: false,
            followed_seen: 0,
            quiet: worker.quiet,
            waiting_said: false,
            sleep,
            stale_after: Duration::from_millis(config.lease_ms / 3),
            shutdown: worker.shutdown,
            signal,
            progress: Progress::new(worker.progress),
            upkeep,
            scheduler,
            writer: writer_task,
            fatal: None,
            policy,
        })
    }

    /// True once the worker must stop: a shutdown was asked, or the store is broken.
    pub(super) fn over(&self) -> bool {
        self.shutdown.is_requested() || self.fatal.is_some()
    }

    /// Counts the jobs that finished since the last look.
    pub(super) fn settle(&mut self) {
        while let Some(done) = self.running.try_join_next() {
            self.finished_one(done);
        }
    }

    /// Hands back the claimed jobs of paused queues, and the whole buffer when its oldest
    /// job has waited long enough that its lease could run short.
    pub(super) async fn tidy(&mut self) {
        let paused = match self.fetcher.paused().await {
            Ok(paused) => paused.to_vec(),
            Err(e) => {
                tracing::debug!(target: "rakit_job", "cannot read the paused queues: {e}");
                Vec::new()
            }
        };
        let mut back = self.ahead.take_queues(&paused);
        back.extend(self.ahead.take_if_stale(self.stale_after));
        complete::hand_back(&self.policy, back).await;
    }

    /// Starts claimed jobs while slots are free, highest queue first. Before a job of a
    /// lower queue starts, the higher queues are claimed from once more: a job that became
    /// due there meanwhile runs first, so claiming ahead never breaks strict priority.
    pub(super) async fn start_jobs(&mut self) {
        let mut checked = false;
        while self.running.len() < self.concurrency && self.room() > 0 {
            let Some(rank) = self.ahead.next_rank() else {
                break;
            };
            if rank > 0 && !checked {
                checked = true;
                self.claim_above(rank).await;
                continue;
            }
            let Some(job) = self.ahead.pop() else { break };
            self.taken += 1;
            self.running.spawn(execute::run(self.policy.clone(), job));
        }
    }

    /// True when the worker has nothing left to do: `max_jobs` reached, or (with
    /// `stop_when_empty`) the last claim found nothing, and nothing is running or claimed.
    pub(super) fn finished(&self) -> bool {
        let idle = self.claims.is_empty() && self.ahead.is_empty() && self.running.is_empty();
        idle && (self.room() == 0 || (self.stop_when_empty && self.dry))
    }

    /// Starts a claim when slots or the buffer need jobs; otherwise waits for a claim, a
    /// finished job, a push, the store's signal or a shutdown.
    pub(super) async fn claim_or_wait(&mut self) {
        // Listen for in-process pushes before looking, so a push right after an empty claim still wakes us.
        let queue = self.queue.clone();
        let pushed = queue.pushed();
        tokio::pin!(pushed);
        pushed.as_mut().enable();
        let free = self.concurrency - self.running.len();
        let extra = self.ahead.extra(self.concurrency);
        let coming = self.ahead.len() + self.claims.iter().map(|c| c.asked).sum::<usize>();
        // Each claim asks for a full batch: claims cost the store per job more than per
        // call, and the buffer stays bounded (two claims, each handed back when stale).
        let room = usize::try_from(self.room()).unwrap_or(usize::MAX);
        let wanted = (free + extra).min(room.saturating_sub(coming));
        // Claim for free slots, or before the jobs claimed ahead run out: a claim then
        // overlaps the jobs still running instead of idling the slots.
        let low = coming <= extra / 2;
        let was_dry = std::mem::take(&mut self.dry);
        if !was_dry && wanted > 0 && self.claims.len() < MAX_CLAIMS && (free > coming || low) {
            match self.fetcher.start(wanted, self.policy.lease_ms).await {
                Ok(mut claim) => {
                    claim.chained_before = self.followed();
                    self.claims.push_back(claim)
                }
                Err(e) => self.outage(e).await,
            }
            return;
        }
        if self.finished_after(was_dry) {
            self.dry = was_dry;
            return;
        }
        let idle = self.claims.is_empty() && self.ahead.is_empty();
        let waiting = idle && free > 0 && wanted > 0;
        if waiting && self.running.is_empty() {
            self.say_waiting();
        }
        let served = self.fetcher.served();
        let store = self.queue.driver().clone();
        let timeout = match self.fetcher.holds_paused() {
            true => self.sleep.min(PAUSE_CHECK),
            // The store's wait ends when anything may have become claimable: no need to poll.
            false if store.capabilities().wakes_when_due => self.sleep.max(WATCHED_SLEEP),
            false => self.sleep,
        };
        tokio::select! {
            got = next_claim(&mut self.claims) => {
                let claim = self.claims.pop_front().expect("a claim was in flight");
                match got {
                    Ok(jobs) => self.claimed(&claim, jobs).await,
                    Err(e) => self.outage(e).await,
                }
            }
            Some(done) = self.running.join_next(), if !self.running.is_empty() => {
                self.finished_one(done);
            }
            _ = &mut pushed, if waiting => {}
            _ = store.wait(&served, timeout), if waiting => {}
            _ = self.shutdown.requested() => {}
        }
    }

    /// Whether, with the last claim dry, the worker is done (so it must not wait).
    fn finished_after(&self, was_dry: bool) -> bool {
        let idle = self.claims.is_empty() && self.ahead.is_empty() && self.running.is_empty();
        idle && (self.room() == 0 || (self.stop_when_empty && was_dry))
    }

    /// Stops gracefully: claimed jobs are handed back, running jobs are asked to stop (their
    /// cancellation fires now) and given the grace period, then every write is flushed.
    pub(super) async fn stop(mut self) -> Result<WorkerReport, Error> {
        if let Some(signal) = self.signal.take() {
            signal.abort();
        }
        if let Some(scheduler) = self.scheduler.take() {
            scheduler.abort();
        }
        while let Some(mut claim) = self.claims.pop_front() {
            if let Ok(jobs) = claim.jobs().await {
                jobs.into_iter().for_each(|job| self.ahead.push(0, job));
            }
        }
        complete::hand_back(&self.policy, self.ahead.take_all()).await;
        if !self.running.is_empty() {
            if !self.quiet {
                tracing::info!(target: "rakit_job", "stopping: {} running job(s) were asked to stop and have up to {}s to finish", self.running.len(), self.policy.grace.as_secs());
            }
            self.policy.running.stop_all(StopReason::Shutdown);
            while let Some(done) = self.running.join_next().await {
                self.finished_one(done);
            }
        }
        self.upkeep.stop().await;
        let Session {
            policy,
            writer,
            mut progress,
            report,
            fatal,
            max_jobs,
            taken,
            quiet,
            ..
        } = self;
        // Outcomes are written after their slots were freed: wait until the last is written.
        drop(policy);
        let _ = writer.await;
        progress.finish(&report);
        if let Some(e) = fatal {
            return Err(e.into());
        }
        if let Some(max) = max_jobs.filter(|max| taken >= *max)
            && !quiet
        {
            tracing::info!(target: "rakit_job", "worker stopped after taking its {max} jobs (max_jobs)");
        }
        Ok(report)
    }

    /// How many more jobs this worker may take.
    fn room(&self) -> u64 {
        match self.max_jobs {
            Some(max) => max.saturating_sub(self.taken),
            None => u64::MAX,
        }
    }

    /// Claims from the queues above `rank` for the free slots; what comes back starts first.
    async fn claim_above(&mut self, rank: usize) {
        let higher: Vec<String> = self.fetcher.served().into_iter().take(rank).collect();
        let free = self.concurrency - self.running.len();
        let mut claim = self
            .fetcher
            .claim(higher, free, self.policy.lease_ms, false);
        match claim.jobs().await {
            Ok(jobs) => self.buffer(jobs),
            Err(e) => {
                tracing::warn!(target: "rakit_job", "cannot look at the higher queues before starting a lower one: {e}")
            }
        }
    }

    /// Takes in the jobs of a finished claim.
    async fn claimed(&mut self, claim: &Claim, jobs: Vec<Reserved>) {
        let count = jobs.len();
        if count > 0 {
            self.waiting_said = false;
        }
        self.buffer(jobs);
        self.progress.show(&self.report, self.running.len());
        match self.fetcher.finished(claim, count).await {
            Ok(again) => self.dry = count == 0 && !again && claim.chained_before == self.followed(),
            Err(e) => self.outage(e).await,
        }
    }

    /// Adds claimed jobs to the buffer, each ranked by its queue's priority.
    fn buffer(&mut self, jobs: Vec<Reserved>) {
        let served = self.fetcher.served();
        for job in jobs {
            let rank = served
                .iter()
                .position(|q| *q == job.job.queue)
                .unwrap_or(served.len());
            self.ahead.push(rank, job);
        }
    }

    /// Counts a finished run and times it for claiming ahead.
    fn finished_one(&mut self, done: Finished) {
        if let Ok((_, took)) = &done {
            self.ahead.finished(*took);
        }
        // A run task that died (it never should: runs catch panics) counts as a lost lease.
        let outcome = done.map_or(Outcome::LeaseLost, |(outcome, _)| outcome);
        if matches!(outcome, Outcome::Released | Outcome::LeaseLost) {
            // A job handed back did not run: it does not count towards max_jobs.
            self.taken -= 1;
        }
        let counters = &self.policy.counters;
        match outcome {
            Outcome::Succeeded => counters.done.fetch_add(1, Ordering::Relaxed),
            Outcome::Chained => counters.done.fetch_add(1, Ordering::Relaxed),
            Outcome::Failed | Outcome::Retried | Outcome::Cancelled => {
                counters.failed.fetch_add(1, Ordering::Relaxed)
            }
            Outcome::Released | Outcome::LeaseLost => 0,
        };
        // A run that stored follow-ups (a chain's next job, a batch's callbacks): look
        // again before stopping, also when a claim already under way comes back empty.
        let followed = self.followed();
        if followed != self.followed_seen {
            self.followed_seen = followed;
            self.dry = false;
        }
        self.report.count(&outcome);
        self.progress.show(&self.report, self.running.len());
    }

    /// How many runs of this worker have stored follow-ups so far.
    fn followed(&self) -> u64 {
        self.policy.counters.followed.load(Ordering::Relaxed)
    }

    /// Waits out a failed claim (1 s doubling to 30 s, or until shutdown); an error waiting
    /// cannot mend stops the worker instead.
    async fn outage(&mut self, e: DriverError) {
        if e.is_permanent() {
            tracing::error!(target: "rakit_job", "{e}; the worker stops");
            self.fatal = Some(e);
            return;
        }
        let pause = self.fetcher.outage();
        tracing::warn!(target: "rakit_job", "{e}; trying again in {}s", pause.as_secs());
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.shutdown.requested() => {}
        }
    }

    /// Says once, when the worker goes idle, what it waits on.
    fn say_waiting(&mut self) {
        if self.waiting_said || self.quiet {
            return;
        }
        self.waiting_said = true;
        let served = self.fetcher.served();
        let paused = match self.fetcher.holds_paused() {
            true => " (some are paused)",
            false => "",
        };
        tracing::info!(
            target: "rakit_job",
            "waiting for jobs on {}{paused} in {}",
            if served.is_empty() { "no queue".to_string() } else { served.join(", ") },
            self.queue.describe()
        );
    }
}

/// The jobs of the oldest claim in flight, or never when there is none.
async fn next_claim(claims: &mut VecDeque<Claim>) -> Result<Vec<Reserved>, DriverError> {
    match claims.front_mut() {
        Some(claim) => claim.jobs().await,
        None => std::future::pending().await,
    }
}

/// The queues a worker serves, for its start-up line.
fn served(queues: &Option<Vec<String>>) -> String {
    queues
        .as_ref()
        .map_or("every queue".to_string(), |q| q.join(", "))
}
