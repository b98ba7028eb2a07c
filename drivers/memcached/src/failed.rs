//! The failed store: failed records stay under their job key, in state `failed`, and one
//! index (`<prefix>:failed:*`) lists them.

use crate::client::Versioned;
use crate::index::{Flow, Index};
use crate::locks;
use crate::queues;
use crate::record::{Record, State};
use crate::server::{Change, Server};
use rakit_job_core::{DriverError, FailedSelect, Millis, now_ms};

/// Moves job `id` into the failed store with `error` if `may(record)`: a failed-index
/// entry first, then the record in one compare-and-swap (from `read`, if already read),
/// then its unique key and queue entry are given back.
pub(crate) fn enter(
    server: &Server,
    id: &str,
    read: Option<Versioned>,
    may: impl Fn(&Record) -> bool,
    error: &str,
    cancelled: bool,
) -> Result<Change, DriverError> {
    let index = Index::failed(server);
    let failed_slot = index.append(server, id)?;
    let key = server.keys.job(id);
    let change = server.update_from(&key, read, |r| {
        may(r) && {
            r.move_to_failed(failed_slot, error, cancelled);
            true
        }
    })?;
    match &change {
        Change::Done { before, .. } => {
            if let Some(unique) = &before.unique_key {
                locks::release_unique(server, unique, id)?;
            }
            if let Some(slot) = before.slot {
                Index::queue(server, &before.queue).clear(server, slot)?;
            }
        }
        Change::Refused | Change::Missing => index.clear(server, failed_slot)?,
    }
    Ok(change)
}

/// Every failed record.
pub(crate) fn all(server: &Server) -> Result<Vec<Record>, DriverError> {
    let mut records = Vec::new();
    Index::failed(server).walk(server, "(failed)", Record::is_failed_at, |page| {
        records.extend(page.into_iter().map(|l| l.record));
        Ok(Flow::Continue)
    })?;
    Ok(records)
}

/// The failed records `which` names.
fn selected(server: &Server, which: &FailedSelect) -> Result<Vec<Record>, DriverError> {
    if let FailedSelect::One(id) = which {
        let key = server.keys.job_of(id);
        return Ok(match server.mc.get(&key)? {
            Some((bytes, _)) => Some(Record::parse(&key, &bytes)?)
                .filter(|r| r.state == State::Failed)
                .into_iter()
                .collect(),
            None => Vec::new(),
        });
    }
    let mut records = all(server)?;
    if let FailedSelect::Queue(queue) = which {
        records.retain(|r| &r.queue == queue);
    }
    Ok(records)
}

/// Puts failed jobs back on their queues, due now, attempts afresh, error and cancel
/// forgotten, meta kept; how many.
pub(crate) fn retry(server: &Server, which: &FailedSelect) -> Result<u64, DriverError> {
    let mut retried = 0;
    for record in selected(server, which)? {
        queues::register(server, &record.queue)?;
        // The new entry first, then the record points to it: a crash in between leaves a
        // leftover entry, never a job that no entry names.
        let queue = Index::queue(server, &record.queue);
        let slot = queue.append(server, &record.id)?;
        let moved = server.update(&server.keys.job(&record.id), |r| {
            r.state == State::Failed && {
                r.back_to_ready(now_ms());
                r.attempts = 0;
                r.last_error = None;
                r.cancelled = false;
                r.unique_key = None;
                r.slot = Some(slot);
                r.failed_slot = None;
                r.failed_at = None;
                true
            }
        })?;
        match moved {
            Change::Done { before, .. } => {
                if let Some(n) = before.failed_slot {
                    Index::failed(server).clear(server, n)?;
                }
                retried += 1;
            }
            Change::Refused | Change::Missing => queue.clear(server, slot)?,
        }
    }
    Ok(retried)
}

/// Deletes failed jobs; how many.
pub(crate) fn forget(server: &Server, which: &FailedSelect) -> Result<u64, DriverError> {
    remove(server, selected(server, which)?)
}

/// Deletes failed jobs that failed before `before`; how many.
pub(crate) fn prune(server: &Server, before: Millis) -> Result<u64, DriverError> {
    let mut old = all(server)?;
    old.retain(|r| r.failed_at.unwrap_or(r.created_at) < before);
    remove(server, old)
}

fn remove(server: &Server, records: Vec<Record>) -> Result<u64, DriverError> {
    let mut removed = 0;
    for record in records {
        let key = server.keys.job(&record.id);
        let gone = server.update(&key, |r| {
            r.state == State::Failed && {
                r.state = State::Done;
                true
            }
        })?;
        let Change::Done { before, .. } = gone else {
            continue;
        };
        if let Some(n) = before.failed_slot {
            Index::failed(server).clear(server, n)?;
        }
        server.mc.delete(&key)?;
        removed += 1;
    }
    Ok(removed)
}
