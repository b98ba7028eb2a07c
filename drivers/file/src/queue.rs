//! Jobs in their queue folders: push, claim, and what a lease holder may do.
//!
//! Every change of a job's state is one `rename` of its file, and a rename of a name
//! that is already gone fails, so it doubles as the check that the caller still holds
//! the job: a stale lease finds no file with its token and changes nothing. Where the
//! content must change too (retry, fail), the holder first *seizes* the job by renaming
//! it to a private token with a short deadline, rewrites it under that name, then moves
//! it on; a crash half-way leaves a reserved job that is rescued like any other.

use crate::corrupt::quarantine;
use crate::fsio::{self, Entry, io_error};
use crate::keys;
use crate::layout::{DUE_KEY_LEN, JobName, Layout, padded_time};
use crate::record::Record;
use rakit_job_core::{
    DriverError, JobId, Lease, MAX_PAYLOAD_BYTES, Millis, NewJob, PushOutcome, Reserved, now_ms,
    validate_queue,
};
use std::fs;
use std::path::{Path, PathBuf};

/// How long a seized job is the holder's alone before it counts as abandoned.
const SEIZE_MS: Millis = 15_000;

/// Which folder of a queue a file was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Folder {
    Ready,
    Reserved,
}

/// A job file found in a queue folder.
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) name: JobName,
}

/// Checks a queue name and that its folder, if any, is a plain folder and not a link
/// leading out of the store.
pub(crate) fn guard(layout: &Layout, queue: &str) -> Result<(), DriverError> {
    validate_queue(queue)?;
    let dir = layout.queues().join(queue);
    fsio::refuse_link(&dir).map_err(|e| DriverError::Invalid(format!("{}: {e}", dir.display())))
}

/// Lists the job files of one folder of `queue`, setting aside anything that is not one.
pub(crate) fn scan(
    layout: &Layout,
    queue: &str,
    folder: Folder,
) -> Result<Vec<Found>, DriverError> {
    let dir = match folder {
        Folder::Ready => layout.ready(queue),
        Folder::Reserved => layout.reserved(queue),
    };
    let entries = fsio::list(&dir).map_err(|e| io_error(&dir, e))?;
    let mut found = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Some(job) = classify(layout, queue, folder, entry) {
            found.push(job);
        }
    }
    Ok(found)
}

fn classify(layout: &Layout, queue: &str, folder: Folder, entry: Entry) -> Option<Found> {
    if entry.name.starts_with('.') {
        if entry.name.starts_with(fsio::TEMP_PREFIX) && fsio::is_stale(&entry.path) {
            quarantine(
                layout,
                &entry.path,
                queue,
                "a half-written file left by a crash",
            );
        }
        return None;
    }
    let name =
        JobName::parse(&entry.name).filter(|n| n.token.is_some() == (folder == Folder::Reserved));
    match name {
        Some(name) if entry.is_file => Some(Found {
            path: entry.path,
            name,
        }),
        _ => {
            quarantine(layout, &entry.path, queue, "not a job file");
            None
        }
    }
}

/// What reading a job file gave.
enum Loaded {
    Record(Record),
    /// Another process moved it first.
    Gone,
}

fn load(layout: &Layout, path: &Path, name: &JobName, queue: &str) -> Result<Loaded, DriverError> {
    let bytes = match fsio::read(path) {
        Ok(bytes) => bytes,
        Err(e) if fsio::is_gone(&e) => return Ok(Loaded::Gone),
        Err(e) => return Err(io_error(path, e)),
    };
    match Record::parse(&bytes, &name.id, queue) {
        Ok(record) => Ok(Loaded::Record(record)),
        Err(reason) => {
            quarantine(layout, path, queue, &reason);
            Err(DriverError::Corrupt {
                id: name.id.to_string(),
                reason,
            })
        }
    }
}

/// Renames `from` to `to`; false when `from` was already gone.
fn move_file(from: &Path, to: &Path) -> Result<bool, DriverError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if fsio::is_gone(&e) => Ok(false),
        Err(e) => Err(io_error(from, e)),
    }
}

