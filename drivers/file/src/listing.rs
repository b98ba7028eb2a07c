//! Seeing the store: which queues hold jobs, how many in each state, pages of jobs, one
//! job, and when the next one comes due.
//!
//! A listing walks the folders of the state asked for and pages by job id: a page holds
//! the jobs whose id comes after the cursor (the last id of the page before). Ids are
//! UUIDv7, so the order is dispatch order, and a job that stays in its state keeps its
//! place whatever else moves: no page skips it. Only the names are read for the walk, and
//! only the lowest ids are kept; the files of the page's jobs are read to fill it.

use crate::failed::{self, FailedFile};
use crate::files::{self, Folder, Found, Loaded};
use crate::fsio;
use crate::keys::{FailedName, JobName, Layout};
use crate::notes;
use crate::record::Record;
use rakit_job_core::{
    DriverError, JobId, JobInfo, JobPage, JobQuery, Millis, QueueStats, State, now_ms,
    validate_queue,
};
use std::collections::{BTreeMap, BinaryHeap};

/// Where a queue file's name puts its job at `now`.
fn state_of(name: &JobName, now: Millis) -> State {
    match (&name.holder, name.time > now) {
        (Some(_), true) => State::Running,
        (None, true) => State::Scheduled,
        _ => State::Pending,
    }
}

/// Everything known about a waiting or running job.
pub(crate) fn queued_info(
    name: &JobName,
    record: Record,
    last_error: Option<String>,
    cancel_requested: bool,
    now: Millis,
) -> JobInfo {
    let state = state_of(name, now);
    let running = state == State::Running;
    let holder = name.holder.as_ref().filter(|_| running);
    JobInfo {
        id: name.id.clone(),
        unique_key: record.held_key(name.flags.unique),
        name: record.name,
        queue: record.queue,
        state,
        payload: record.payload,
        attempts: name.attempts,
        created_at: record.created_at,
        due_at: (!running).then_some(name.time),
        lease_until: running.then_some(name.time),
        worker: holder.map(|h| h.worker.clone()).filter(|w| !w.is_empty()),
        last_error,
        failed_at: None,
        cancel_requested: running && cancel_requested,
        overlap_key: record.overlap_key,
        meta: record.meta,
    }
}

/// Everything known about a failed or cancelled job.
pub(crate) fn failed_info(
    name: &FailedName,
    record: Record,
    last_error: Option<String>,
) -> JobInfo {
    JobInfo {
        id: name.id.clone(),
        name: record.name,
        queue: record.queue,
        state: match name.flags.cancelled {
            true => State::Cancelled,
            false => State::Failed,
        },
        payload: record.payload,
        attempts: name.attempts,
        created_at: record.created_at,
        due_at: None,
        lease_until: None,
        worker: None,
        last_error,
        failed_at: Some(name.failed_at),
        cancel_requested: false,
        overlap_key: record.overlap_key,
        unique_key: None,
        meta: record.meta,
    }
}

fn error_of(layout: &Layout, id: &JobId, has_one: bool) -> Result<Option<String>, DriverError> {
    match has_one {
        true => notes::read_error(layout, id),
        false => Ok(None),
    }
}

