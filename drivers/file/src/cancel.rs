//! Cancelling a job by id.
//!
//! A waiting job (pending, scheduled, or held under a lease that ran out) is moved into
//! the failed store as cancelled by one rename of its file, the same file a claim would
//! rename: the first rename wins, so a job is either cancelled or taken, never both. A
//! running job gets a cancel marker, `cancels/<id>`, which renewals report and a later
//! claim hands out. The marker is written before the job is looked for, so a claim that
//! wins the race against the cancel already sees it.

use crate::failed;
use crate::files;
use crate::fsio::{self, io_error};
use crate::keys::Layout;
use crate::notes::{self, StagedError};
use rakit_job_core::{CancelOutcome, DriverError, JobId, now_ms};

/// How many times the job is looked for again when it moved under the cancel.
const TRIES: usize = 5;

/// Cancels job `id`.
pub(crate) fn cancel(layout: &Layout, id: &JobId) -> Result<CancelOutcome, DriverError> {
    let asked_first = notes::mark_cancel(layout, id)?;
    for _ in 0..TRIES {
        let Some(found) = files::find(layout, id)? else {
            if asked_first {
                notes::unmark_cancel(layout, id)?;
            }
            return Ok(CancelOutcome::NotFound);
        };
        if found.is_running(now_ms()) {
            return Ok(CancelOutcome::Requested);
        }
        if remove_waiting(layout, &found)? {
            notes::unmark_cancel(layout, id)?;
            return Ok(CancelOutcome::Removed);
        }
    }
    Err(DriverError::store(format!(
        "job {id} kept changing while it was being cancelled; try again"
    )))
}

/// Moves a waiting job into the failed store as cancelled; false when it moved first.
fn remove_waiting(layout: &Layout, found: &files::Found) -> Result<bool, DriverError> {
    let Some(leaving) = files::let_go(layout, found)? else {
        return Ok(false);
    };
    let staged = StagedError::write(layout, "cancelled")?;
    let Some(dir) = failed::enter(layout, &leaving, true)? else {
        staged.discard();
        return Ok(false);
    };
    if let Err(e) = staged.place(layout, &leaving.name.id) {
        tracing::warn!("the error of a cancelled job could not be kept ({e})");
    }
    fsio::sync_dir(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(true)
}
