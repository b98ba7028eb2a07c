//! The hot path: push, reserve, extend and complete.
//!
//! A claim is a compare-and-swap of the job record from ready (or reserved with an
//! expired lease) to reserved with a fresh token, deadline and worker: of several workers
//! that read the same record, exactly one swap succeeds. Every later step checks the token
//! inside the same compare-and-swap, so a stale lease changes nothing. Claims, renewals
//! and plain acks read all their records in one multi-get and swap them all in one batch
//! of compare-and-swaps, so an uncontended batch costs a few round trips, not a few per job.

use crate::client::Versioned;
use crate::enqueue;
use crate::failed;
use crate::followups;
use crate::index::{Flow, Index, Live};
use crate::locks;
use crate::record::{Record, State};
use crate::server::{Change, ReadRecord, Server};
use rakit_job_core::{
    DriverError, Finish, Lease, LeaseState, Millis, NewJob, PushOutcome, ReserveRequest, Reserved,
    now_ms, validate_queue,
};
use std::collections::HashMap;

/// A queue's index stops the head this many slots behind the tail before a parked job
/// (scheduled far ahead, or running long) at its start is moved to the end.
const ROTATE_AFTER: u64 = 4 * crate::index::PAGE;

/// Stores jobs; one outcome per job.
pub(crate) fn push(server: &Server, jobs: &[NewJob]) -> Result<Vec<PushOutcome>, DriverError> {
    jobs.iter().try_for_each(NewJob::check)?;
    enqueue::put_many(server, jobs)
}

/// What a batch of final writes or a claim did beyond its answer.
#[derive(Default)]
pub(crate) struct Woke {
    /// A job became due now, so this process's idle workers should look.
    pub(crate) due_now: bool,
}

/// Claims up to `limit` due jobs, queue by queue, oldest first within a page of the index.
pub(crate) fn reserve(
    server: &Server,
    request: &ReserveRequest<'_>,
    woke: &mut Woke,
) -> Result<Vec<Reserved>, DriverError> {
    let mut taken = Vec::new();
    for queue in request.queues {
        if taken.len() >= request.limit {
            break;
        }
        validate_queue(queue)?;
        let index = Index::queue(server, queue);
        let walked = index.walk(server, queue, Record::is_in_queue, |page| {
            let now = now_ms();
            let mut due = Vec::new();
            for live in page {
                if live.record.state == State::Done {
                    // An ack whose acker died after its commit: finish storing its follow-ups.
                    woke.due_now |= followups::finish(server, &live.record)?;
                } else if let Some(at) = live.record.due_at(now)
                    && request.name.is_none_or(|n| live.record.name == n)
                {
                    due.push((at, live));
                }
            }
            due.sort_by(|a, b| (a.0, &a.1.record.id).cmp(&(b.0, &b.1.record.id)));
            let mut rest = due.into_iter().map(|(_, live)| live);
            while taken.len() < request.limit {
                let picks: Vec<Live> = rest.by_ref().take(request.limit - taken.len()).collect();
                if picks.is_empty() {
                    break;
                }
                taken.extend(claim_all(server, queue, &picks, request)?);
            }
            Ok(if taken.len() >= request.limit {
                Flow::Stop
            } else {
                Flow::Continue
            })
        })?;
        if walked.window > ROTATE_AFTER
            && let Some((slot, record)) = walked.blocker
            && record.due_at(now_ms()).is_none()
        {
            rotate(server, &index, slot, &record)?;
        }
    }
    Ok(taken)
}

