//! The JSON inside a job file. It is written once, when the job is pushed, and never
//! rewritten: what changes later (attempts, holder, flags) is in the file's name, and the
//! last error is a file of its own, so every later step is a rename.

use crate::keys::JobName;
use rakit_job_core::{JobId, Millis, NewJob, StoredJob};
use serde::{Deserialize, Serialize};

/// One job as written to disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) queue: String,
    pub(crate) payload: String,
    pub(crate) created_at: Millis,
    #[serde(default)]
    pub(crate) overlap_key: Option<String>,
    /// The unique key as pushed; the job holds it only while its name has the `u` flag.
    #[serde(default)]
    pub(crate) unique_key: Option<String>,
    /// The unique window as pushed, so a follow-up that is never stored gives it back.
    #[serde(default)]
    pub(crate) unique_for: Option<Millis>,
    #[serde(default)]
    pub(crate) meta: Option<String>,
}

impl Record {
    pub(crate) fn new(job: &NewJob) -> Self {
        Record {
            id: job.id.to_string(),
            name: job.name.clone(),
            queue: job.queue.clone(),
            payload: job.payload.clone(),
            created_at: job.created_at,
            overlap_key: job.overlap_key.clone(),
            unique_key: job.unique_key.clone(),
            unique_for: job.unique_for,
            meta: job.meta.clone(),
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

    /// The unique key the job holds: the pushed one while its name says so.
    pub(crate) fn held_key(&self, name_says_held: bool) -> Option<String> {
        self.unique_key.clone().filter(|_| name_says_held)
    }

    /// The job as handed to a worker; attempts and flags come from the file name.
    pub(crate) fn to_stored(
        &self,
        name: &JobName,
        last_error: Option<String>,
        cancelled: bool,
    ) -> StoredJob {
        StoredJob {
            id: name.id.clone(),
            name: self.name.clone(),
            queue: self.queue.clone(),
            payload: self.payload.clone(),
            attempts: name.attempts,
            created_at: self.created_at,
            overlap_key: self.overlap_key.clone(),
            unique_key: self.held_key(name.flags.unique),
            last_error,
            meta: self.meta.clone(),
            cancelled,
        }
    }
}
