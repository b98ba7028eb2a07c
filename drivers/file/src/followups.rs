//! Follow-up jobs stored with an ack, through a small journal, so a crash can neither
//! lose them nor store them twice.
//!
//! An ack carrying follow-ups seizes its job, then writes each follow-up (synced, its
//! unique key or window claimed) into a fresh folder `journal/<id>-<token>/` as
//! `<queue>.<ready name>`, and syncs that folder. The commit is one rename: the acked job's
//! file moves into the journal folder as `acked`.
//!
//! - Before the commit, a crash leaves the job seized; it is rescued and runs again, and
//!   the uncommitted folder is discarded (its claims given back) when the job is acked
//!   again, or after five minutes.
//! - After the commit, the job can never run again, and the follow-ups are published by
//!   whoever gets there first: the acker itself, or the recovery every worker process
//!   runs now and then. Publishing renames each follow-up into its queue's `ready/` (a
//!   second rename of the same file finds it gone, so none is stored twice), syncs those
//!   folders, and only then removes `acked` and the journal folder.

use crate::files::{self, Found, Loaded};
use crate::fsio::{self, Unsynced, io_error};
use crate::keys::{Flags, JobName, Layout};
use crate::locks;
use crate::notes;
use crate::record::Record;
use rakit_job_core::{DriverError, JobId, NewJob, now_ms};
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The name the acked job's file takes in its journal folder: the commit.
const ACKED: &str = "acked";

/// Acks the held job `found` and stores `then` with it. `None` when the lease was lost
/// (nothing is written); otherwise whether a follow-up is due now.
pub(crate) fn ack(
    layout: &Layout,
    found: &Found,
    then: &[NewJob],
) -> Result<Option<bool>, DriverError> {
    let Some(seized) = files::seize(layout, found)? else {
        return Ok(None);
    };
    let id = seized.name.id.clone();
    let token = seized.name.holder.as_ref().map_or(0, |h| h.token);
    discard_earlier(layout, &id)?;
    let dir = layout.journal().join(format!("{id}-{token}"));
    fs::create_dir(&dir).map_err(|e| io_error(&dir, e))?;
    let committed = stage(layout, &dir, then).and_then(|()| commit(layout, &seized, &dir));
    if let Err(e) = committed {
        discard(layout, &dir);
        return Err(e);
    }
    if seized.name.flags.error {
        notes::remove_error(layout, &id)?;
    }
    notes::unmark_cancel(layout, &id)?;
    // The ack is done: what is left to publish, the recovery publishes if this cannot.
    let due_now = publish(layout, &dir).unwrap_or_else(|e| {
        tracing::warn!(job = %id, "follow-ups of an acked job wait for the next recovery ({e})");
        false
    });
    Ok(Some(due_now))
}

/// Writes the follow-ups into the journal folder and syncs it; a follow-up whose unique
/// key or window is taken is left out, as a push would skip it.
fn stage(layout: &Layout, dir: &Path, then: &[NewJob]) -> Result<(), DriverError> {
    let (mut claims, mut unsynced) = (Vec::new(), Unsynced::default());
    for job in then {
        files::prepare(layout, &job.queue)?;
        let flags = Flags {
            unique: job.unique_key.is_some() && job.unique_for.is_none(),
            ..Flags::default()
        };
        let ready = JobName::ready(job.available_at, job.id.clone(), 0, flags);
        let name = format!("{}.{}", job.queue, ready.file_name());
        // Claims are confirmed by `publish`, from the staged files, like a recovery would.
        files::write_job(layout, job, (dir, &name), &mut claims, &mut unsynced)?;
    }
    unsynced.sync()?;
    fsio::sync_dir(dir).map_err(|e| io_error(dir, e))
}

/// The acked job gives back its unique key, then moves into the journal: from here on
/// it is acked and its follow-ups will be stored.
fn commit(layout: &Layout, seized: &Found, dir: &Path) -> Result<(), DriverError> {
    if seized.name.flags.unique
        && let Loaded::Record(record) = files::load(layout, seized)?
        && let Some(key) = &record.unique_key
    {
        locks::release_unique(layout, key, &seized.name.id)?;
    }
    fs::rename(&seized.path, dir.join(ACKED)).map_err(|e| io_error(&seized.path, e))
}

/// A staged follow-up: its queue, its ready name, and where it is.
struct Staged {
    queue: String,
    name: JobName,
    ready_name: String,
    path: std::path::PathBuf,
}

