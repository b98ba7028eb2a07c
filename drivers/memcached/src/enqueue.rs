//! Putting one new job on its queue: its record, its unique key or window, its entry in
//! the queue's index. A push does it in one go; a follow-up does it in two steps, staged
//! by its ack before the ack commits, published once the ack is done.

use crate::index::{self, Index};
use crate::locks;
use crate::pipeline::{Write, Written};
use crate::queues;
use crate::record::{Record, State};
use crate::server::{Change, Server};
use rakit_job_core::{DriverError, JobId, NewJob, PushOutcome};
use std::collections::BTreeMap;

/// How long a staged follow-up whose ack never committed lives on before memcached drops
/// it (seconds).
const STAGED_TTL: u32 = 24 * 3600;

/// Stores a job: its record first, then (after the unique check) its index entry.
pub(crate) fn put(server: &Server, job: &NewJob) -> Result<PushOutcome, DriverError> {
    queues::register(server, &job.queue)?;
    let index = Index::queue(server, &job.queue);
    let key = server.keys.job_of(&job.id);
    let slot = index.next(server)?;
    let record = Record::new(job, State::Ready, Some(slot));
    if !server.mc.add(&key, &record.to_bytes(), 0)? {
        return Err(DriverError::Invalid(format!(
            "a job with id {} is already stored",
            job.id
        )));
    }
    if !claim_keys(server, job)? {
        server.mc.delete(&key)?;
        return Ok(PushOutcome::Duplicate);
    }
    settle_slot(server, &index, &key, job.id.as_str(), slot)?;
    Ok(PushOutcome::Stored)
}

/// Stores many jobs, one outcome each, in dispatch order. Runs of jobs with no unique
/// key or window (the usual case) go out together (see [`put_plain`]); a job with one is
/// stored on its own between them, so every queue keeps the batch's order.
pub(crate) fn put_many(server: &Server, jobs: &[NewJob]) -> Result<Vec<PushOutcome>, DriverError> {
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut run = 0;
    for (place, job) in jobs.iter().enumerate() {
        if job.unique_key.is_some() {
            outcomes.extend(put_plain(server, &jobs[run..place])?);
            outcomes.push(put(server, job)?);
            run = place + 1;
        }
    }
    outcomes.extend(put_plain(server, &jobs[run..])?);
    Ok(outcomes)
}

/// Stores jobs that have no unique key or window: their slots are taken with one `incr`
/// per queue, then each record and the slot naming it go out in one write (one
/// connection runs them in that order, so a reader never meets a slot before its record).
fn put_plain(server: &Server, jobs: &[NewJob]) -> Result<Vec<PushOutcome>, DriverError> {
    let mut by_queue: BTreeMap<&str, Vec<&NewJob>> = BTreeMap::new();
    for job in jobs {
        by_queue.entry(&job.queue).or_default().push(job);
    }
    let mut taken_id = None;
    for (queue, jobs) in by_queue {
        queues::register(server, queue)?;
        let index = Index::queue(server, queue);
        let slots: Vec<u64> = index.next_many(server, jobs.len() as u64)?.collect();
        let records: Vec<(String, Vec<u8>)> = jobs
            .iter()
            .zip(&slots)
            .map(|(job, &slot)| {
                let record = Record::new(job, State::Ready, Some(slot));
                (server.keys.job_of(&job.id), record.to_bytes())
            })
            .collect();
        let entries: Vec<(String, String)> = jobs
            .iter()
            .zip(&slots)
            .map(|(job, &slot)| (index.slot(slot), index::entry(job.id.as_str())))
            .collect();
        let mut writes = Vec::with_capacity(2 * jobs.len());
        for ((key, bytes), (slot_key, entry)) in records.iter().zip(&entries) {
            writes.push(Write::Add {
                key,
                value: bytes,
                ttl: 0,
            });
            writes.push(Write::Add {
                key: slot_key,
                value: entry.as_bytes(),
                ttl: 0,
            });
        }
        let answers = server.mc.write_many(&writes)?;
        for (k, answer) in answers.chunks(2).enumerate() {
            let id = jobs[k].id.as_str();
            match (answer[0], answer[1]) {
                (Written::Done, Written::Done) => {}
                // A reader closed the slot meanwhile: take another.
                (Written::Done, _) => settle_slot(server, &index, &records[k].0, id, slots[k])?,
                // The id is taken: the slot written names another job's record.
                (_, slot) => {
                    if slot == Written::Done {
                        index.clear(server, slots[k])?;
                    }
                    taken_id.get_or_insert(id.to_string());
                }
            }
        }
    }
    match taken_id {
        Some(id) => Err(DriverError::Invalid(format!(
            "a job with id {id} is already stored"
        ))),
        None => Ok(vec![PushOutcome::Stored; jobs.len()]),
    }
}

