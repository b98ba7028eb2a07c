//! Completing: the one owner of every final write — ack, retry, fail, cancel, release and
//! the hand-back of claimed jobs. Each job's outcome is decided here ([`Completer`]) and
//! written by one writer task ([`Writer`]) that gathers the writes of jobs finishing
//! together into one [`Store::complete`](rakit_job_core::Store::complete) call, and counts
//! them for the throughput chart with one more write a second at most.
//!
//! The at-least-once rule lives here: a job leaves its queue only through a write that
//! names its current lease. Until that write lands, the job holds its lease, so a crash
//! in between only means it runs again; a write whose lease was lost changes nothing.

use super::running::Counters;
use crate::batch_meta::BatchMeta;
use crate::options::Backoff;
use crate::queue::Queue;
use rakit_job_core::{
    Admin, DriverError, Finish, Lease, Millis, MinuteCount, NewJob, Reserved, Store, StoredJob,
    now_ms,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The worker-wide settings a job run needs.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) queue: Queue,
    pub(crate) worker: Arc<str>,
    pub(crate) retries: u32,
    pub(crate) sleep: Duration,
    pub(crate) lease_ms: Millis,
    pub(crate) grace: Duration,
    pub(crate) logging: bool,
    pub(crate) writer: Writer,
    pub(crate) running: Arc<super::running::RunningJobs>,
    pub(crate) counters: Arc<Counters>,
}

/// What became of a reserved job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    /// Succeeded, and its ack stored the next job of its chain.
    Chained,
    Retried,
    Failed,
    Cancelled,
    Released,
    LeaseLost,
}

impl Outcome {
    /// The outcome's name in spans and metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded | Outcome::Chained => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Released => "released",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// Decides and writes one job's outcome, and logs it in the guide's shape. A store error
/// is logged and the lease left to expire, so the job runs again rather than being lost.
pub(crate) struct Completer<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) job: &'a StoredJob,
    pub(crate) lease: &'a Lease,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
}