fn staged(dir: &Path) -> Result<Vec<Staged>, DriverError> {
    let entries = fsio::list(dir).map_err(|e| io_error(dir, e))?;
    Ok(entries
        .into_iter()
        .filter(|e| e.is_file && e.name != ACKED && !e.name.starts_with('.'))
        .filter_map(|e| {
            let (queue, ready_name) = e.name.split_once('.')?;
            let name = JobName::parse(ready_name).filter(|n| n.holder.is_none())?;
            Some(Staged {
                queue: queue.to_string(),
                name,
                ready_name: ready_name.to_string(),
                path: e.path,
            })
        })
        .collect())
}

fn record_of(staged: &Staged) -> Option<Record> {
    let bytes = fsio::read(&staged.path).ok()?;
    Record::parse(&bytes, &staged.name.id, &staged.queue).ok()
}

/// Moves the follow-ups of a committed journal into their queues, then removes the
/// journal; whether one is due now. A follow-up that cannot move (its queue folder was
/// made a link, say) stays, with the journal, for the next recovery, and is reported.
fn publish(layout: &Layout, dir: &Path) -> Result<bool, DriverError> {
    let now = now_ms();
    let mut due_now = false;
    let mut ready_dirs = BTreeSet::new();
    let mut keys = Vec::new();
    let mut left = None;
    for follow_up in staged(dir)? {
        let key = record_of(&follow_up)
            .and_then(|r| r.unique_key)
            .filter(|_| follow_up.name.flags.unique);
        let ready = layout.ready(&follow_up.queue);
        let moved = files::prepare(layout, &follow_up.queue)
            .and_then(|()| files::move_file(&follow_up.path, &ready.join(&follow_up.ready_name)));
        match moved {
            Ok(true) => {
                due_now |= follow_up.name.time <= now;
                ready_dirs.insert(ready);
                keys.extend(key.map(|k| (k, follow_up.name.id.clone())));
            }
            Ok(false) => {}
            Err(e) => left = Some(e),
        }
    }
    for ready in &ready_dirs {
        fsio::sync_dir(ready).map_err(|e| io_error(ready, e))?;
    }
    for (key, id) in keys {
        locks::confirm_unique(layout, &key, &id)?;
    }
    match left {
        Some(e) => Err(e),
        None => {
            remove_folder(dir);
            Ok(due_now)
        }
    }
}

/// Throws away an uncommitted journal: gives back its follow-ups' keys and windows.
fn discard(layout: &Layout, dir: &Path) {
    if let Ok(follow_ups) = staged(dir) {
        for follow_up in follow_ups {
            if let Some(record) = record_of(&follow_up)
                && let Some(key) = &record.unique_key
            {
                let id = &follow_up.name.id;
                let _ = match record.unique_for {
                    Some(_) => locks::close_window(layout, key, id),
                    None => locks::release_unique(layout, key, id),
                };
            }
        }
    }
    remove_folder(dir);
}

/// Removes a journal folder and what is left in it.
fn remove_folder(dir: &Path) {
    if let Ok(entries) = fsio::list(dir) {
        for entry in entries {
            let _ = fs::remove_file(&entry.path);
        }
    }
    let _ = fs::remove_dir(dir);
}

/// True when a journal folder holds its acked job: its follow-ups must be published.
fn is_committed(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(ACKED)).is_ok()
}

/// Settles the journals earlier runs of job `id` left: its current holder is acking it,
/// so none of them is still being written.
fn discard_earlier(layout: &Layout, id: &JobId) -> Result<(), DriverError> {
    let root = layout.journal();
    let prefix = format!("{id}-");
    for name in fsio::subfolders(&root).map_err(|e| io_error(&root, e))? {
        if name.starts_with(&prefix) {
            settle(layout, &root.join(name), true)?;
        }
    }
    Ok(())
}

/// Publishes a committed journal, or discards an uncommitted one that is `abandoned`.
fn settle(layout: &Layout, dir: &Path, abandoned: bool) -> Result<bool, DriverError> {
    if is_committed(dir) {
        return publish(layout, dir);
    }
    if abandoned {
        discard(layout, dir);
    }
    Ok(false)
}