/// A queued job's details; `None` when its file moved away meanwhile.
fn queued(layout: &Layout, found: &Found, now: Millis) -> Result<Option<JobInfo>, DriverError> {
    let record = match files::load(layout, found) {
        Ok(Loaded::Record(record)) => record,
        // Set aside already, with a warning; it is no job any more.
        Ok(Loaded::Gone) | Err(DriverError::Corrupt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let error = error_of(layout, &found.name.id, found.name.flags.error)?;
    let cancel =
        state_of(&found.name, now) == State::Running && notes::is_cancelled(layout, &found.name.id);
    Ok(Some(queued_info(&found.name, record, error, cancel, now)))
}

fn failed_one(layout: &Layout, file: &FailedFile) -> Result<Option<JobInfo>, DriverError> {
    let Some(record) = file.load(layout)? else {
        return Ok(None);
    };
    let error = error_of(layout, &file.name.id, file.name.flags.error)?;
    Ok(Some(failed_info(&file.name, record, error)))
}

/// Where a file of `folder` whose name says `time` puts its job at `now`.
fn state_in(folder: Folder, time: Millis, now: Millis) -> State {
    match (folder, time > now) {
        (Folder::Ready, true) => State::Scheduled,
        (Folder::Reserved, true) => State::Running,
        _ => State::Pending,
    }
}

/// Per-queue counts of every queue holding a job, sorted by queue name. Only the file
/// names are read, and only as far as their time.
pub(crate) fn stats(layout: &Layout) -> Result<Vec<QueueStats>, DriverError> {
    let now = now_ms();
    let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
    for queue in files::queues_on_disk(layout)? {
        let mut s = QueueStats {
            queue: queue.clone(),
            ..Default::default()
        };
        for folder in [Folder::Ready, Folder::Reserved] {
            files::glance(layout, &queue, folder, |time, _, _| {
                match state_in(folder, time, now) {
                    State::Running => s.reserved += 1,
                    State::Scheduled => s.scheduled += 1,
                    _ => s.ready += 1,
                }
            })?;
        }
        if s.ready + s.scheduled + s.reserved > 0 {
            by_queue.insert(queue, s);
        }
    }
    for file in failed::files(layout, None)? {
        by_queue
            .entry(file.queue.clone())
            .or_insert_with(|| QueueStats {
                queue: file.queue.clone(),
                ..Default::default()
            })
            .failed += 1;
    }
    Ok(by_queue.into_values().collect())
}

/// The queues holding any job, ready, scheduled, reserved or failed.
pub(crate) fn queues(layout: &Layout) -> Result<Vec<String>, DriverError> {
    Ok(stats(layout)?.into_iter().map(|s| s.queue).collect())
}

/// One page of jobs in one state.
pub(crate) fn jobs(layout: &Layout, query: &JobQuery) -> Result<JobPage, DriverError> {
    let after = query.after.as_deref().map(JobId::parse).transpose()?;
    if let Some(queue) = &query.queue {
        validate_queue(queue)?;
    }
    let limit = query.limit.max(1);
    let later = |id: &JobId| after.as_ref().is_none_or(|a| id > a);
    let named = |info: &JobInfo| query.name.as_deref().is_none_or(|n| info.name == n);
    let mut jobs = Vec::new();
    if query.state.is_failed() {
        let cancelled = query.state == State::Cancelled;
        for file in failed::files(layout, query.queue.as_deref())? {
            if jobs.len() > limit {
                break;
            }
            if file.name.flags.cancelled == cancelled
                && later(&file.name.id)
                && let Some(info) = failed_one(layout, &file)?
                && named(&info)
            {
                jobs.push(info);
            }
        }
    } else {
        let now = now_ms();
        let queues = match &query.queue {
            Some(queue) => vec![queue.clone()],
            None => files::queues_on_disk(layout)?,
        };
        // Without a name filter a page needs only its first limit + 1 jobs; with one,
        // many of them may be left out, so take more at each pass.
        let take = if query.name.is_some() {
            1_000
        } else {
            limit + 1
        };
        let mut cursor = after.map(|id| id.to_string());
        loop {
            let picked = first_after(layout, &queues, query.state, cursor.as_deref(), take, now)?;
            let whole = picked.len() == take;
            for found in picked {
                cursor = Some(found.name.id.to_string());
                if jobs.len() > limit {
                    break;
                }
                if let Some(info) = queued_or_moved(layout, &found, now)?
                    && info.state == query.state
                    && named(&info)
                {
                    jobs.push(info);
                }
            }
            if jobs.len() > limit || !whole {
                break;
            }
        }
    }
    let more = jobs.len() > limit;
    jobs.truncate(limit);
    let next = more
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    Ok(JobPage { jobs, next })
}

/// The `take` jobs of `queues` in `state` with the lowest ids after `after`, in id order.
/// The walk reads names only; a bounded heap keeps the lowest, so a page over a long
/// backlog neither sorts it nor reads more than its own files.
fn first_after(
    layout: &Layout,
    queues: &[String],
    state: State,
    after: Option<&str>,
    take: usize,
    now: Millis,
) -> Result<Vec<Found>, DriverError> {
    let mut lowest: BinaryHeap<(String, usize, bool, String)> = BinaryHeap::new();
    // Running jobs are only in `reserved`, scheduled ones only in `ready`.
    let folders: &[Folder] = match state {
        State::Running => &[Folder::Reserved],
        State::Scheduled => &[Folder::Ready],
        _ => &[Folder::Ready, Folder::Reserved],
    };
    for (q, queue) in queues.iter().enumerate() {
        for &folder in folders {
            files::glance(layout, queue, folder, |time, id, name| {
                let wanted = state_in(folder, time, now) == state
                    && after.is_none_or(|a| id > a)
                    && (lowest.len() < take
                        || lowest.peek().is_some_and(|top| id < top.0.as_str()));
                if wanted {
                    if lowest.len() == take {
                        lowest.pop();
                    }
                    let reserved = folder == Folder::Reserved;
                    lowest.push((id.to_string(), q, reserved, name.to_string()));
                }
            })?;
        }
    }
    Ok(lowest
        .into_sorted_vec()
        .into_iter()
        .filter_map(|(_, q, reserved, file)| {
            let folder = if reserved {
                Folder::Reserved
            } else {
                Folder::Ready
            };
            Some(Found {
                path: files::folder_path(layout, &queues[q], folder).join(&file),
                name: JobName::parse(&file)?,
                queue: queues[q].clone(),
            })
        })
        .collect())
}

/// A queued job's details, looked for again if its file was renamed since the walk (a
/// renewal renames a running job's file), so a job that stayed is never left out.
fn queued_or_moved(
    layout: &Layout,
    found: &Found,
    now: Millis,
) -> Result<Option<JobInfo>, DriverError> {
    if let Some(info) = queued(layout, found, now)? {
        return Ok(Some(info));
    }
    match files::find(layout, &found.name.id)? {
        Some(moved) => queued(layout, &moved, now),
        None => Ok(None),
    }
}

/// One job in any state, failed store included.
pub(crate) fn job(layout: &Layout, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
    if let Some(found) = files::find(layout, id)?
        && let Some(info) = queued(layout, &found, now_ms())?
    {
        return Ok(Some(info));
    }
    for file in failed::files(layout, None)? {
        if &file.name.id == id {
            return failed_one(layout, &file);
        }
    }
    Ok(None)
}

/// The earliest time after `now` at which a job of `queues` becomes due (a scheduled job
/// or a lease running out), so an idle worker sleeps no longer than that.
pub(crate) fn next_due(layout: &Layout, queues: &[String], now: Millis) -> Option<Millis> {
    let mut next = None;
    for queue in queues {
        for dir in [layout.ready(queue), layout.reserved(queue)] {
            for entry in fsio::list(&dir).unwrap_or_default() {
                if let Some(name) = JobName::parse(&entry.name)
                    && name.time > now
                    && next.is_none_or(|n| name.time < n)
                {
                    next = Some(name.time);
                }
            }
        }
    }
    next
}