/// Claims the jobs of `picks` in one batch of compare-and-swaps: those still in their
/// slot and due are taken, in `picks`' order.
fn claim_all(
    server: &Server,
    queue: &str,
    picks: &[Live],
    request: &ReserveRequest<'_>,
) -> Result<Vec<Reserved>, DriverError> {
    let leases = picks
        .iter()
        .map(|live| Ok(Lease::new(live.record.job_id()?, queue)))
        .collect::<Result<Vec<_>, DriverError>>()?;
    let items: Vec<ReadRecord> = picks
        .iter()
        .zip(&leases)
        .map(|(live, lease)| (server.keys.job_of(&lease.id), live.record.clone(), live.cas))
        .collect();
    let changes = server.update_many(items, |i, r| {
        let now = now_ms();
        r.slot == Some(picks[i].slot) && r.due_at(now).is_some() && {
            r.claim(leases[i].token, now + request.lease_ms, request.worker);
            true
        }
    })?;
    let mut taken = Vec::new();
    for (change, lease) in changes.into_iter().zip(leases) {
        if let Change::Done { after, .. } = change {
            taken.push(Reserved {
                job: after.to_stored()?,
                lease,
            });
        }
    }
    Ok(taken)
}

/// Moves a parked job's entry to the end of the index so the head can move on.
fn rotate(server: &Server, index: &Index, slot: u64, record: &Record) -> Result<(), DriverError> {
    let fresh = index.append(server, &record.id)?;
    let key = server.keys.job(&record.id);
    let moved = server.update(&key, |r| {
        r.slot == Some(slot) && {
            r.slot = Some(fresh);
            true
        }
    })?;
    match moved {
        Change::Done { .. } => index.clear(server, slot),
        Change::Refused | Change::Missing => index.clear(server, fresh),
    }
}

/// The records of a batch of leases, read in one round trip.
fn read_all(server: &Server, leases: &[&Lease]) -> Result<HashMap<String, Versioned>, DriverError> {
    let keys: Vec<String> = leases.iter().map(|l| server.keys.job_of(&l.id)).collect();
    server.mc.get_many(&keys)
}

/// The records `reads` holds for `leases`, as items of one batch, with each one's place;
/// a lease whose record is gone is reported and left out.
fn read_items<'a>(
    server: &Server,
    reads: &mut HashMap<String, Versioned>,
    leases: impl Iterator<Item = (usize, &'a Lease)>,
) -> Result<(Vec<ReadRecord>, Vec<usize>), DriverError> {
    let (mut items, mut places) = (Vec::new(), Vec::new());
    for (place, lease) in leases {
        let key = server.keys.job_of(&lease.id);
        match reads.remove(&key) {
            Some((bytes, cas)) => {
                let record = Record::parse(&key, &bytes)?;
                items.push((key, record, cas));
                places.push(place);
            }
            None => server.report_vanished(lease.id.as_str(), &lease.queue),
        }
    }
    Ok((items, places))
}

/// Applies `change` to the job of `lease` if the lease is still its current one, starting
/// from the record `reads` holds for it.
fn with_lease(
    server: &Server,
    reads: &mut HashMap<String, Versioned>,
    lease: &Lease,
    mut change: impl FnMut(&mut Record),
) -> Result<Option<(Record, Record)>, DriverError> {
    let key = server.keys.job_of(&lease.id);
    let Some(read) = reads.remove(&key) else {
        server.report_vanished(lease.id.as_str(), &lease.queue);
        return Ok(None);
    };
    let result = server.update_from(&key, Some(read), |r| {
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
            server.report_vanished(lease.id.as_str(), &lease.queue);
            Ok(None)
        }
    }
}

/// Pushes each held lease's deadline to now + `lease_ms`.
pub(crate) fn extend(
    server: &Server,
    leases: &[Lease],
    lease_ms: Millis,
) -> Result<Vec<LeaseState>, DriverError> {
    let mut reads = read_all(server, &leases.iter().collect::<Vec<_>>())?;
    let (items, places) = read_items(server, &mut reads, leases.iter().enumerate())?;
    let changes = server.update_many(items, |k, r| {
        let held = r.held_by(leases[places[k]].token);
        if held {
            r.deadline = Some(now_ms() + lease_ms);
        }
        held
    })?;
    let mut states = vec![LeaseState::Lost; leases.len()];
    for (change, place) in changes.into_iter().zip(places) {
        states[place] = match change {
            Change::Done { after, .. } if after.cancelled => LeaseState::Cancelled,
            Change::Done { .. } => LeaseState::Held,
            Change::Refused => LeaseState::Lost,
            Change::Missing => {
                let lease = &leases[place];
                server.report_vanished(lease.id.as_str(), &lease.queue);
                LeaseState::Lost
            }
        };
    }
    Ok(states)
}