/// Finishes the acks a crash left half-way: publishes committed journals, discards
/// uncommitted ones older than a push could take. Whether a follow-up is due now. A
/// journal that cannot be settled is reported and left for the next recovery.
pub(crate) fn recover(layout: &Layout) -> Result<bool, DriverError> {
    let root = layout.journal();
    let mut due_now = false;
    for name in fsio::subfolders(&root).map_err(|e| io_error(&root, e))? {
        let dir = root.join(name);
        let abandoned = fsio::is_stale(&dir);
        match settle(layout, &dir, abandoned) {
            Ok(due) => due_now |= due,
            Err(e) => tracing::warn!(
                journal = %dir.display(),
                "follow-ups of an acked job could not be stored yet and will be tried again ({e})"
            ),
        }
    }
    Ok(due_now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::Holdings;
    use crate::jobs;
    use rakit_job_core::test_support::temp_dir;
    use rakit_job_core::{Finish, ReserveRequest, Reserved};

    fn layout() -> Layout {
        let layout = Layout::new(temp_dir("file-journal"));
        for dir in layout.fixed_folders() {
            fs::create_dir_all(dir).unwrap();
        }
        layout
    }

    fn take(layout: &Layout, lease_ms: i64) -> Vec<Reserved> {
        let queues = vec!["default".to_string(), "next".to_string()];
        jobs::reserve(
            layout,
            &Default::default(),
            &ReserveRequest::new(&queues, 10, lease_ms, "w"),
        )
        .unwrap()
    }

    fn follow_up(unique: &str) -> NewJob {
        let mut job = NewJob::now("second", "next", "{}");
        job.unique_key = Some(unique.to_string());
        job
    }

    /// Seizes the held job of `taken` and stages `then` for it, as an ack does up to its
    /// commit: the state a crash right before the commit leaves.
    fn stage_only(
        layout: &Layout,
        taken: &Reserved,
        then: &[NewJob],
    ) -> (Found, std::path::PathBuf) {
        let holdings = Holdings::read(layout, std::iter::once(&taken.lease)).unwrap();
        let found = holdings.held(&taken.lease).unwrap().clone();
        let seized = files::seize(layout, &found).unwrap().unwrap();
        let token = seized.name.holder.as_ref().unwrap().token;
        let dir = layout.journal().join(format!("{}-{token}", seized.name.id));
        fs::create_dir(&dir).unwrap();
        stage(layout, &dir, then).unwrap();
        (seized, dir)
    }

    #[test]
    fn a_crash_after_the_commit_loses_no_follow_up_and_stores_none_twice() {
        let layout = layout();
        jobs::push(&layout, &[NewJob::now("first", "default", "{}")]).unwrap();
        let first = take(&layout, 60_000).pop().unwrap();
        let next = follow_up("chain:1");
        let (seized, dir) = stage_only(&layout, &first, std::slice::from_ref(&next));
        commit(&layout, &seized, &dir).unwrap();
        // The process dies here: the job is acked, its follow-up not yet in its queue.
        assert!(take(&layout, 60_000).is_empty());
        assert!(recover(&layout).unwrap(), "the follow-up is due now");
        let got = take(&layout, 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.id, next.id);
        assert!(!recover(&layout).unwrap());
        assert!(take(&layout, 1).is_empty(), "a follow-up was stored twice");
        assert!(fsio::subfolders(&layout.journal()).unwrap().is_empty());
        // Its unique key was confirmed: a push of the same key is a duplicate.
        let again = jobs::push(&layout, &[follow_up("chain:1")]).unwrap();
        assert_eq!(again, [rakit_job_core::PushOutcome::Duplicate]);
        fs::remove_dir_all(layout.root()).unwrap();
    }

    #[test]
    fn a_crash_before_the_commit_runs_the_job_again_and_stores_its_follow_ups_once() {
        let layout = layout();
        jobs::push(&layout, &[NewJob::now("first", "default", "{}")]).unwrap();
        let first = take(&layout, 60_000).pop().unwrap();
        let lost = follow_up("chain:2");
        let (seized, _) = stage_only(&layout, &first, std::slice::from_ref(&lost));
        // The process dies here; once the seizure runs out, the job is rescued.
        let expired = seized.name.rekeyed(1, 7);
        fs::rename(
            &seized.path,
            layout.reserved("default").join(expired.file_name()),
        )
        .unwrap();
        let again = take(&layout, 60_000).pop().expect("the job is rescued");
        assert_eq!(
            (again.job.id.clone(), again.job.attempts),
            (first.job.id.clone(), 2)
        );
        let kept = follow_up("chain:2");
        let ack = Finish::Ack {
            lease: again.lease.clone(),
            then: vec![kept.clone()],
        };
        let done = jobs::complete(&layout, &[ack]).unwrap();
        assert_eq!((done.written, done.due_now), (vec![true], true));
        let got: Vec<JobId> = take(&layout, 60_000)
            .into_iter()
            .map(|r| r.job.id)
            .collect();
        assert_eq!(
            got,
            [kept.id],
            "the first run's follow-up was dropped, the second stored"
        );
        assert!(fsio::subfolders(&layout.journal()).unwrap().is_empty());
        fs::remove_dir_all(layout.root()).unwrap();
    }
}
