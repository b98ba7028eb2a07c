//! Job files in their queue folders: finding, reading, moving and seizing them, and writing
//! a new one.
//!
//! Every change of a job's state is one `rename` of its file, and a rename of a name that
//! is already gone fails, so it doubles as the check that the caller still holds the job:
//! a stale lease finds no file with its token and changes nothing. A step that must do
//! more than one thing before the job leaves (give back a unique key, store follow-ups)
//! first *seizes* the job by renaming it to a private token with a short deadline; a crash
//! half-way leaves a reserved job that is rescued like any other.

use crate::corrupt::quarantine;
use crate::fsio::{self, Entry, Unsynced, io_error};
use crate::keys::{JobName, Layout, id_part};
use crate::locks::{self, Claim};
use crate::record::Record;
use rakit_job_core::{
    DriverError, JobId, Lease, Millis, NewJob, PushOutcome, fresh_token, now_ms, validate_queue,
};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// How long a seized job is its seizer's alone before it counts as abandoned.
const SEIZE_MS: Millis = 15_000;

/// Which folder of a queue a file was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Folder {
    Ready,
    Reserved,
}

/// A job file found in a queue folder.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) name: JobName,
    pub(crate) queue: String,
}

impl Found {
    /// Held by a worker right now (a reserved file whose deadline has not passed).
    pub(crate) fn is_running(&self, now: Millis) -> bool {
        self.name.holder.is_some() && self.name.time > now
    }
}

/// Checks a queue name and that its folder, if any, is a plain folder and not a link
/// leading out of the store.
pub(crate) fn guard(layout: &Layout, queue: &str) -> Result<(), DriverError> {
    validate_queue(queue)?;
    let dir = layout.queue(queue);
    fsio::refuse_link(&dir).map_err(|e| DriverError::Invalid(format!("{}: {e}", dir.display())))
}

/// Creates the folders of `queue`.
pub(crate) fn prepare(layout: &Layout, queue: &str) -> Result<(), DriverError> {
    guard(layout, queue)?;
    fsio::ensure_dir(&layout.ready(queue))?;
    fsio::ensure_dir(&layout.reserved(queue))
}

/// The queue folders on disk whose names are valid queue names, sorted.
pub(crate) fn queues_on_disk(layout: &Layout) -> Result<Vec<String>, DriverError> {
    let root = layout.queues();
    let names = fsio::subfolders(&root).map_err(|e| io_error(&root, e))?;
    Ok(names
        .into_iter()
        .filter(|q| validate_queue(q).is_ok())
        .collect())
}

pub(crate) fn folder_path(layout: &Layout, queue: &str, folder: Folder) -> PathBuf {
    match folder {
        Folder::Ready => layout.ready(queue),
        Folder::Reserved => layout.reserved(queue),
    }
}

/// Lists the job files of one folder of `queue`, setting aside anything that is not one.
pub(crate) fn scan(
    layout: &Layout,
    queue: &str,
    folder: Folder,
) -> Result<Vec<Found>, DriverError> {
    let dir = folder_path(layout, queue, folder);
    let entries = fsio::list(&dir).map_err(|e| io_error(&dir, e))?;
    Ok(entries
        .into_iter()
        .filter_map(|entry| classify(layout, queue, folder, entry))
        .collect())
}

/// Calls `each` with the due time, id text and name of every job file of one folder of
/// `queue`, reading only the names, not even checking them whole: for counting and
/// paging over many jobs. What is not a job file is skipped here; the full scans set it
/// aside.
pub(crate) fn glance(
    layout: &Layout,
    queue: &str,
    folder: Folder,
    mut each: impl FnMut(Millis, &str, &str),
) -> Result<(), DriverError> {
    let dir = folder_path(layout, queue, folder);
    fsio::each_name(&dir, |entry| {
        if let Some((time, id)) = crate::keys::time_and_id(&entry.name) {
            each(time, id, &entry.name);
        }
    })
    .map_err(|e| io_error(&dir, e))
}

