//! Completing a job: writing its outcome back to the store, and logging it in the guide's shape.

use super::execute::{Outcome, Policy};
use crate::job::Backoff;
use rakit_job_core::{Lease, Millis, StoredJob, now_ms};

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
        let written = self.policy.queue.driver().ack(self.lease).await;
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