/// Writes the final outcome of each run; one result per item.
pub(crate) fn complete(
    server: &Server,
    finished: &[Finish],
    woke: &mut Woke,
) -> Result<Vec<bool>, DriverError> {
    finished
        .iter()
        .filter_map(|f| match f {
            Finish::Ack { then, .. } => Some(then),
            _ => None,
        })
        .flatten()
        .try_for_each(NewJob::check)?;
    let leases: Vec<&Lease> = finished.iter().map(Finish::lease).collect();
    let mut reads = read_all(server, &leases)?;
    let mut written = vec![false; finished.len()];
    ack_plain(server, finished, &mut reads, &mut written)?;
    let now = now_ms();
    for (place, finish) in finished.iter().enumerate() {
        let lease = finish.lease();
        written[place] = match finish {
            Finish::Ack { then, .. } if then.is_empty() => continue,
            Finish::Ack { then, .. } => {
                let read = reads.remove(&server.keys.job_of(&lease.id));
                let stored = followups::ack(server, lease, read, then)?;
                woke.due_now |= stored == Some(true);
                stored.is_some()
            }
            Finish::Retry {
                available_at,
                error,
                ..
            } => {
                let retried = with_lease(server, &mut reads, lease, |r| {
                    r.back_to_ready(*available_at);
                    r.set_error(error);
                })?;
                woke.due_now |= retried.is_some() && *available_at <= now;
                retried.is_some()
            }
            Finish::Release { available_at, .. } => {
                let released = with_lease(server, &mut reads, lease, |r| {
                    r.back_to_ready(*available_at);
                    r.attempts = r.attempts.saturating_sub(1);
                })?;
                woke.due_now |= released.is_some() && *available_at <= now;
                released.is_some()
            }
            Finish::Fail {
                error, cancelled, ..
            } => {
                let read = reads.remove(&server.keys.job_of(&lease.id));
                let held = |r: &Record| r.held_by(lease.token);
                let change =
                    failed::enter(server, lease.id.as_str(), read, held, error, *cancelled)?;
                if matches!(change, Change::Missing) {
                    server.report_vanished(lease.id.as_str(), &lease.queue);
                }
                matches!(change, Change::Done { .. })
            }
        };
    }
    Ok(written)
}

/// Acks the jobs of `finished` that store no follow-ups, the bulk of any batch, together:
/// one batch of compare-and-swaps to done, then one of deletes of their entries and records.
fn ack_plain(
    server: &Server,
    finished: &[Finish],
    reads: &mut HashMap<String, Versioned>,
    written: &mut [bool],
) -> Result<(), DriverError> {
    let plain = finished
        .iter()
        .enumerate()
        .filter_map(|(place, f)| match f {
            Finish::Ack { then, .. } if then.is_empty() => Some((place, f.lease())),
            _ => None,
        });
    let (items, places) = read_items(server, reads, plain)?;
    let changes = server.update_many(items, |k, r| {
        let held = r.held_by(finished[places[k]].lease().token);
        if held {
            r.state = State::Done;
        }
        held
    })?;
    let mut done = Vec::new();
    for (change, place) in changes.into_iter().zip(places) {
        match change {
            Change::Done { after, .. } => {
                if let Some(unique) = &after.unique_key {
                    locks::release_unique(server, unique, &after.id)?;
                }
                written[place] = true;
                done.push(*after);
            }
            Change::Refused => {}
            Change::Missing => {
                let lease = finished[place].lease();
                server.report_vanished(lease.id.as_str(), &lease.queue);
            }
        }
    }
    followups::finish_many(server, &done)?;
    Ok(())
}
