//! The failed-jobs folder: `failed/<queue>/<id>.json`, one file per failed job.

use crate::corrupt::quarantine;
use crate::fsio::{self, io_error};
use crate::layout::{JobName, Layout};
use crate::queue::failed_file_name;
use crate::record::Record;
use rakit_job_core::{DriverError, FailedJob, JobId, now_ms, validate_queue};
use std::fs;
use std::path::PathBuf;

/// A failed job's file.
struct FailedFile {
    queue: String,
    id: JobId,
    path: PathBuf,
}

/// Queue folders of the failed store whose names are valid queue names.
fn queues(layout: &Layout) -> Result<Vec<String>, DriverError> {
    let root = layout.failed_root();
    let names = fsio::subfolders(&root).map_err(|e| io_error(&root, e))?;
    Ok(names
        .into_iter()
        .filter(|q| validate_queue(q).is_ok())
        .collect())
}

fn files(layout: &Layout) -> Result<Vec<FailedFile>, DriverError> {
    let mut files = Vec::new();
    for queue in queues(layout)? {
        let dir = layout.failed(&queue);
        for entry in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
            if entry.name.starts_with('.') {
                if entry.name.starts_with(fsio::TEMP_PREFIX) && fsio::is_stale(&entry.path) {
                    quarantine(
                        layout,
                        &entry.path,
                        &queue,
                        "a half-written file left by a crash",
                    );
                }
                continue;
            }
            let id = entry
                .name
                .strip_suffix(".json")
                .and_then(|s| JobId::parse(s).ok());
            match id {
                Some(id) if entry.is_file => files.push(FailedFile {
                    queue: queue.clone(),
                    id,
                    path: entry.path,
                }),
                _ => quarantine(layout, &entry.path, &queue, "not a failed-job file"),
            }
        }
    }
    Ok(files)
}

/// How many failed jobs each queue holds.
pub(crate) fn counts(layout: &Layout) -> Result<Vec<(String, u64)>, DriverError> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for file in files(layout)? {
        match counts.last_mut() {
            Some((queue, n)) if *queue == file.queue => *n += 1,
            _ => counts.push((file.queue, 1)),
        }
    }
    Ok(counts)
}

/// Failed jobs, most recent first.
pub(crate) fn list(layout: &Layout, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
    let mut jobs = Vec::new();
    for file in files(layout)? {
        let bytes = match fsio::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) if fsio::is_gone(&e) => continue,
            Err(e) => return Err(io_error(&file.path, e)),
        };
        match Record::parse(&bytes, &file.id, &file.queue) {
            Ok(record) => jobs.push(record.to_failed(file.id)),
            Err(reason) => quarantine(layout, &file.path, &file.queue, &reason),
        }
    }
    jobs.sort_by(|a, b| (b.failed_at, &b.id).cmp(&(a.failed_at, &a.id)));
    jobs.truncate(limit);
    Ok(jobs)
}

/// Moves a failed job back to its queue, due now, with its attempts starting afresh.
pub(crate) fn retry(layout: &Layout, id: &JobId) -> Result<bool, DriverError> {
    for queue in queues(layout)? {
        let path = layout.failed(&queue).join(failed_file_name(id));
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        crate::queue::guard(layout, &queue)?;
        let ready = layout.ready(&queue);
        fsio::ensure_dir(&ready)?;
        fsio::ensure_dir(&layout.reserved(&queue))?;
        let target = ready.join(JobName::ready(now_ms(), id.clone(), 0).file_name());
        match fs::rename(&path, &target) {
            Ok(()) => {
                fsio::sync_dir(&ready).map_err(|e| io_error(&ready, e))?;
                return Ok(true);
            }
            Err(e) if fsio::is_gone(&e) => continue,
            Err(e) => return Err(io_error(&path, e)),
        }
    }
    Ok(false)
}

/// Deletes one failed job.
pub(crate) fn forget(layout: &Layout, id: &JobId) -> Result<bool, DriverError> {
    for queue in queues(layout)? {
        let path = layout.failed(&queue).join(failed_file_name(id));
        match fs::remove_file(&path) {
            Ok(()) => return Ok(true),
            Err(e) if fsio::is_gone(&e) => continue,
            Err(e) => return Err(io_error(&path, e)),
        }
    }
    Ok(false)
}

/// Deletes every failed job and returns how many there were.
pub(crate) fn flush(layout: &Layout) -> Result<u64, DriverError> {
    let mut removed = 0;
    for file in files(layout)? {
        match fs::remove_file(&file.path) {
            Ok(()) => removed += 1,
            Err(e) if fsio::is_gone(&e) => {}
            Err(e) => return Err(io_error(&file.path, e)),
        }
    }
    Ok(removed)
}
