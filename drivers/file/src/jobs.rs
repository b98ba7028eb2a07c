//! The hot path over the queue folders: push, reserve, extend and complete.
//!
//! A batch costs as few syncs as durability needs: a push syncs each job file and then
//! each queue folder it wrote once; a batch of final writes syncs the failed folders it
//! wrote once, and acks, retries and releases sync nothing (after a power loss such a job
//! is rescued and runs again, which at-least-once delivery allows).

use crate::done;
use crate::due::{DueName, DueNames, KEEP};
use crate::failed;
use crate::files::{self, Folder, Found, Holdings, Loaded};
use crate::followups;
use crate::fsio::{self, Unsynced, io_error};
use crate::keys::{DUE_KEY_LEN, Flags, JobName, Layout, time_and_id};
use crate::notes::{self, StagedError};
use rakit_job_core::{
    DriverError, Finish, JobId, Lease, LeaseState, Millis, NewJob, PushOutcome, ReserveRequest,
    Reserved, now_ms,
};
use std::collections::{BTreeSet, BinaryHeap, HashSet};
use std::path::PathBuf;

/// The most job files a push holds open until it syncs them: enough for the syncs to share
/// the file system's commits, far below the usual limit of 1,024 descriptors a process.
const OPEN_FILES: usize = 64;

