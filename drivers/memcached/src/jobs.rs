//! Jobs on their queues: push, claim, and what a lease holder may do.
//!
//! A claim is a compare-and-swap of the job record from ready (or reserved with an
//! expired lease) to reserved with a fresh token and deadline: of several workers that
//! read the same record, exactly one swap succeeds. Every later step checks the token
//! inside the same compare-and-swap, so a stale lease changes nothing.

use crate::index::{Flow, Index, Live};
use crate::locks;
use crate::queues;
use crate::record::{Record, State};
use crate::store::{Change, Store};
use rakit_job_core::{
    DriverError, Lease, MAX_PAYLOAD_BYTES, Millis, NewJob, PushOutcome, Reserved, now_ms,
    validate_queue,
};

/// A queue's index stops the head this many slots behind the tail before a parked job
/// (scheduled far ahead, or running long) at its start is moved to the end.
const ROTATE_AFTER: u64 = 4 * crate::index::PAGE;

pub(crate) fn queue_index(store: &Store, queue: &str) -> Index {
    Index::new(store.keys.queue_index(queue))
}

/// True when `record` is a waiting or running job named by slot `n` of its queue index.
pub(crate) fn in_queue(record: &Record, n: u64) -> bool {
    matches!(record.state, State::Ready | State::Reserved) && record.slot == Some(n)
}

/// Stores a job: its record first, then (after the unique check) its index entry.
pub(crate) fn push(store: &Store, job: &NewJob) -> Result<PushOutcome, DriverError> {
    validate_queue(&job.queue)?;
    if job.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(DriverError::Invalid(format!(
            "the payload of job {} is {} bytes, over the limit of {MAX_PAYLOAD_BYTES}; store large data elsewhere and pass a reference",
            job.name,
            job.payload.len()
        )));
    }
    queues::register(store, &job.queue)?;
    let index = queue_index(store, &job.queue);
    let key = store.keys.job_of(&job.id);
    let mut slot = index.next(store)?;
    if !store.mc.add(&key, &Record::new(job, slot).to_bytes(), 0)? {
        return Err(DriverError::Invalid(format!(
            "a job with id {} is already stored",
            job.id
        )));
    }
    if let Some(unique) = &job.unique_key
        && !locks::claim_unique(store, unique, &job.id)?
    {
        store.mc.delete(&key)?;
        return Ok(PushOutcome::Duplicate);
    }
    // The record names its slot before the slot names it; if a walker closed the slot
    // meanwhile, take another and point the record at it.
    while !index.publish(store, slot, job.id.as_str())? {
        let old = slot;
        slot = index.next(store)?;
        let moved = store.update(&key, |r| {
            r.slot == Some(old) && {
                r.slot = Some(slot);
                true
            }
        })?;
        if !matches!(moved, Change::Done { .. }) {
            return Err(DriverError::store(format!(
                "job {} changed while it was being pushed",
                job.id
            )));
        }
    }
    Ok(PushOutcome::Stored)
}

/// What a worker asks `reserve` for, owned so it can move to a blocking thread.
pub(crate) struct Want {
    pub(crate) queues: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) limit: usize,
    pub(crate) lease_ms: Millis,
}

