//! A job's record: one JSON value under `<prefix>:job:<id>`, changed only by
//! compare-and-swap, from its push to its removal.

use rakit_job_core::{DriverError, JobId, Millis, NewJob, StoredJob};
use serde::{Deserialize, Serialize};

/// The longest error text kept, so a record stays far below memcached's item limit.
const MAX_ERROR_BYTES: usize = 16 * 1024;
/// How long a fresh index entry or a fresh record that does not (yet) match is left
/// alone: a push under way.
pub(crate) const GRACE_MS: Millis = 60_000;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// A follow-up written by an ack that has not committed yet: no worker can see it.
    Staged,
    /// Waiting for `available_at` (ready or scheduled).
    Ready,
    /// Held by a worker under `token` until `deadline`.
    Reserved,
    /// In the failed-jobs store (cancelled ones too).
    Failed,
    /// Finished: the record is about to be deleted, once its follow-ups (`then`) are out.
    Done,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) queue: String,
    pub(crate) payload: String,
    pub(crate) created_at: Millis,
    /// When the push wrote it.
    #[serde(default)]
    pub(crate) stored_at: Millis,
    pub(crate) available_at: Millis,
    pub(crate) attempts: u32,
    #[serde(default)]
    pub(crate) overlap_key: Option<String>,
    /// The unique key the job holds (a key held by a window alone is not kept here).
    #[serde(default)]
    pub(crate) unique_key: Option<String>,
    #[serde(default)]
    pub(crate) last_error: Option<String>,
    pub(crate) state: State,
    #[serde(default)]
    pub(crate) token: Option<u64>,
    #[serde(default)]
    pub(crate) deadline: Option<Millis>,
    /// The worker holding it, while reserved.
    #[serde(default)]
    pub(crate) worker: Option<String>,
    /// The slot of the queue index naming this job; an index entry whose slot differs
    /// is a leftover and is skipped.
    #[serde(default)]
    pub(crate) slot: Option<u64>,
    /// The slot of the failed index naming this job, while failed.
    #[serde(default)]
    pub(crate) failed_slot: Option<u64>,
    #[serde(default)]
    pub(crate) failed_at: Option<Millis>,
    /// A cancel was asked while it ran; in the failed store: it was cancelled.
    #[serde(default)]
    pub(crate) cancelled: bool,
    #[serde(default)]
    pub(crate) meta: Option<String>,
    /// Done: the staged follow-ups still to publish.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) then: Vec<String>,
}

impl Record {
    /// A new job, waiting in `state` (ready, or staged as a follow-up) at `slot`.
    pub(crate) fn new(job: &NewJob, state: State, slot: Option<u64>) -> Self {
        Record {
            id: job.id.to_string(),
            name: job.name.clone(),
            queue: job.queue.clone(),
            payload: job.payload.clone(),
            created_at: job.created_at,
            stored_at: rakit_job_core::now_ms(),
            available_at: job.available_at,
            attempts: 0,
            overlap_key: job.overlap_key.clone(),
            unique_key: job.unique_key.clone().filter(|_| job.unique_for.is_none()),
            last_error: None,
            state,
            token: None,
            deadline: None,
            worker: None,
            slot,
            failed_slot: None,
            failed_at: None,
            cancelled: false,
            meta: job.meta.clone(),
            then: Vec::new(),
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serializes")
    }

    pub(crate) fn parse(key: &str, bytes: &[u8]) -> Result<Record, DriverError> {
        serde_json::from_slice(bytes).map_err(|e| DriverError::Corrupt {
            id: key.to_string(),
            reason: format!("unreadable JSON: {e}"),
        })
    }

    /// True when slot `n` of its queue index names this job: waiting, running, or done
    /// with follow-ups still to publish.
    pub(crate) fn is_in_queue(&self, n: u64) -> bool {
        let listed = match self.state {
            State::Ready | State::Reserved => true,
            State::Done => !self.then.is_empty(),
            State::Staged | State::Failed => false,
        };
        listed && self.slot == Some(n)
    }

    /// True when slot `n` of the failed index names this job.
    pub(crate) fn is_failed_at(&self, n: u64) -> bool {
        self.state == State::Failed && self.failed_slot == Some(n)
    }

    /// When a worker may take it now, the time it became takeable (for ordering).
    pub(crate) fn due_at(&self, now: Millis) -> Option<Millis> {
        match self.state {
            State::Ready if self.available_at <= now => Some(self.available_at),
            State::Reserved => self.deadline.filter(|d| *d <= now),
            _ => None,
        }
    }

    /// True while a worker holds it under a lease that has not run out.
    pub(crate) fn is_running(&self, now: Millis) -> bool {
        self.state == State::Reserved && self.deadline.is_some_and(|d| d > now)
    }

    /// Takes the job for `worker`: reserved under `token` until `deadline`, one attempt more.
    pub(crate) fn claim(&mut self, token: u64, deadline: Millis, worker: &str) {
        self.state = State::Reserved;
        self.token = Some(token);
        self.deadline = Some(deadline);
        self.worker = Some(worker.to_string());
        // Saturating: a record claiming u32::MAX attempts must not wrap to a fresh job.
        self.attempts = self.attempts.saturating_add(1);
    }

    /// True while the push that wrote this record may still be publishing its index entry.
    pub(crate) fn push_may_be_under_way(&self, now: Millis) -> bool {
        now.saturating_sub(self.stored_at) < GRACE_MS
    }

    /// True while the lease with `token` is this job's current one.
    pub(crate) fn held_by(&self, token: u64) -> bool {
        self.state == State::Reserved && self.token == Some(token)
    }

    /// Leaves the reserved state, back to waiting until `available_at`.
    pub(crate) fn back_to_ready(&mut self, available_at: Millis) {
        self.state = State::Ready;
        self.available_at = available_at;
        self.token = None;
        self.deadline = None;
        self.worker = None;
    }

    /// Moves it into the failed store at `failed_slot` with `error`.
    pub(crate) fn move_to_failed(&mut self, failed_slot: u64, error: &str, cancelled: bool) {
        self.state = State::Failed;
        self.token = None;
        self.deadline = None;
        self.worker = None;
        self.failed_slot = Some(failed_slot);
        self.failed_at = Some(rakit_job_core::now_ms());
        self.unique_key = None;
        self.cancelled = cancelled;
        self.set_error(error);
    }

    pub(crate) fn set_error(&mut self, error: &str) {
        let mut end = error.len().min(MAX_ERROR_BYTES);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        self.last_error = Some(error[..end].to_string());
    }

    pub(crate) fn to_stored(&self) -> Result<StoredJob, DriverError> {
        Ok(StoredJob {
            id: self.job_id()?,
            name: self.name.clone(),
            queue: self.queue.clone(),
            payload: self.payload.clone(),
            attempts: self.attempts,
            created_at: self.created_at,
            overlap_key: self.overlap_key.clone(),
            unique_key: self.unique_key.clone(),
            last_error: self.last_error.clone(),
            meta: self.meta.clone(),
            cancelled: self.cancelled,
        })
    }

    pub(crate) fn job_id(&self) -> Result<JobId, DriverError> {
        JobId::parse(&self.id).map_err(|_| DriverError::Corrupt {
            id: self.id.clone(),
            reason: "bad job id".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let mut r = Record::new(&NewJob::now("x", "default", "{}"), State::Ready, Some(0));
        r.set_error(&"é".repeat(MAX_ERROR_BYTES));
        let kept = r.last_error.unwrap();
        assert!(kept.len() <= MAX_ERROR_BYTES);
        assert!(kept.chars().all(|c| c == 'é'));
    }
}