/// Stores jobs durably: each file is synced, then each queue folder written, before this
/// returns. A file is renamed into place before its sync (see [`Unsynced`]), so a worker
/// may start it a flush sooner. On an error, the jobs stored before it are synced and kept.
pub(crate) fn push(layout: &Layout, jobs: &[NewJob]) -> Result<Vec<PushOutcome>, DriverError> {
    jobs.iter().try_for_each(NewJob::check)?;
    let queues: BTreeSet<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
    for queue in queues {
        files::prepare(layout, queue)?;
    }
    let mut claims = Vec::new();
    let mut unsynced = Unsynced::default();
    let mut written = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut failure = None;
    for job in jobs {
        if unsynced.len() >= OPEN_FILES
            && let Err(e) = unsynced.sync()
        {
            failure = Some(e);
            break;
        }
        let dir = layout.ready(&job.queue);
        let flags = Flags {
            unique: job.unique_key.is_some() && job.unique_for.is_none(),
            ..Flags::default()
        };
        let name = JobName::ready(job.available_at, job.id.clone(), 0, flags).file_name();
        match files::write_job(layout, job, (&dir, &name), &mut claims, &mut unsynced) {
            Ok(outcome) => {
                if outcome == PushOutcome::Stored {
                    written.insert(dir);
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if let Err(e) = unsynced.sync() {
        failure.get_or_insert(e);
    }
    for dir in &written {
        fsio::sync_dir(dir).map_err(|e| io_error(dir, e))?;
    }
    for claim in claims {
        claim.confirm(layout)?;
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(outcomes),
    }
}

/// Claims up to `limit` due jobs, queue by queue, each by one rename into `reserved/`,
/// taking the queue's earliest due names as `due` kept them or as a fresh read finds them.
/// A claim of one job name passes over the others' names, so it keeps its own.
pub(crate) fn reserve(
    layout: &Layout,
    due: &DueNames,
    request: &ReserveRequest<'_>,
) -> Result<Vec<Reserved>, DriverError> {
    let own = DueNames::default();
    let due = if request.name.is_some() { &own } else { due };
    let mut taken = Vec::new();
    let mut cancels = None;
    for queue in request.queues {
        if taken.len() >= request.limit {
            break;
        }
        files::guard(layout, queue)?;
        // Read again, further, while jobs remain and the names read ran out (other
        // workers may have taken them first).
        let (mut read, mut more, mut want) = (false, true, KEEP.max(request.limit * 2));
        while taken.len() < request.limit {
            let Some((folder, name)) = due.next(queue) else {
                if read && !more {
                    break;
                }
                let names;
                (names, more) = due_names(layout, queue, want)?;
                if names.is_empty() {
                    break;
                }
                due.keep(queue, names);
                (read, want) = (true, want.saturating_mul(4));
                continue;
            };
            let entry = name.with_path(&files::folder_path(layout, queue, folder));
            let Some(candidate) = files::classify(layout, queue, folder, entry) else {
                continue;
            };
            if let Some(r) = claim(layout, request, candidate, &mut cancels)? {
                taken.push(r);
            }
        }
    }
    Ok(taken)
}

/// The earliest `want` names of `ready/` and `reserved/` whose name says they are due
/// now, in due order with their due times, and whether more are due. Only each name's
/// time and id are read, and only the earliest are kept (a bounded heap): a claim on a
/// long backlog neither allocates nor sorts an entry per job. Each name is fully read
/// when its turn comes; what is no job name (a temp file, a stranger) goes to `classify`
/// at once.
fn due_names(
    layout: &Layout,
    queue: &str,
    want: usize,
) -> Result<(Vec<DueName>, bool), DriverError> {
    let now = now_ms();
    let mut earliest: BinaryHeap<Due> = BinaryHeap::with_capacity(want + 1);
    let mut more = false;
    for folder in [Folder::Ready, Folder::Reserved] {
        let dir = files::folder_path(layout, queue, folder);
        fsio::each_name(&dir, |entry| {
            let time = match time_and_id(&entry.name) {
                Some((time, _)) if !entry.name.starts_with('.') => time,
                _ => {
                    let _ = files::classify(layout, queue, folder, entry.with_path(&dir));
                    return;
                }
            };
            if time > now {
                return;
            }
            if earliest.len() == want {
                more = true;
                if earliest
                    .peek()
                    .is_some_and(|top| due_key(&entry.name) >= due_key(&top.1.name))
                {
                    return;
                }
                earliest.pop();
            }
            earliest.push(Due(folder, entry, time));
        })
        .map_err(|e| io_error(&dir, e))?;
    }
    let due = earliest
        .into_sorted_vec()
        .into_iter()
        .map(|Due(folder, name, time)| (folder, name, time))
        .collect();
    Ok((due, more))
}

/// The `<time>-<id>` start of a queue file name: both folders' names sort by it.
fn due_key(name: &str) -> &str {
    name.get(..DUE_KEY_LEN).unwrap_or(name)
}

/// A due entry and its due time, ordered by its name's time then id.
struct Due(Folder, fsio::Name, Millis);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        due_key(&self.1.name) == due_key(&other.1.name)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        due_key(&self.1.name).cmp(due_key(&other.1.name))
    }
}

fn claim(
    layout: &Layout,
    request: &ReserveRequest<'_>,
    candidate: Found,
    cancels: &mut Option<HashSet<JobId>>,
) -> Result<Option<Reserved>, DriverError> {
    if let Some(wanted) = request.name {
        match files::load(layout, &candidate) {
            Ok(Loaded::Record(r)) if r.name == wanted => {}
            Ok(_) | Err(DriverError::Corrupt { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let lease = Lease::new(candidate.name.id.clone(), &candidate.queue);
    let name = candidate
        .name
        .claimed(now_ms() + request.lease_ms, lease.token, request.worker);
    let Some(held) = files::move_to(layout, &candidate, Folder::Reserved, name)? else {
        return Ok(None);
    };
    let record = match files::load(layout, &held) {
        Ok(Loaded::Record(record)) => record,
        Ok(Loaded::Gone) | Err(DriverError::Corrupt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let error = match held.name.flags.error {
        true => notes::read_error(layout, &lease.id)?,
        false => None,
    };
    let cancels = match cancels {
        Some(cancels) => cancels,
        None => cancels.insert(notes::cancels(layout)?),
    };
    let cancelled = cancels.contains(&lease.id);
    Ok(Some(Reserved {
        job: record.to_stored(&held.name, error, cancelled),
        lease,
    }))
}

/// Pushes each held lease's deadline to now + `lease_ms`, keeping its token and holder.
pub(crate) fn extend(
    layout: &Layout,
    leases: &[Lease],
    lease_ms: Millis,
) -> Result<Vec<LeaseState>, DriverError> {
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let mut holdings = Holdings::read(layout, leases.iter())?;
    let cancels = notes::cancels(layout)?;
    let deadline = now_ms() + lease_ms;
    let mut states = Vec::with_capacity(leases.len());
    for lease in leases {
        let renewed = files::with_held(layout, &mut holdings, lease, |found| {
            let name = found.name.rekeyed(deadline, lease.token);
            Ok(files::move_to(layout, found, Folder::Reserved, name)?.map(|_| ()))
        })?;
        states.push(match (renewed, cancels.contains(&lease.id)) {
            (false, _) => LeaseState::Lost,
            (true, true) => LeaseState::Cancelled,
            (true, false) => LeaseState::Held,
        });
    }
    Ok(states)
}

/// What a batch of final writes did.
pub(crate) struct Completed {
    /// One per item: false where the lease was no longer current.
    pub(crate) written: Vec<bool>,
    /// A job became due now (a retry or release for now, a follow-up), so wake waiters.
    pub(crate) due_now: bool,
}

/// Writes the final outcome of each run.
pub(crate) fn complete(layout: &Layout, finished: &[Finish]) -> Result<Completed, DriverError> {
    finished
        .iter()
        .filter_map(|f| match f {
            Finish::Ack { then, .. } => Some(then),
            _ => None,
        })
        .flatten()
        .try_for_each(NewJob::check)?;
    let mut holdings = Holdings::read(layout, finished.iter().map(Finish::lease))?;
    let cancels = notes::cancels(layout)?;
    let now = now_ms();
    let mut batch = Batch {
        layout,
        cancels: &cancels,
        failed_dirs: BTreeSet::new(),
        due_now: false,
    };
    let mut written = Vec::with_capacity(finished.len());
    for finish in finished {
        let done = files::with_held(layout, &mut holdings, finish.lease(), |found| {
            batch.finish(found, finish, now)
        })?;
        written.push(done);
    }
    for dir in &batch.failed_dirs {
        fsio::sync_dir(dir).map_err(|e| io_error(dir, e))?;
    }
    Ok(Completed {
        written,
        due_now: batch.due_now,
    })
}

/// One batch of final writes under way.
struct Batch<'a> {
    layout: &'a Layout,
    /// The cancels asked, listed once for the batch.
    cancels: &'a HashSet<JobId>,
    /// Failed folders written, each synced once at the end.
    failed_dirs: BTreeSet<PathBuf>,
    due_now: bool,
}

impl Batch<'_> {
    /// Writes one outcome on the held file `found`; `None` when the file was gone.
    fn finish(
        &mut self,
        found: &Found,
        finish: &Finish,
        now: Millis,
    ) -> Result<Option<()>, DriverError> {
        match finish {
            Finish::Ack { then, .. } if then.is_empty() => self.ack(found),
            Finish::Ack { then, .. } => {
                let stored = followups::ack(self.layout, found, then)?;
                self.due_now |= stored == Some(true);
                Ok(stored.map(|_| ()))
            }
            Finish::Retry {
                available_at,
                error,
                ..
            } => {
                let staged = StagedError::write(self.layout, error)?;
                let flags = Flags {
                    error: true,
                    ..found.name.flags
                };
                let name = JobName::ready(
                    *available_at,
                    found.name.id.clone(),
                    found.name.attempts,
                    flags,
                );
                let moved = files::move_to(self.layout, found, Folder::Ready, name)?;
                match moved {
                    Some(_) => place(self.layout, staged, &found.name.id),
                    None => staged.discard(),
                }
                self.due_now |= moved.is_some() && *available_at <= now;
                Ok(moved.map(|_| ()))
            }
            Finish::Release { available_at, .. } => {
                let name = JobName::ready(
                    *available_at,
                    found.name.id.clone(),
                    found.name.attempts.saturating_sub(1),
                    found.name.flags,
                );
                let moved = files::move_to(self.layout, found, Folder::Ready, name)?;
                self.due_now |= moved.is_some() && *available_at <= now;
                Ok(moved.map(|_| ()))
            }
            Finish::Fail {
                error, cancelled, ..
            } => self.fail(found, error, *cancelled),
        }
    }

    fn ack(&mut self, found: &Found) -> Result<Option<()>, DriverError> {
        let Some(leaving) = files::let_go(self.layout, found)? else {
            return Ok(None);
        };
        if !done::retire(self.layout, &leaving)? {
            return Ok(None);
        }
        self.forget_notes(&leaving)?;
        Ok(Some(()))
    }

    fn fail(
        &mut self,
        found: &Found,
        error: &str,
        cancelled: bool,
    ) -> Result<Option<()>, DriverError> {
        let Some(leaving) = files::let_go(self.layout, found)? else {
            return Ok(None);
        };
        let staged = StagedError::write(self.layout, error)?;
        let Some(dir) = failed::enter(self.layout, &leaving, cancelled)? else {
            staged.discard();
            return Ok(None);
        };
        place(self.layout, staged, &leaving.name.id);
        if self.cancels.contains(&leaving.name.id) {
            notes::unmark_cancel(self.layout, &leaving.name.id)?;
        }
        self.failed_dirs.insert(dir);
        Ok(Some(()))
    }

    /// Removes the side notes of a job that left for good.
    fn forget_notes(&self, gone: &Found) -> Result<(), DriverError> {
        if gone.name.flags.error {
            notes::remove_error(self.layout, &gone.name.id)?;
        }
        if self.cancels.contains(&gone.name.id) {
            notes::unmark_cancel(self.layout, &gone.name.id)?;
        }
        Ok(())
    }
}

/// Puts a staged error in place once its job moved; losing it only loses the text.
fn place(layout: &Layout, staged: StagedError, id: &JobId) {
    if let Err(e) = staged.place(layout, id) {
        tracing::warn!(job = %id, "the last error of a job could not be kept ({e})");
    }
}