/// Reads a folder entry as a job file, or sets it aside when it cannot be one.
pub(crate) fn classify(
    layout: &Layout,
    queue: &str,
    folder: Folder,
    entry: Entry,
) -> Option<Found> {
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
        JobName::parse(&entry.name).filter(|n| n.holder.is_some() == (folder == Folder::Reserved));
    match name {
        Some(name) if entry.is_file => Some(Found {
            path: entry.path,
            name,
            queue: queue.to_string(),
        }),
        _ => {
            quarantine(layout, &entry.path, queue, "not a job file");
            None
        }
    }
}

/// Finds job `id` in the folders of any queue. A job moving between the two folders of
/// its queue while they are listed is looked for again, so a job that exists is found.
pub(crate) fn find(layout: &Layout, id: &JobId) -> Result<Option<Found>, DriverError> {
    const LOOKS: usize = 3;
    let queues = queues_on_disk(layout)?;
    for _ in 0..LOOKS {
        for queue in &queues {
            for folder in [Folder::Ready, Folder::Reserved] {
                let dir = folder_path(layout, queue, folder);
                for entry in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
                    if id_part(&entry.name) == Some(id.as_str())
                        && let Some(found) = classify(layout, queue, folder, entry)
                    {
                        return Ok(Some(found));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// What reading a job file gave.
pub(crate) enum Loaded {
    Record(Record),
    /// Another process moved it first.
    Gone,
}

/// Reads a job file; a file that cannot be read as the job its name says is set aside.
pub(crate) fn load(layout: &Layout, found: &Found) -> Result<Loaded, DriverError> {
    let bytes = match fsio::read(&found.path) {
        Ok(bytes) => bytes,
        Err(e) if fsio::is_gone(&e) => return Ok(Loaded::Gone),
        Err(e) => return Err(io_error(&found.path, e)),
    };
    match Record::parse(&bytes, &found.name.id, &found.queue) {
        Ok(record) => Ok(Loaded::Record(record)),
        Err(reason) => {
            quarantine(layout, &found.path, &found.queue, &reason);
            Err(DriverError::Corrupt {
                id: found.name.id.to_string(),
                reason,
            })
        }
    }
}

/// Renames `from` to `to`; false when `from` was already gone.
pub(crate) fn move_file(from: &Path, to: &Path) -> Result<bool, DriverError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if fsio::is_gone(&e) => Ok(false),
        Err(e) => Err(io_error(from, e)),
    }
}

/// Moves a job file to `name` in `folder` of its queue; the new place, or `None` when
/// the file was gone.
pub(crate) fn move_to(
    layout: &Layout,
    found: &Found,
    folder: Folder,
    name: JobName,
) -> Result<Option<Found>, DriverError> {
    let path = folder_path(layout, &found.queue, folder).join(name.file_name());
    Ok(move_file(&found.path, &path)?.then(|| Found {
        path,
        name,
        queue: found.queue.clone(),
    }))
}

/// Renames a held file to a private token, so only this caller can touch it next.
pub(crate) fn seize(layout: &Layout, found: &Found) -> Result<Option<Found>, DriverError> {
    let name = found.name.rekeyed(now_ms() + SEIZE_MS, fresh_token());
    move_to(layout, found, Folder::Reserved, name)
}

/// Prepares a held job to leave its queue for good: a job holding its unique key is
/// seized and gives the key back first, so a live key always names a stored job. The
/// file to finish with, or `None` when the lease was lost meanwhile.
pub(crate) fn let_go(layout: &Layout, found: &Found) -> Result<Option<Found>, DriverError> {
    if !found.name.flags.unique {
        return Ok(Some(found.clone()));
    }
    let Some(seized) = seize(layout, found)? else {
        return Ok(None);
    };
    if let Loaded::Record(record) = load(layout, &seized)?
        && let Some(key) = &record.unique_key
    {
        locks::release_unique(layout, key, &seized.name.id)?;
    }
    Ok(Some(seized))
}

/// The reserved files of the queues a batch of leases names, listed once for the batch.
pub(crate) struct Holdings {
    by_id: HashMap<JobId, Vec<Found>>,
}

impl Holdings {
    pub(crate) fn read<'a>(
        layout: &Layout,
        leases: impl Iterator<Item = &'a Lease>,
    ) -> Result<Holdings, DriverError> {
        let mut queues: Vec<&str> = leases.map(|l| l.queue.as_str()).collect();
        queues.sort();
        queues.dedup();
        let mut holdings = Holdings {
            by_id: HashMap::new(),
        };
        for queue in queues {
            holdings.add_queue(layout, queue)?;
        }
        Ok(holdings)
    }

    fn add_queue(&mut self, layout: &Layout, queue: &str) -> Result<(), DriverError> {
        if guard(layout, queue).is_err() {
            return Ok(());
        }
        for found in scan(layout, queue, Folder::Reserved)? {
            self.by_id
                .entry(found.name.id.clone())
                .or_default()
                .push(found);
        }
        Ok(())
    }

    /// Lists the lease's queue again, after a rename found its file gone.
    pub(crate) fn refresh(&mut self, layout: &Layout, lease: &Lease) -> Result<(), DriverError> {
        self.by_id.retain(|_, files| {
            files.retain(|f| f.queue != lease.queue);
            !files.is_empty()
        });
        self.add_queue(layout, &lease.queue)
    }

    /// The file of `lease`, if the lease is still current.
    pub(crate) fn held(&self, lease: &Lease) -> Option<&Found> {
        self.by_id.get(&lease.id)?.iter().find(|f| {
            f.queue == lease.queue && f.name.holder.as_ref().map(|h| h.token) == Some(lease.token)
        })
    }
}

/// Does `step` on the file of `lease`; when its rename finds the file gone (its own
/// worker renewed it meanwhile), lists the queue again and retries while the lease holds.
/// `step` gives `None` when the file was gone. False when the lease is not current.
pub(crate) fn with_held(
    layout: &Layout,
    holdings: &mut Holdings,
    lease: &Lease,
    mut step: impl FnMut(&Found) -> Result<Option<()>, DriverError>,
) -> Result<bool, DriverError> {
    const TRIES: usize = 3;
    for _ in 0..TRIES {
        let Some(found) = holdings.held(lease).cloned() else {
            return Ok(false);
        };
        if step(&found)?.is_some() {
            return Ok(true);
        }
        holdings.refresh(layout, lease)?;
    }
    Ok(false)
}

/// Writes `job` as `dir/name`: a temp file, its unique key or window claimed, then renamed
/// into place, its data left to `unsynced`. A classic unique claim is added to `claims`,
/// to be confirmed once the folder is synced. Neither the file nor the folder is synced
/// here.
pub(crate) fn write_job(
    layout: &Layout,
    job: &NewJob,
    (dir, name): (&Path, &str),
    claims: &mut Vec<Claim>,
    unsynced: &mut Unsynced,
) -> Result<PushOutcome, DriverError> {
    let (temp, file) =
        fsio::create_temp(dir, &Record::new(job).to_bytes()).map_err(|e| io_error(dir, e))?;
    let discard = |e: DriverError| {
        let _ = fs::remove_file(&temp);
        e
    };
    let mut claim = None;
    match (&job.unique_key, job.unique_for) {
        (Some(key), Some(window)) => {
            if !locks::open_window(layout, key, &job.id, window).map_err(discard)? {
                let _ = fs::remove_file(&temp);
                return Ok(PushOutcome::Duplicate);
            }
        }
        (Some(key), None) => match locks::claim_unique(layout, key, &job.id).map_err(discard)? {
            Some(c) => claim = Some(c),
            None => {
                let _ = fs::remove_file(&temp);
                return Ok(PushOutcome::Duplicate);
            }
        },
        (None, _) => {}
    }
    let path = dir.join(name);
    if let Err(e) = fs::rename(&temp, &path) {
        let _ = fs::remove_file(&temp);
        if let Some(claim) = claim {
            claim.abandon();
        } else if let (Some(key), Some(_)) = (&job.unique_key, job.unique_for) {
            let _ = locks::close_window(layout, key, &job.id);
        }
        return Err(io_error(dir, e));
    }
    claims.extend(claim);
    unsynced.add(path, file);
    Ok(PushOutcome::Stored)
}
