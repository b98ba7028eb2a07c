//! The JSON inside a job file, and in a failed job's file.

use crate::layout::JobName;
use rakit_job_core::{FailedJob, JobId, Millis, NewJob, StoredJob};
use serde::{Deserialize, Serialize};

/// One job as written to disk. The same shape serves the queue folders and the failed
/// folder; `failed_at` is set only in the latter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) queue: String,
    pub(crate) payload: String,
    pub(crate) created_at: Millis,
    /// Reservations when the file was written. In the queue folders the count in the
    /// file name is the current one (it changes on every claim without a rewrite).
    #[serde(default)]
    pub(crate) attempts: u32,
    #[serde(default)]
    pub(crate) overlap_key: Option<String>,
    #[serde(default)]
    pub(crate) unique_key: Option<String>,
    #[serde(default)]
    pub(crate) last_error: Option<String>,
    #[serde(default)]
    pub(crate) failed_at: Option<Millis>,
}

impl Record {
    pub(crate) fn new(job: &NewJob) -> Self {
        Record {
            id: job.id.to_string(),
            name: job.name.clone(),
            queue: job.queue.clone(),
            payload: job.payload.clone(),
            created_at: job.created_at,
            attempts: 0,
            overlap_key: job.overlap_key.clone(),
            unique_key: job.unique_key.clone(),
            last_error: None,
            failed_at: None,
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record always serializes")
    }

    /// Reads a record and checks it belongs where it was found.
    pub(crate) fn parse(bytes: &[u8], id: &JobId, queue: &str) -> Result<Record, String> {
        let record: Record =
            serde_json::from_slice(bytes).map_err(|e| format!("unreadable JSON: {e}"))?;
        if record.id != id.as_str() {
            return Err(format!(
                "it holds job {} under the name of job {id}",
                record.id
            ));
        }
        if record.queue != queue {
            return Err(format!(
                "it holds a job of queue {:?} in the folder of queue {queue:?}",
                record.queue
            ));
        }
        Ok(record)
    }

    /// The job as handed to a worker; the attempt count comes from the file name.
    pub(crate) fn to_stored(&self, name: &JobName) -> StoredJob {
        StoredJob {
            id: name.id.clone(),
            name: self.name.clone(),
            queue: self.queue.clone(),
            payload: self.payload.clone(),
            attempts: name.attempts,
            created_at: self.created_at,
            overlap_key: self.overlap_key.clone(),
            unique_key: self.unique_key.clone(),
            last_error: self.last_error.clone(),
        }
    }

    /// The record as it goes into the failed folder. A failed job no longer holds its
    /// unique key, and a retried one comes back without it, as in every store.
    pub(crate) fn into_failed(mut self, attempts: u32, error: &str, now: Millis) -> Record {
        self.attempts = attempts;
        self.last_error = Some(error.to_string());
        self.failed_at = Some(now);
        self.unique_key = None;
        self
    }

    pub(crate) fn to_failed(&self, id: JobId) -> FailedJob {
        FailedJob {
            id,
            name: self.name.clone(),
            queue: self.queue.clone(),
            payload: self.payload.clone(),
            error: self.last_error.clone().unwrap_or_default(),
            attempts: self.attempts,
            overlap_key: self.overlap_key.clone(),
            created_at: self.created_at,
            failed_at: self.failed_at.unwrap_or(self.created_at),
        }
    }
}
