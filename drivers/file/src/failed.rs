//! The failed store: `failed/<queue>/<id>-<failed_at>-<attempts><flags>.job`. A job enters
//! it whole, by one rename of its file; the name says when it failed, after how many
//! attempts and whether it was cancelled, and its error is in `errors/<id>`.

use crate::corrupt::quarantine;
use crate::files::{self, Found};
use crate::fsio::{self, io_error};
use crate::keys::{FailedName, Flags, JobName, Layout};
use crate::notes;
use crate::record::Record;
use rakit_job_core::{DriverError, FailedSelect, Millis, now_ms, validate_queue};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

/// A failed job's file.
pub(crate) struct FailedFile {
    pub(crate) queue: String,
    pub(crate) name: FailedName,
    pub(crate) path: PathBuf,
}

impl FailedFile {
    /// Reads the job inside; `None` when it was removed meanwhile or is corrupt (then it
    /// is set aside).
    pub(crate) fn load(&self, layout: &Layout) -> Result<Option<Record>, DriverError> {
        let bytes = match fsio::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if fsio::is_gone(&e) => return Ok(None),
            Err(e) => return Err(io_error(&self.path, e)),
        };
        match Record::parse(&bytes, &self.name.id, &self.queue) {
            Ok(record) => Ok(Some(record)),
            Err(reason) => {
                quarantine(layout, &self.path, &self.queue, &reason);
                Ok(None)
            }
        }
    }

    fn selected(&self, which: &FailedSelect) -> bool {
        match which {
            FailedSelect::One(id) => &self.name.id == id,
            FailedSelect::Queue(queue) => &self.queue == queue,
            FailedSelect::All => true,
        }
    }
}

/// Moves the held job `found` into the failed store; the failed folder it went to, or
/// `None` when the file was gone. The caller syncs that folder.
pub(crate) fn enter(
    layout: &Layout,
    found: &Found,
    cancelled: bool,
) -> Result<Option<PathBuf>, DriverError> {
    let dir = layout.failed(&found.queue);
    fsio::ensure_dir(&dir)?;
    let name = FailedName {
        id: found.name.id.clone(),
        failed_at: now_ms(),
        attempts: found.name.attempts,
        flags: Flags {
            cancelled,
            error: true,
            unique: false,
        },
    };
    Ok(files::move_file(&found.path, &dir.join(name.file_name()))?.then_some(dir))
}

/// The failed files of one queue, or of every queue, sorted by id.
pub(crate) fn files(layout: &Layout, queue: Option<&str>) -> Result<Vec<FailedFile>, DriverError> {
    let queues = match queue {
        Some(queue) => vec![queue.to_string()],
        None => {
            let root = layout.failed_root();
            fsio::subfolders(&root).map_err(|e| io_error(&root, e))?
        }
    };
    let mut files = Vec::new();
    for queue in queues.into_iter().filter(|q| validate_queue(q).is_ok()) {
        let dir = layout.failed(&queue);
        for entry in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
            if entry.name.starts_with('.') {
                continue;
            }
            match FailedName::parse(&entry.name) {
                Some(name) if entry.is_file => files.push(FailedFile {
                    queue: queue.clone(),
                    name,
                    path: entry.path,
                }),
                _ => quarantine(layout, &entry.path, &queue, "not a failed-job file"),
            }
        }
    }
    files.sort_by(|a, b| a.name.id.cmp(&b.name.id));
    Ok(files)
}

fn selected(layout: &Layout, which: &FailedSelect) -> Result<Vec<FailedFile>, DriverError> {
    let queue = match which {
        FailedSelect::Queue(queue) => Some(queue.as_str()),
        _ => None,
    };
    let mut files = files(layout, queue)?;
    files.retain(|f| f.selected(which));
    Ok(files)
}

/// Puts failed jobs back on their queues, due now, attempts afresh, error and cancel
/// forgotten; how many.
pub(crate) fn retry(layout: &Layout, which: &FailedSelect) -> Result<u64, DriverError> {
    let now = now_ms();
    let mut retried = 0;
    let mut ready_dirs = BTreeSet::new();
    for file in selected(layout, which)? {
        // The cancel is forgotten first, so the job is never handed out as cancelled.
        notes::unmark_cancel(layout, &file.name.id)?;
        files::prepare(layout, &file.queue)?;
        let ready = layout.ready(&file.queue);
        let name = JobName::ready(now, file.name.id.clone(), 0, Flags::default());
        if files::move_file(&file.path, &ready.join(name.file_name()))? {
            notes::remove_error(layout, &file.name.id)?;
            ready_dirs.insert(ready);
            retried += 1;
        }
    }
    for dir in &ready_dirs {
        fsio::sync_dir(dir).map_err(|e| io_error(dir, e))?;
    }
    Ok(retried)
}

/// Deletes failed jobs with their notes; how many.
pub(crate) fn forget(layout: &Layout, which: &FailedSelect) -> Result<u64, DriverError> {
    remove(layout, selected(layout, which)?)
}

/// Deletes failed jobs that failed before `before`; how many.
pub(crate) fn prune(layout: &Layout, before: Millis) -> Result<u64, DriverError> {
    let mut old = files(layout, None)?;
    old.retain(|f| f.name.failed_at < before);
    remove(layout, old)
}

fn remove(layout: &Layout, files: Vec<FailedFile>) -> Result<u64, DriverError> {
    let mut removed = 0;
    for file in files {
        match fs::remove_file(&file.path) {
            Ok(()) => removed += 1,
            Err(e) if fsio::is_gone(&e) => continue,
            Err(e) => return Err(io_error(&file.path, e)),
        }
        notes::remove_error(layout, &file.name.id)?;
        notes::unmark_cancel(layout, &file.name.id)?;
    }
    Ok(removed)
}
