//! The failed-jobs store: failed records stay under their job key, in state `failed`,
//! and one index (`<prefix>:failed:*`) lists them.

use crate::index::{Flow, Index};
use crate::jobs::queue_index;
use crate::queues;
use crate::record::{Record, State};
use crate::store::{Change, Store};
use rakit_job_core::{DriverError, FailedJob, JobId, now_ms};

pub(crate) fn index(store: &Store) -> Index {
    Index::new(store.keys.failed_index())
}

fn is_failed(record: &Record, n: u64) -> bool {
    record.state == State::Failed && record.failed_slot == Some(n)
}

/// Every failed record.
fn all(store: &Store) -> Result<Vec<Record>, DriverError> {
    let mut records = Vec::new();
    index(store).walk(store, "(failed)", is_failed, |page| {
        records.extend(page.into_iter().map(|l| l.record));
        Ok(Flow::Continue)
    })?;
    Ok(records)
}

/// Failed jobs, most recent first.
pub(crate) fn list(store: &Store, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
    let mut jobs = all(store)?
        .iter()
        .map(Record::to_failed)
        .collect::<Result<Vec<_>, _>>()?;
    jobs.sort_by(|a, b| (b.failed_at, &b.id).cmp(&(a.failed_at, &a.id)));
    jobs.truncate(limit);
    Ok(jobs)
}

/// How many failed jobs each queue has.
pub(crate) fn counts(store: &Store) -> Result<Vec<(String, u64)>, DriverError> {
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for record in all(store)? {
        *counts.entry(record.queue).or_default() += 1;
    }
    Ok(counts.into_iter().collect())
}

/// Puts a failed job back on its queue, due now, its attempts starting afresh.
pub(crate) fn retry(store: &Store, id: &JobId) -> Result<bool, DriverError> {
    let key = store.keys.job_of(id);
    let Some((bytes, _)) = store.mc.get(&key)? else {
        return Ok(false);
    };
    let record = Record::parse(&key, &bytes)?;
    if record.state != State::Failed {
        return Ok(false);
    }
    queues::register(store, &record.queue)?;
    // The new entry first, then the record points to it: a crash in between leaves a
    // leftover entry, never a job that no entry names.
    let queue = queue_index(store, &record.queue);
    let slot = queue.append(store, id.as_str())?;
    let moved = store.update(&key, |r| {
        r.state == State::Failed && {
            r.back_to_ready(now_ms());
            r.attempts = 0;
            r.last_error = None;
            r.slot = Some(slot);
            r.failed_slot = None;
            r.failed_at = None;
            true
        }
    })?;
    match moved {
        Change::Done { before, .. } => {
            if let Some(n) = before.failed_slot {
                index(store).clear(store, n)?;
            }
            Ok(true)
        }
        Change::Refused | Change::Missing => {
            queue.clear(store, slot)?;
            Ok(false)
        }
    }
}

/// Deletes one failed job.
pub(crate) fn forget(store: &Store, id: &JobId) -> Result<bool, DriverError> {
    let key = store.keys.job_of(id);
    let gone = store.update(&key, |r| {
        r.state == State::Failed && {
            r.state = State::Done;
            true
        }
    })?;
    let Change::Done { before, .. } = gone else {
        return Ok(false);
    };
    if let Some(n) = before.failed_slot {
        index(store).clear(store, n)?;
    }
    store.mc.delete(&key)?;
    Ok(true)
}

/// Deletes every failed job and returns how many there were.
pub(crate) fn flush(store: &Store) -> Result<u64, DriverError> {
    let mut removed = 0;
    for record in all(store)? {
        if forget(store, &JobId::parse(&record.id)?)? {
            removed += 1;
        }
    }
    Ok(removed)
}