impl Completer<'_> {
    /// Queues the ack and frees the slot without waiting for the write; the writer logs a
    /// failure. An ack that stores follow-ups (the next job of a chain) in the same step is
    /// waited for, so this process's workers can take the next job at once.
    pub(crate) async fn ack(&self, then: Vec<NewJob>) -> Outcome {
        if !self.counted_in_batch(false).await {
            return Outcome::LeaseLost;
        }
        let chained = !then.is_empty();
        let finish = Finish::Ack {
            lease: self.lease.clone(),
            then,
        };
        if self.policy.logging {
            tracing::info!(target: "rakit_job", "Job executed: {} - #{} (attempt {})", self.job.name, self.job.id, self.job.attempts);
        }
        if !chained {
            self.policy.writer.write_later(finish, &self.job.name).await;
            return Outcome::Succeeded;
        }
        match self.policy.writer.write(finish).await {
            Ok(true) => {
                self.policy.queue.notify_pushed();
                self.policy
                    .counters
                    .followed
                    .fetch_add(1, Ordering::Relaxed);
                Outcome::Chained
            }
            written => self.settle(
                written,
                Outcome::Succeeded,
                "store the next job of the chain of",
            ),
        }
    }

    /// Schedules another attempt with backoff, or fails the job for good when it is
    /// permanent or its attempts are spent.
    pub(crate) async fn retry_or_fail(&self, error: &str, permanent: bool) -> Outcome {
        if permanent || self.job.attempts >= self.max_attempts {
            return self.fail(error).await;
        }
        crate::observe::run_error(error);
        let delay = self.backoff.delay(self.job.attempts, self.policy.sleep);
        let finish = Finish::Retry {
            lease: self.lease.clone(),
            available_at: now_ms() + delay.as_millis() as Millis,
            error: error.to_string(),
        };
        let written = self.policy.writer.write(finish).await;
        if self.policy.logging {
            tracing::warn!(
                target: "rakit_job",
                "Job retry: {} - #{} (attempt {}) in {}ms ::: {error}",
                self.job.name, self.job.id, self.job.attempts, delay.as_millis()
            );
        }
        self.settle(written, Outcome::Retried, "schedule the retry of")
    }

    /// Moves the job to the failed store.
    pub(crate) async fn fail(&self, error: &str) -> Outcome {
        crate::observe::run_error(error);
        if !self.counted_in_batch(true).await {
            return Outcome::LeaseLost;
        }
        let finish = Finish::Fail {
            lease: self.lease.clone(),
            error: error.to_string(),
            cancelled: false,
        };
        let written = self.policy.writer.write(finish).await;
        if self.policy.logging {
            tracing::error!(
                target: "rakit_job",
                "Job failed: {} - #{} ::: {error} ({})",
                self.job.name, self.job.id, attempts(self.job.attempts)
            );
        }
        self.settle(written, Outcome::Failed, "record the failure of")
    }

    /// Records the job as cancelled: kept in the failed store, not retried.
    pub(crate) async fn cancelled(&self, why: &str) -> Outcome {
        crate::observe::run_error(why);
        if !self.counted_in_batch(true).await {
            return Outcome::LeaseLost;
        }
        let finish = Finish::Fail {
            lease: self.lease.clone(),
            error: why.to_string(),
            cancelled: true,
        };
        let written = self.policy.writer.write(finish).await;
        if self.policy.logging {
            tracing::warn!(target: "rakit_job", "Job cancelled: {} - #{} ::: {why}", self.job.name, self.job.id);
        }
        self.settle(written, Outcome::Cancelled, "record the cancel of")
    }

    /// Hands the job back untouched, due at `available_at`; the attempt is not counted.
    pub(crate) async fn release(&self, available_at: Millis) -> Outcome {
        let finish = Finish::Release {
            lease: self.lease.clone(),
            available_at,
        };
        let written = self.policy.writer.write(finish).await;
        if written.as_ref().is_ok_and(|w| *w) && available_at <= now_ms() {
            self.policy.queue.notify_pushed();
        }
        self.settle(written, Outcome::Released, "hand back")
    }

    /// Counts a job that ended for good against its batch, if it is in one, before its
    /// final write (see `crate::batch`). False when that failed (logged): the final write
    /// is skipped, so the job runs again once its lease runs out and is counted then.
    async fn counted_in_batch(&self, failed: bool) -> bool {
        let Some(member) = BatchMeta::read(self.job.meta.as_deref()).member else {
            return true;
        };
        match crate::batch::job_ended(&self.policy.queue, &member, failed).await {
            Ok(stored) => {
                if stored {
                    self.policy
                        .counters
                        .followed
                        .fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            Err(e) => {
                tracing::error!(target: "rakit_job", "could not count {} #{} in its batch: {e}; it will run again when its lease expires", self.job.name, self.job.id);
                false
            }
        }
    }

    fn settle(&self, written: Result<bool, DriverError>, outcome: Outcome, verb: &str) -> Outcome {
        match written {
            Ok(true) => outcome,
            Ok(false) => {
                tracing::warn!(target: "rakit_job", "could not {verb} {} #{}: its lease had expired and another worker took it", self.job.name, self.job.id);
                Outcome::LeaseLost
            }
            Err(e) => {
                tracing::error!(target: "rakit_job", "could not {verb} {} #{}: {e}; it will run again when its lease expires", self.job.name, self.job.id);
                Outcome::LeaseLost
            }
        }
    }
}

/// "1 attempt", "3 attempts".
fn attempts(n: u32) -> String {
    match n {
        1 => "after 1 attempt".to_string(),
        n => format!("after {n} attempts"),
    }
}

/// Gives claimed-but-unstarted jobs back to the store, ready now and with the attempt
/// uncounted, in one batch; a job that cannot be handed back runs again when its lease
/// expires.
pub(crate) async fn hand_back(policy: &Policy, jobs: Vec<Reserved>) {
    if jobs.is_empty() {
        return;
    }
    let now = now_ms();
    let finishes: Vec<Finish> = jobs
        .iter()
        .map(|job| Finish::Release {
            lease: job.lease.clone(),
            available_at: now,
        })
        .collect();
    if let Err(e) = policy.writer.write_all(finishes).await {
        tracing::warn!(target: "rakit_job", "could not hand back {} claimed job(s): {e}; they run again when their leases expire", jobs.len());
    }
    policy.queue.notify_pushed();
}

/// The handle to the writer task: writes queued here are written in batches. Awaiting the
/// task after the last `Writer` is dropped waits until every queued write is done.
#[derive(Clone)]
pub(crate) struct Writer {
    requests: mpsc::Sender<(Finish, Reply)>,
}

/// Where a write's result goes.
enum Reply {
    /// The caller awaits it.
    Waiting(oneshot::Sender<Result<bool, DriverError>>),
    /// Nobody waits (an ack queued after its slot was freed): the writer logs a failure.
    Logged(String),
}

/// The most writes gathered into one batch.
const BATCH: usize = 256;

/// The most writes waiting for the writer. When the store writes slower than jobs finish,
/// finished jobs wait here for room, so the backlog, and the time an ack waits, stay
/// bounded: leases cannot run out in the queue.
const QUEUED: usize = 2 * BATCH;

impl Writer {
    /// Starts the task that writes outcomes to `queue`'s store; it ends when the last
    /// `Writer` is dropped and every write is done.
    pub(crate) fn start(queue: Queue) -> (Writer, tokio::task::JoinHandle<()>) {
        let (requests, mut pending) = mpsc::channel::<(Finish, Reply)>(QUEUED);
        let task = tokio::spawn(async move {
            let store = queue.driver().clone();
            let mut batch = Vec::new();
            let mut tally = Tally::default();
            let mut flush = tokio::time::interval(TALLY_EVERY);
            flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    got = pending.recv_many(&mut batch, BATCH) => {
                        if got == 0 {
                            break;
                        }
                        let (finishes, replies): (Vec<Finish>, Vec<Reply>) = batch.drain(..).unzip();
                        let written = store.complete(&finishes).await;
                        if let Ok(written) = &written {
                            tally.add(&finishes, written);
                        }
                        answer(replies, &finishes, written);
                    }
                    _ = flush.tick() => tally.flush(store.as_ref()).await,
                }
            }
            tally.flush(store.as_ref()).await;
        });
        (Writer { requests }, task)
    }

    /// Writes one outcome as part of the next batch and waits for the result.
    pub(crate) async fn write(&self, finish: Finish) -> Result<bool, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((finish, Reply::Waiting(reply)))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Writes several outcomes and waits for them all; the first error, if any.
    pub(crate) async fn write_all(&self, finishes: Vec<Finish>) -> Result<(), DriverError> {
        let mut answers = Vec::with_capacity(finishes.len());
        for finish in finishes {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send((finish, Reply::Waiting(reply)))
                .await
                .map_err(|_| stopped())?;
            answers.push(answer);
        }
        for answer in answers {
            answer.await.map_err(|_| stopped())??;
        }
        Ok(())
    }

    /// Writes one outcome as part of the next batch without waiting; a failure is logged.
    pub(crate) async fn write_later(&self, finish: Finish, name: &str) {
        let reply = Reply::Logged(name.to_string());
        if let Err(unsent) = self.requests.send((finish, reply)).await {
            let (finish, reply) = unsent.0;
            reply.send(&finish, Err(stopped()));
        }
    }
}

