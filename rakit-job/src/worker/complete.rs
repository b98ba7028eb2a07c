//! Completing a job: writing its outcome back to the store, and logging it in the guide's shape.

use super::execute::{Outcome, Policy};
use crate::job::Backoff;
use rakit_job_core::{Driver, DriverError, Lease, Millis, StoredJob, now_ms};
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
    pub(crate) async fn ack(&self) -> Outcome {
        let written = self.policy.acker.ack(self.lease).await;
        if self.policy.logging {
            tracing::info!(target: "rakit_job", "Job executed: {} - #{} (attempt {})", self.job.name, self.job.id, self.job.attempts);
        }
        self.settle(written, Outcome::Succeeded, "acknowledge")
    }

    pub(crate) async fn retry_or_fail(&self, error: &str, permanent: bool) -> Outcome {
        if permanent || self.job.attempts >= self.max_attempts {
            return self.fail(error).await;
        }
        crate::observe::run_error(error);
        let delay = self.backoff.delay(self.job.attempts, self.policy.sleep);
        let at = now_ms() + delay.as_millis() as Millis;
        let written = self
            .policy
            .queue
            .driver()
            .retry(self.lease, at, error)
            .await;
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

/// Gathers the acks of jobs that finish at about the same time into one `ack_many` call,
/// so a busy worker writes its successes without a round trip per job.
#[derive(Clone)]
pub(crate) struct Acker {
    requests: mpsc::UnboundedSender<(Lease, oneshot::Sender<Result<bool, DriverError>>)>,
}

/// The most acks written in one call.
const ACK_BATCH: usize = 256;

impl Acker {
    /// Starts the task that writes acks; it ends when the last `Acker` is dropped.
    pub(crate) fn start(driver: Arc<dyn Driver>) -> Acker {
        let (requests, mut pending) = mpsc::unbounded_channel::<(Lease, oneshot::Sender<_>)>();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = pending.recv().await {
                batch.push(first);
                while batch.len() < ACK_BATCH {
                    match pending.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let leases: Vec<Lease> = batch.iter().map(|(lease, _)| lease.clone()).collect();
                match driver.ack_many(&leases).await {
                    Ok(acked) => {
                        for ((_, reply), ok) in batch.drain(..).zip(acked) {
                            let _ = reply.send(Ok(ok));
                        }
                    }
                    Err(e) => {
                        for (_, reply) in batch.drain(..) {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Acker { requests }
    }

    /// Acks one job as part of the next batch.
    pub(crate) async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let stopped = || DriverError::store("the worker's ack writer stopped");
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((lease.clone(), reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