/// Takes the job's unique key or opens its window; false when it is taken.
fn claim_keys(server: &Server, job: &NewJob) -> Result<bool, DriverError> {
    match (&job.unique_key, job.unique_for) {
        (Some(key), Some(window)) => locks::open_window(server, key, &job.id, window),
        (Some(key), None) => locks::claim_unique(server, key, &job.id),
        (None, _) => Ok(true),
    }
}

/// Gives back what [`claim_keys`] took for a job that will not be stored.
fn release_keys(server: &Server, job: &NewJob) -> Result<(), DriverError> {
    match (&job.unique_key, job.unique_for) {
        (Some(key), Some(_)) => locks::close_window(server, key, job.id.as_str()),
        (Some(key), None) => locks::release_unique(server, key, job.id.as_str()),
        (None, _) => Ok(()),
    }
}

/// Publishes slot `slot` naming job `id`. The record names its slot before the slot
/// names it; if a walker closed the slot meanwhile, take another and point the record
/// at it.
fn settle_slot(
    server: &Server,
    index: &Index,
    key: &str,
    id: &str,
    mut slot: u64,
) -> Result<(), DriverError> {
    while !index.publish(server, slot, id)? {
        let old = slot;
        slot = index.next(server)?;
        let moved = server.update(key, |r| {
            r.slot == Some(old) && {
                r.slot = Some(slot);
                true
            }
        })?;
        if !matches!(moved, Change::Done { .. }) {
            return Err(DriverError::store(format!(
                "job {id} changed while it was being pushed"
            )));
        }
    }
    Ok(())
}

/// Writes a follow-up's record, staged (no worker sees it), and claims its keys; it
/// expires unless its ack commits and publishes it.
pub(crate) fn stage(server: &Server, job: &NewJob) -> Result<PushOutcome, DriverError> {
    queues::register(server, &job.queue)?;
    let key = server.keys.job_of(&job.id);
    let record = Record::new(job, State::Staged, None);
    if !server.mc.add(&key, &record.to_bytes(), STAGED_TTL)? && !restage(server, &key, &record)? {
        return Err(DriverError::Invalid(format!(
            "a job with id {} is already stored",
            job.id
        )));
    }
    if !claim_keys(server, job)? {
        server.mc.delete(&key)?;
        return Ok(PushOutcome::Duplicate);
    }
    Ok(PushOutcome::Stored)
}

/// Writes `record` over a staged record of the same id: what an ack that crashed before
/// its commit left behind. The job ran again and its ack stages the same follow-up (a
/// chain's ids are fixed at dispatch); the leftover was never visible, so it is replaced.
/// False when the id holds a record that left the staged state.
fn restage(server: &Server, key: &str, record: &Record) -> Result<bool, DriverError> {
    let Some((bytes, cas)) = server.mc.get(key)? else {
        return server.mc.add(key, &record.to_bytes(), STAGED_TTL);
    };
    if Record::parse(key, &bytes)?.state != State::Staged {
        return Ok(false);
    }
    server.mc.cas(key, &record.to_bytes(), STAGED_TTL, cas)
}

/// Throws away staged follow-ups whose ack did not commit, giving back their keys.
pub(crate) fn unstage(server: &Server, jobs: &[&NewJob]) -> Result<(), DriverError> {
    for job in jobs {
        server.mc.delete(&server.keys.job_of(&job.id))?;
        release_keys(server, job)?;
    }
    Ok(())
}

/// Puts a staged follow-up on its queue. Done again after a crash, it finishes what is
/// left: a follow-up that already left the staged state is only made sure of its index
/// entry, and one that ran or vanished meanwhile is left alone, so none is stored twice.
/// True when it became ready now.
pub(crate) fn publish(server: &Server, id: &JobId) -> Result<bool, DriverError> {
    let key = server.keys.job_of(id);
    let Some((bytes, _)) = server.mc.get(&key)? else {
        return Ok(false);
    };
    let queue = Record::parse(&key, &bytes)?.queue;
    let index = Index::queue(server, &queue);
    let fresh = index.next(server)?;
    let now = rakit_job_core::now_ms();
    let moved = server.update(&key, |r| match r.state {
        State::Staged => {
            r.state = State::Ready;
            r.slot = Some(fresh);
            r.stored_at = now;
            true
        }
        _ => false,
    })?;
    let record = match moved {
        Change::Done { after, .. } => *after,
        Change::Missing => return Ok(false),
        Change::Refused => match server.mc.get(&key)? {
            Some((bytes, _)) => Record::parse(&key, &bytes)?,
            None => return Ok(false),
        },
    };
    let Some(slot) = record.slot.filter(|_| record.state == State::Ready) else {
        return Ok(false);
    };
    if !index.holds(server, slot, id.as_str())? {
        settle_slot(server, &index, &key, id.as_str(), slot)?;
    }
    Ok(record.available_at <= now)
}