fn stopped() -> DriverError {
    DriverError::store("the worker's outcome writer stopped")
}

/// How often the writer adds its counts to the store's per-minute throughput.
const TALLY_EVERY: Duration = Duration::from_secs(1);

/// The outcomes written since the last flush, per minute and queue: the throughput chart's
/// counts cost one write a second at most, never one per job or per batch, and a failed
/// write only costs the chart a point, never a job.
#[derive(Default)]
struct Tally(BTreeMap<(Millis, String), (u64, u64)>);

impl Tally {
    fn add(&mut self, finishes: &[Finish], written: &[bool]) {
        let minute = now_ms() / 60_000 * 60_000;
        for (finish, _) in finishes.iter().zip(written).filter(|(_, w)| **w) {
            let (done, failed) = match finish {
                Finish::Ack { .. } => (1, 0),
                Finish::Retry { .. } | Finish::Fail { .. } => (0, 1),
                Finish::Release { .. } => continue,
            };
            let slot = self
                .0
                .entry((minute, finish.lease().queue.clone()))
                .or_default();
            slot.0 += done;
            slot.1 += failed;
        }
    }

    async fn flush<S: Store + Admin + ?Sized>(&mut self, store: &S) {
        if self.0.is_empty() {
            return;
        }
        let counts: Vec<MinuteCount> = std::mem::take(&mut self.0)
            .into_iter()
            .map(|((minute, queue), (done, failed))| MinuteCount {
                queue,
                minute,
                done,
                failed,
            })
            .collect();
        if let Err(e) = store.add_throughput(&counts).await {
            tracing::debug!(target: "rakit_job", "could not count throughput: {e}");
        }
    }
}

