//! Cancelling a job by id, with compare-and-swap on its record: the same record a claim
//! swaps, so of a cancel and a claim racing for a waiting job exactly one wins.
//!
//! A waiting job (ready, scheduled, or reserved under a lease that ran out) moves into the
//! failed store as cancelled. A running job is flagged: renewals report the flag, and a
//! later claim (if its worker died) hands it out as cancelled.

use crate::failed;
use crate::record::{Record, State};
use crate::server::{Change, Server};
use rakit_job_core::{CancelOutcome, DriverError, JobId, now_ms};

/// How many times the record is read again when it changed under the cancel.
const TRIES: usize = 64;

fn is_waiting(record: &Record) -> bool {
    matches!(record.state, State::Ready | State::Reserved) && !record.is_running(now_ms())
}

/// Cancels job `id`.
pub(crate) fn cancel(server: &Server, id: &JobId) -> Result<CancelOutcome, DriverError> {
    let key = server.keys.job_of(id);
    for _ in 0..TRIES {
        let Some((bytes, cas)) = server.mc.get(&key)? else {
            return Ok(CancelOutcome::NotFound);
        };
        let mut record = Record::parse(&key, &bytes)?;
        if record.is_running(now_ms()) {
            record.cancelled = true;
            if server.mc.cas(&key, &record.to_bytes(), 0, cas)? {
                return Ok(CancelOutcome::Requested);
            }
            continue;
        }
        if !is_waiting(&record) {
            return Ok(CancelOutcome::NotFound);
        }
        let read = Some((bytes, cas));
        match failed::enter(server, id.as_str(), read, is_waiting, "cancelled", true)? {
            Change::Done { .. } => return Ok(CancelOutcome::Removed),
            Change::Missing => return Ok(CancelOutcome::NotFound),
            Change::Refused => continue,
        }
    }
    Err(DriverError::store(format!(
        "job {id} kept changing while it was being cancelled; try again"
    )))
}
