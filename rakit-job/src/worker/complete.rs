//! Completing a job: writing its outcome back to the store, and logging it in the guide's shape.

use super::execute::{Outcome, Policy};
use crate::job::Backoff;
use rakit_job_core::{Driver, DriverError, Lease, Millis, Retry, StoredJob, now_ms};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Writes one job's outcome; a store error is logged and the lease left to expire,
/// so the job runs again rather than being lost.
pub(crate) struct Completer<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) job: &'a StoredJob,
    pub(crate) lease: &'a Lease,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
}

impl Completer<'_> {
    /// Queues the ack and frees the slot without waiting for the write (only for room in
    /// the queue): the writer batches it with the acks of other jobs and logs a failure itself. Until it is written the job holds its lease,
    /// so a crash in between only means the job runs again (delivery is at least once).
    pub(crate) async fn ack(&self) -> Outcome {
        self.policy
            .acker
            .ack_later(self.lease, &self.job.name)
            .await;
        if self.policy.logging {
            tracing::info!(target: "rakit_job", "Job executed: {} - #{} (attempt {})", self.job.name, self.job.id, self.job.attempts);
        }
        Outcome::Succeeded
    }

    pub(crate) async fn retry_or_fail(&self, error: &str, permanent: bool) -> Outcome {
        if permanent || self.job.attempts >= self.max_attempts {
            return self.fail(error).await;
        }
        crate::observe::run_error(error);
        let delay = self.backoff.delay(self.job.attempts, self.policy.sleep);
        let at = now_ms() + delay.as_millis() as Millis;
        let written = self.policy.acker.retry(self.lease, at, error).await;
        if self.policy.logging {
            tracing::warn!(
                target: "rakit_job",
                "Job retry: {} - #{} (attempt {}) in {}ms ::: {error}",
                self.job.name, self.job.id, self.job.attempts, delay.as_millis()
            );
        }
        self.settle(written, Outcome::Retried, "schedule the retry of")
    }

    pub(crate) async fn fail(&self, error: &str) -> Outcome {
        crate::observe::run_error(error);
        let written = self.policy.queue.driver().fail(self.lease, error).await;
        if self.policy.logging {
            tracing::error!(
                target: "rakit_job",
                "Job failed: {} - #{} ::: {error} (after {} attempts)",
                self.job.name, self.job.id, self.job.attempts
            );
        }
        self.settle(written, Outcome::Failed, "record the failure of")
    }

    pub(crate) async fn release(&self, available_at: Millis) -> Outcome {
        let written = self
            .policy
            .queue
            .driver()
            .release(self.lease, available_at)
            .await;
        if written.as_ref().is_ok_and(|w| *w) && available_at <= now_ms() {
            self.policy.queue.notify_pushed();
        }
        self.settle(written, Outcome::Released, "hand back")
    }

    fn settle(
        &self,
        written: Result<bool, rakit_job_core::DriverError>,
        outcome: Outcome,
        verb: &str,
    ) -> Outcome {
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

/// Gathers the acks and retries of jobs that finish at about the same time into one
/// `ack_many` and one `retry_many` call, so a busy worker writes its outcomes without a
/// round trip per job.
#[derive(Clone)]
pub(crate) struct Acker {
    requests: mpsc::Sender<(Write, Reply)>,
}

/// The acker's writer task; awaiting it after the last `Acker` is dropped waits until every
/// queued write is done.
pub(crate) type Writer = tokio::task::JoinHandle<()>;

/// A final write the acker batches.
enum Write {
    Ack(Lease),
    Retry(Retry),
}

/// Where a write's result goes.
enum Reply {
    /// The caller awaits it.
    Waiting(oneshot::Sender<Result<bool, DriverError>>),
    /// Nobody waits (an ack queued after its slot was freed): the writer logs a failure.
    Logged { name: String, lease: Lease },
}

/// The most writes gathered into one batch.
const BATCH: usize = 256;

/// The most writes waiting for the writer. When the store writes slower than jobs finish
/// (a file or memcached store acks one by one), finished jobs wait here for room, so the
/// backlog, and the time an ack waits, stay bounded: leases cannot run out in the queue.
const QUEUED: usize = 2 * BATCH;

impl Acker {
    /// Starts the task that writes acks and retries; it ends when the last `Acker` is dropped.
    pub(crate) fn start(driver: Arc<dyn Driver>) -> (Acker, Writer) {
        let (requests, mut pending) = mpsc::channel::<(Write, Reply)>(QUEUED);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::new();
            while pending.recv_many(&mut batch, BATCH).await > 0 {
                let (mut acks, mut ack_replies) = (Vec::new(), Vec::new());
                let (mut retries, mut retry_replies) = (Vec::new(), Vec::new());
                for (write, reply) in batch.drain(..) {
                    match write {
                        Write::Ack(lease) => {
                            acks.push(lease);
                            ack_replies.push(reply);
                        }
                        Write::Retry(retry) => {
                            retries.push(retry);
                            retry_replies.push(reply);
                        }
                    }
                }
                if !acks.is_empty() {
                    answer(ack_replies, driver.ack_many(&acks).await);
                }
                if !retries.is_empty() {
                    answer(retry_replies, driver.retry_many(&retries).await);
                }
            }
        });
        (Acker { requests }, writer)
    }

    /// Acks one job as part of the next batch and waits for the result.
    #[cfg(test)]
    pub(crate) async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        self.write(Write::Ack(lease.clone())).await
    }

    /// Acks one job as part of the next batch without waiting; a failure is logged.
    pub(crate) async fn ack_later(&self, lease: &Lease, name: &str) {
        let reply = Reply::Logged {
            name: name.to_string(),
            lease: lease.clone(),
        };
        if let Err(unsent) = self.requests.send((Write::Ack(lease.clone()), reply)).await {
            let (_, reply) = unsent.0;
            reply.send(Err(DriverError::store(
                "the worker's ack and retry writer stopped",
            )));
        }
    }

    /// Makes one failed job wait until `available_at`, as part of the next batch.
    pub(crate) async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        self.write(Write::Retry(Retry {
            lease: lease.clone(),
            available_at,
            error: error.to_string(),
        }))
        .await
    }

    async fn write(&self, write: Write) -> Result<bool, DriverError> {
        let stopped = || DriverError::store("the worker's ack and retry writer stopped");
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((write, Reply::Waiting(reply)))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Sends each writer its result from one batch call, in order.
fn answer(replies: Vec<Reply>, written: Result<Vec<bool>, DriverError>) {
    match written {
        Ok(done) => {
            for (reply, ok) in replies.into_iter().zip(done) {
                reply.send(Ok(ok));
            }
        }
        Err(e) => {
            for reply in replies {
                reply.send(Err(e.clone()));
            }
        }
    }
}

impl Reply {
    fn send(self, result: Result<bool, DriverError>) {
        match (self, result) {
            (Reply::Waiting(to), result) => {
                let _ = to.send(result);
            }
            (Reply::Logged { .. }, Ok(true)) => {}
            (Reply::Logged { name, lease }, Ok(false)) => {
                tracing::warn!(target: "rakit_job", "could not acknowledge {name} #{}: its lease had expired and another worker took it", lease.id);
            }
            (Reply::Logged { name, lease }, Err(e)) => {
                tracing::error!(target: "rakit_job", "could not acknowledge {name} #{}: {e}; it will run again when its lease expires", lease.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::spy::Spy;
    use rakit_job_core::{NewJob, ReserveRequest};

    #[tokio::test]
    async fn acks_and_retries_finishing_together_are_written_in_one_call_each() {
        let driver = Arc::new(Spy::default());
        for _ in 0..4 {
            driver
                .push(NewJob::now("batch", "default", "{}"))
                .await
                .unwrap();
        }
        let queues = vec!["default".to_string()];
        let held = driver
            .reserve(&ReserveRequest::new(&queues, 4, 60_000))
            .await
            .unwrap();
        let (acker, _writer) = Acker::start(driver.clone());
        let later = now_ms() + 60_000;
        // All four requests are queued before the writer task first runs.
        let written = tokio::join!(
            acker.ack(&held[0].lease),
            acker.retry(&held[1].lease, later, "boom"),
            acker.ack(&held[2].lease),
            acker.retry(&held[3].lease, later, "boom"),
        );
        assert!(matches!(written, (Ok(true), Ok(true), Ok(true), Ok(true))));
        assert_eq!(*driver.batches.lock().unwrap(), [("ack", 2), ("retry", 2)]);
        let stats = driver.stats().await.unwrap();
        assert_eq!((stats[0].scheduled, stats[0].ready), (2, 0));
    }
}
