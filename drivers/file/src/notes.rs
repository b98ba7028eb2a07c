//! A job's side notes, kept beside its file so that no step ever rewrites a job file: its
//! last error (`errors/<id>`, present when the job's name has the `e` flag) and a cancel
//! asked while it ran (`cancels/<id>`).
//!
//! An error is written aside first and put in place only after the job's own rename
//! succeeded, so a holder whose lease was lost never changes the job's error. Error files
//! are not synced: after a power loss the last moments' error texts may be missing, never
//! a job.

use crate::fsio::{self, io_error};
use crate::keys::Layout;
use rakit_job_core::{DriverError, JobId};
use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

/// An error text written aside, waiting for its job's rename.
pub(crate) struct StagedError(PathBuf);

impl StagedError {
    /// Writes `text` aside in the errors folder.
    pub(crate) fn write(layout: &Layout, text: &str) -> Result<StagedError, DriverError> {
        let dir = layout.errors();
        fsio::write_temp(&dir, text.as_bytes(), false)
            .map(StagedError)
            .map_err(|e| io_error(&dir, e))
    }

    /// Makes it the last error of job `id`.
    pub(crate) fn place(self, layout: &Layout, id: &JobId) -> Result<(), DriverError> {
        let target = layout.errors().join(id.as_str());
        fs::rename(&self.0, &target).map_err(|e| {
            let _ = fs::remove_file(&self.0);
            io_error(&target, e)
        })
    }

    /// Throws it away: its job's rename did not happen.
    pub(crate) fn discard(self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The last error of job `id`; `None` when it has none (or lost it in a crash).
pub(crate) fn read_error(layout: &Layout, id: &JobId) -> Result<Option<String>, DriverError> {
    let path = layout.errors().join(id.as_str());
    match fsio::read(&path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if fsio::is_gone(&e) => Ok(None),
        Err(e) => Err(io_error(&path, e)),
    }
}

/// Forgets the last error of job `id`.
pub(crate) fn remove_error(layout: &Layout, id: &JobId) -> Result<(), DriverError> {
    remove(layout.errors().join(id.as_str()))
}

/// The jobs a cancel was asked for while they ran.
pub(crate) fn cancels(layout: &Layout) -> Result<HashSet<JobId>, DriverError> {
    let dir = layout.cancels();
    let entries = fsio::list(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(entries
        .into_iter()
        .filter_map(|e| JobId::parse(&e.name).ok())
        .collect())
}

/// True when a cancel was asked for job `id`.
pub(crate) fn is_cancelled(layout: &Layout, id: &JobId) -> bool {
    fs::symlink_metadata(layout.cancels().join(id.as_str())).is_ok()
}

/// Asks job `id` to stop; true when this call asked first.
pub(crate) fn mark_cancel(layout: &Layout, id: &JobId) -> Result<bool, DriverError> {
    let path = layout.cancels().join(id.as_str());
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error(&path, e)),
    }
}

/// Forgets a cancel asked for job `id`.
pub(crate) fn unmark_cancel(layout: &Layout, id: &JobId) -> Result<(), DriverError> {
    remove(layout.cancels().join(id.as_str()))
}

fn remove(path: PathBuf) -> Result<(), DriverError> {
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if fsio::is_gone(&e) => Ok(()),
        Err(e) => Err(io_error(&path, e)),
    }
}

/// Removes error texts a crash left half-written.
pub(crate) fn sweep(layout: &Layout) -> Result<(), DriverError> {
    let dir = layout.errors();
    for entry in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
        if entry.name.starts_with(fsio::TEMP_PREFIX) && fsio::is_stale(&entry.path) {
            let _ = fs::remove_file(&entry.path);
        }
    }
    Ok(())
}