/// Claims up to `limit` due jobs, queue by queue, oldest first within a page of the index.
pub(crate) fn reserve(store: &Store, want: &Want) -> Result<Vec<Reserved>, DriverError> {
    let mut taken = Vec::new();
    for queue in &want.queues {
        if taken.len() >= want.limit {
            break;
        }
        validate_queue(queue)?;
        let index = queue_index(store, queue);
        let walked = index.walk(store, queue, in_queue, |page| {
            let now = now_ms();
            let mut due: Vec<(Millis, Live)> = page
                .into_iter()
                .filter(|l| want.name.as_ref().is_none_or(|n| &l.record.name == n))
                .filter_map(|l| l.record.due_at(now).map(|t| (t, l)))
                .collect();
            due.sort_by(|a, b| (a.0, &a.1.record.id).cmp(&(b.0, &b.1.record.id)));
            for (_, live) in due {
                if taken.len() >= want.limit {
                    break;
                }
                if let Some(r) = claim(store, queue, live, want)? {
                    taken.push(r);
                }
            }
            Ok(if taken.len() >= want.limit {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })?;
        if walked.window > ROTATE_AFTER
            && let Some((slot, record)) = walked.blocker
            && record.due_at(now_ms()).is_none()
        {
            rotate(store, &index, slot, &record)?;
        }
    }
    Ok(taken)
}

fn claim(
    store: &Store,
    queue: &str,
    live: Live,
    want: &Want,
) -> Result<Option<Reserved>, DriverError> {
    let id = rakit_job_core::JobId::parse(&live.record.id)?;
    let lease = Lease::new(id, queue);
    let key = store.keys.job_of(&lease.id);
    let take = |r: &mut Record| r.claim(lease.token, now_ms() + want.lease_ms);
    // First try with the record as the walk read it; on a conflict, read it again.
    let mut record = live.record;
    take(&mut record);
    let claimed = if store.mc.cas(&key, &record.to_bytes(), 0, live.cas)? {
        Some(record)
    } else {
        let slot = live.slot;
        match store.update(&key, |r| {
            let ok = r.slot == Some(slot) && r.due_at(now_ms()).is_some();
            if ok {
                take(r);
            }
            ok
        })? {
            Change::Done { after, .. } => Some(*after),
            Change::Refused | Change::Missing => None,
        }
    };
    match claimed {
        Some(record) => Ok(Some(Reserved {
            job: record.to_stored()?,
            lease,
        })),
        None => Ok(None),
    }
}

/// Moves a parked job's entry to the end of the index so the head can move on.
fn rotate(store: &Store, index: &Index, slot: u64, record: &Record) -> Result<(), DriverError> {
    let fresh = index.append(store, &record.id)?;
    let key = store.keys.job(&record.id);
    let moved = store.update(&key, |r| {
        r.slot == Some(slot) && {
            r.slot = Some(fresh);
            true
        }
    })?;
    match moved {
        Change::Done { .. } => index.clear(store, slot),
        Change::Refused | Change::Missing => index.clear(store, fresh),
    }
}

/// Applies `change` to the job of `lease` if the lease is still its current one.
fn with_lease(
    store: &Store,
    lease: &Lease,
    mut change: impl FnMut(&mut Record),
) -> Result<Option<(Record, Record)>, DriverError> {
    let key = store.keys.job_of(&lease.id);
    let result = store.update(&key, |r| {
        let held = r.held_by(lease.token);
        if held {
            change(r);
        }
        held
    })?;
    match result {
        Change::Done { before, after } => Ok(Some((*before, *after))),
        Change::Refused => Ok(None),
        Change::Missing => {
            store.report_vanished(lease.id.as_str(), &lease.queue);
            Ok(None)
        }
    }
}

/// Pushes the lease deadline to now + `lease_ms`.
pub(crate) fn extend(store: &Store, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
    Ok(with_lease(store, lease, |r| r.deadline = Some(now_ms() + lease_ms))?.is_some())
}

/// Removes a finished job: marks it done (the fence), then clears its key, entry and record.
pub(crate) fn ack(store: &Store, lease: &Lease) -> Result<bool, DriverError> {
    let Some((_, done)) = with_lease(store, lease, |r| r.state = State::Done)? else {
        return Ok(false);
    };
    finish(store, &done)?;
    store.mc.delete(&store.keys.job_of(&lease.id))?;
    Ok(true)
}

/// Gives a job's unique key back and removes its queue entry, once it left the queue.
fn finish(store: &Store, record: &Record) -> Result<(), DriverError> {
    if let Some(key) = &record.unique_key {
        locks::release_unique(store, key, &record.id)?;
    }
    if let Some(slot) = record.slot {
        queue_index(store, &record.queue).clear(store, slot)?;
    }
    Ok(())
}

/// Puts a failed attempt back, due at `available_at`, with its attempts and error.
pub(crate) fn retry(
    store: &Store,
    lease: &Lease,
    available_at: Millis,
    error: &str,
) -> Result<bool, DriverError> {
    let changed = with_lease(store, lease, |r| {
        r.back_to_ready(available_at);
        r.set_error(error);
    })?;
    Ok(changed.is_some())
}

/// Hands a job back untouched, due at `available_at`, without counting the attempt.
pub(crate) fn release(
    store: &Store,
    lease: &Lease,
    available_at: Millis,
) -> Result<bool, DriverError> {
    let changed = with_lease(store, lease, |r| {
        r.back_to_ready(available_at);
        r.attempts = r.attempts.saturating_sub(1);
    })?;
    Ok(changed.is_some())
}

/// Moves a job to the failed store: a failed-index entry first, then the record's state.
pub(crate) fn fail(store: &Store, lease: &Lease, error: &str) -> Result<bool, DriverError> {
    let failed_index = crate::failed::index(store);
    let failed_slot = failed_index.append(store, lease.id.as_str())?;
    let changed = with_lease(store, lease, |r| {
        r.state = State::Failed;
        r.token = None;
        r.deadline = None;
        r.failed_slot = Some(failed_slot);
        r.failed_at = Some(now_ms());
        r.unique_key = None;
        r.set_error(error);
    })?;
    let Some((before, _)) = changed else {
        failed_index.clear(store, failed_slot)?;
        return Ok(false);
    };
    finish(store, &before)?;
    Ok(true)
}