/// Sends each writer its result from one batch call, in order.
fn answer(replies: Vec<Reply>, finishes: &[Finish], written: Result<Vec<bool>, DriverError>) {
    match written {
        Ok(done) => {
            for ((reply, finish), ok) in replies.into_iter().zip(finishes).zip(done) {
                reply.send(finish, Ok(ok));
            }
        }
        Err(e) => {
            for (reply, finish) in replies.into_iter().zip(finishes) {
                reply.send(finish, Err(e.clone()));
            }
        }
    }
}

impl Reply {
    fn send(self, finish: &Finish, result: Result<bool, DriverError>) {
        match (self, result) {
            (Reply::Waiting(to), result) => {
                let _ = to.send(result);
            }
            (Reply::Logged(_), Ok(true)) => {}
            (Reply::Logged(name), Ok(false)) => {
                tracing::warn!(target: "rakit_job", "could not acknowledge {name} #{}: its lease had expired and another worker took it", finish.lease().id);
            }
            (Reply::Logged(name), Err(e)) => {
                tracing::error!(target: "rakit_job", "could not acknowledge {name} #{}: {e}; it will run again when its lease expires", finish.lease().id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::spy::Spy;
    use rakit_job_core::{NewJob, ReserveRequest, StoreExt};

    #[tokio::test]
    async fn outcomes_finishing_together_are_written_in_one_call_and_counted() {
        let spy = Spy::new();
        let store = spy.store();
        for _ in 0..4 {
            store
                .push_one(NewJob::now("batch", "default", "{}"))
                .await
                .unwrap();
        }
        let queues = vec!["default".to_string()];
        let held = store
            .reserve(&ReserveRequest::new(&queues, 4, 60_000, "w"))
            .await
            .unwrap();
        let (writer, task) = Writer::start(spy.queue());
        let later = now_ms() + 60_000;
        let ack = |r: &Reserved| Finish::Ack {
            lease: r.lease.clone(),
            then: vec![],
        };
        let retry = |r: &Reserved| Finish::Retry {
            lease: r.lease.clone(),
            available_at: later,
            error: "boom".into(),
        };
        // All four requests are queued before the writer task first runs.
        let written = tokio::join!(
            writer.write(ack(&held[0])),
            writer.write(retry(&held[1])),
            writer.write(ack(&held[2])),
            writer.write(retry(&held[3])),
        );
        assert!(matches!(written, (Ok(true), Ok(true), Ok(true), Ok(true))));
        assert_eq!(
            spy.batches(),
            [4],
            "one complete() call for the four outcomes"
        );
        let stats = store.stats().await.unwrap();
        assert_eq!((stats[0].scheduled, stats[0].ready), (2, 0));
        // The counts are written once the writer flushes them: on its tick, or as it ends.
        drop(writer);
        task.await.unwrap();
        let counted = store.throughput(0).await.unwrap();
        assert_eq!(
            counted
                .iter()
                .map(|c| (c.queue.as_str(), c.done, c.failed))
                .collect::<Vec<_>>(),
            [("default", 2, 2)],
            "{counted:?}"
        );
    }
}