/// Stores a job, durably: its file and folder are synced before this returns.
pub(crate) fn push(layout: &Layout, job: &NewJob) -> Result<PushOutcome, DriverError> {
    guard(layout, &job.queue)?;
    if job.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(DriverError::Invalid(format!(
            "the payload of job {} is {} bytes, over the limit of {MAX_PAYLOAD_BYTES}; store large data elsewhere and pass a reference",
            job.name,
            job.payload.len()
        )));
    }
    let ready = layout.ready(&job.queue);
    fsio::ensure_dir(&ready)?;
    fsio::ensure_dir(&layout.reserved(&job.queue))?;
    let bytes = Record::new(job).to_bytes();
    let file_name = JobName::ready(job.available_at, job.id.clone(), 0).file_name();
    let Some(key) = &job.unique_key else {
        fsio::write_durably(&ready, &file_name, &bytes).map_err(|e| io_error(&ready, e))?;
        return Ok(PushOutcome::Stored);
    };
    // Write the job aside first, so the key never names a job that is not on disk.
    let temp = fsio::write_temp(&ready, &bytes).map_err(|e| io_error(&ready, e))?;
    let claim = match keys::claim_unique(layout, key, &job.id) {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            let _ = fs::remove_file(&temp);
            return Ok(PushOutcome::Duplicate);
        }
        Err(e) => {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    let published = fs::rename(&temp, ready.join(&file_name)).and_then(|()| fsio::sync_dir(&ready));
    if let Err(e) = published {
        let _ = fs::remove_file(&temp);
        claim.abandon();
        return Err(io_error(&ready, e));
    }
    claim.confirm(layout)?;
    Ok(PushOutcome::Stored)
}

/// What a worker asks `reserve` for, owned so it can move to a blocking thread.
pub(crate) struct Want {
    pub(crate) queues: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) limit: usize,
    pub(crate) lease_ms: Millis,
}

/// Claims up to `limit` due jobs, queue by queue, each by one rename into `reserved/`.
pub(crate) fn reserve(layout: &Layout, want: &Want) -> Result<Vec<Reserved>, DriverError> {
    let mut taken = Vec::new();
    for queue in &want.queues {
        if taken.len() >= want.limit {
            break;
        }
        guard(layout, queue)?;
        for (folder, entry) in due_entries(layout, queue)? {
            if taken.len() >= want.limit {
                break;
            }
            let Some(candidate) = classify(layout, queue, folder, entry) else {
                continue;
            };
            if let Some(r) = claim(layout, queue, want, candidate)? {
                taken.push(r);
            }
        }
    }
    Ok(taken)
}

/// The entries of `ready/` and `reserved/` whose name says they are due now, in due
/// order. Only the time prefix is looked at here; each name is fully read when its turn
/// comes, so a large queue costs one listing, not one parse per file.
fn due_entries(layout: &Layout, queue: &str) -> Result<Vec<(Folder, Entry)>, DriverError> {
    let now = padded_time(now_ms());
    let mut due = Vec::new();
    for (folder, dir) in [
        (Folder::Ready, layout.ready(queue)),
        (Folder::Reserved, layout.reserved(queue)),
    ] {
        for entry in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
            match entry.name.get(..now.len()) {
                Some(time)
                    if !entry.name.starts_with('.') && time.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    if time <= now.as_str() {
                        due.push((folder, entry));
                    }
                }
                // Temp files and strangers: `classify` deals with them.
                _ => {
                    let _ = classify(layout, queue, folder, entry);
                }
            }
        }
    }
    // Time, then id: both kinds of names start with the same two fields.
    due.sort_by(|a, b| due_key(&a.1.name).cmp(due_key(&b.1.name)));
    Ok(due)
}

fn due_key(name: &str) -> &str {
    name.get(..DUE_KEY_LEN).unwrap_or(name)
}

