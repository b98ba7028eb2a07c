//! [`WorkerReport`]: what a worker did, counted from each job's outcome.

use super::complete::Outcome;

/// What a worker did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that ran to success.
    pub succeeded: u64,
    /// Failed attempts that were scheduled to run again.
    pub retried: u64,
    /// Jobs moved to the failed-jobs store.
    pub failed: u64,
    /// Jobs stopped by a cancel and kept as cancelled.
    pub cancelled: u64,
    /// Jobs handed back untouched (their lock was taken, or shutdown came first).
    pub released: u64,
}

impl WorkerReport {
    /// Jobs taken from the store, whatever became of them.
    pub fn processed(&self) -> u64 {
        self.succeeded + self.retried + self.failed + self.cancelled + self.released
    }

    pub(super) fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Succeeded | Outcome::Chained => self.succeeded += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::Released | Outcome::LeaseLost => self.released += 1,
        }
    }
}