fn claim(
    layout: &Layout,
    queue: &str,
    want: &Want,
    candidate: Found,
) -> Result<Option<Reserved>, DriverError> {
    if let Some(wanted) = &want.name {
        match load(layout, &candidate.path, &candidate.name, queue) {
            Ok(Loaded::Record(r)) if &r.name == wanted => {}
            Ok(_) | Err(DriverError::Corrupt { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let lease = Lease::new(candidate.name.id.clone(), queue);
    let name = candidate
        .name
        .claimed(now_ms() + want.lease_ms, lease.token);
    let path = layout.reserved(queue).join(name.file_name());
    if !move_file(&candidate.path, &path)? {
        return Ok(None);
    }
    match load(layout, &path, &name, queue) {
        Ok(Loaded::Record(record)) => Ok(Some(Reserved {
            job: record.to_stored(&name),
            lease,
        })),
        Ok(Loaded::Gone) | Err(DriverError::Corrupt { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Finds the reserved file of `lease`, if the lease is still current.
fn held(layout: &Layout, lease: &Lease) -> Result<Option<Found>, DriverError> {
    if guard(layout, &lease.queue).is_err() {
        return Ok(None);
    }
    let dir = layout.reserved(&lease.queue);
    let entries = fsio::list(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(entries.into_iter().find_map(|entry| {
        let name = JobName::parse(&entry.name)?;
        (name.id == lease.id && name.token == Some(lease.token)).then_some(Found {
            path: entry.path,
            name,
        })
    }))
}

/// Renames the held file to a private token, so only this caller can touch it next.
fn seize(layout: &Layout, lease: &Lease, found: &Found) -> Result<Option<Found>, DriverError> {
    let private = Lease::new(lease.id.clone(), &lease.queue).token;
    let name = JobName::reserved(
        now_ms() + SEIZE_MS,
        lease.id.clone(),
        found.name.attempts,
        private,
    );
    let path = layout.reserved(&lease.queue).join(name.file_name());
    Ok(move_file(&found.path, &path)?.then_some(Found { path, name }))
}

/// Replaces the content of a seized file (only its seizer writes to that name).
fn rewrite(
    layout: &Layout,
    lease: &Lease,
    seized: &Found,
    record: &Record,
) -> Result<(), DriverError> {
    let dir = layout.reserved(&lease.queue);
    let temp = fsio::write_temp(&dir, &record.to_bytes()).map_err(|e| io_error(&dir, e))?;
    fs::rename(&temp, &seized.path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        io_error(&seized.path, e)
    })
}

/// Pushes the lease deadline to now + `lease_ms`.
pub(crate) fn extend(
    layout: &Layout,
    lease: &Lease,
    lease_ms: Millis,
) -> Result<bool, DriverError> {
    let Some(found) = held(layout, lease)? else {
        return Ok(false);
    };
    let name = JobName::reserved(
        now_ms() + lease_ms,
        lease.id.clone(),
        found.name.attempts,
        lease.token,
    );
    move_file(
        &found.path,
        &layout.reserved(&lease.queue).join(name.file_name()),
    )
}

/// Deletes a finished job, giving its unique key back first.
pub(crate) fn ack(layout: &Layout, lease: &Lease) -> Result<bool, DriverError> {
    let Some(found) = held(layout, lease)? else {
        return Ok(false);
    };
    let unique_key = match load(layout, &found.path, &found.name, &lease.queue) {
        Ok(Loaded::Record(record)) => record.unique_key,
        Ok(Loaded::Gone) => return Ok(false),
        // Set aside already; the job is finished either way.
        Err(DriverError::Corrupt { .. }) => return Ok(true),
        Err(e) => return Err(e),
    };
    let Some(key) = unique_key else {
        return match fs::remove_file(&found.path) {
            Ok(()) => Ok(true),
            Err(e) if fsio::is_gone(&e) => Ok(false),
            Err(e) => Err(io_error(&found.path, e)),
        };
    };
    let Some(seized) = seize(layout, lease, &found)? else {
        return Ok(false);
    };
    keys::release_unique(layout, &key, &lease.id)?;
    fs::remove_file(&seized.path).map_err(|e| io_error(&seized.path, e))?;
    Ok(true)
}

/// Puts a failed attempt back, due at `available_at`, with its attempts and error.
pub(crate) fn retry(
    layout: &Layout,
    lease: &Lease,
    available_at: Millis,
    error: &str,
) -> Result<bool, DriverError> {
    let Some(found) = held(layout, lease)? else {
        return Ok(false);
    };
    let Loaded::Record(mut record) = load(layout, &found.path, &found.name, &lease.queue)? else {
        return Ok(false);
    };
    let Some(seized) = seize(layout, lease, &found)? else {
        return Ok(false);
    };
    record.attempts = seized.name.attempts;
    record.last_error = Some(error.to_string());
    rewrite(layout, lease, &seized, &record)?;
    let name = JobName::ready(available_at, lease.id.clone(), seized.name.attempts);
    move_file(
        &seized.path,
        &layout.ready(&lease.queue).join(name.file_name()),
    )
}

/// Hands a job back untouched, due at `available_at`, without counting the attempt.
pub(crate) fn release(
    layout: &Layout,
    lease: &Lease,
    available_at: Millis,
) -> Result<bool, DriverError> {
    let Some(found) = held(layout, lease)? else {
        return Ok(false);
    };
    let name = JobName::ready(
        available_at,
        lease.id.clone(),
        found.name.attempts.saturating_sub(1),
    );
    move_file(
        &found.path,
        &layout.ready(&lease.queue).join(name.file_name()),
    )
}

/// Moves a job to the failed folder with its error, giving its unique key back first.
pub(crate) fn fail(layout: &Layout, lease: &Lease, error: &str) -> Result<bool, DriverError> {
    let Some(found) = held(layout, lease)? else {
        return Ok(false);
    };
    let Loaded::Record(record) = load(layout, &found.path, &found.name, &lease.queue)? else {
        return Ok(false);
    };
    let Some(seized) = seize(layout, lease, &found)? else {
        return Ok(false);
    };
    if let Some(key) = &record.unique_key {
        keys::release_unique(layout, key, &lease.id)?;
    }
    let failed = record.into_failed(seized.name.attempts, error, now_ms());
    rewrite(layout, lease, &seized, &failed)?;
    let dir = layout.failed(&lease.queue);
    fsio::ensure_dir(&dir)?;
    let moved = move_file(&seized.path, &dir.join(failed_file_name(&lease.id)))?;
    fsio::sync_dir(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(moved)
}

/// The name of a failed job's file in `failed/<queue>/`.
pub(crate) fn failed_file_name(id: &JobId) -> String {
    format!("{id}.json")
}
