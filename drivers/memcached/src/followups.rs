//! Follow-up jobs stored with an ack. memcached has no transaction over two keys, so an
//! ack that carries follow-ups takes three steps, ordered so that a crash between any two
//! neither loses a follow-up nor stores one twice:
//!
//! 1. each follow-up's record is written *staged* (no worker can see it; it expires in a
//!    day unless published) and its unique key or window is claimed;
//! 2. the commit: one compare-and-swap of the acked job's record, from reserved under the
//!    caller's lease to done, naming the staged follow-ups. It fails if the lease was lost,
//!    and then the staged records are removed and their keys given back;
//! 3. each staged follow-up is published (staged → ready, then its index entry) and the
//!    acked job's record is removed.
//!
//! A done record naming follow-ups keeps its queue entry until step 3 is over, so if the
//! acker dies after the commit, the next worker walking that queue finishes the step.
//! Publishing only ever moves a record out of the staged state, so a follow-up that was
//! published and has run since is never written again.

use crate::client::Versioned;
use crate::enqueue;
use crate::index::Index;
use crate::locks;
use crate::pipeline::Write;
use crate::record::{Record, State};
use crate::server::{Change, Server};
use rakit_job_core::{DriverError, JobId, Lease, NewJob, PushOutcome};

/// Acks the job of `lease` and stores `then` with it (`read`: its record, if already
/// read). `None` when the lease was not current; otherwise whether a follow-up is due now.
pub(crate) fn ack(
    server: &Server,
    lease: &Lease,
    read: Option<Versioned>,
    then: &[NewJob],
) -> Result<Option<bool>, DriverError> {
    let mut staged: Vec<&NewJob> = Vec::with_capacity(then.len());
    for job in then {
        match enqueue::stage(server, job) {
            Ok(PushOutcome::Stored) => staged.push(job),
            Ok(PushOutcome::Duplicate) => {}
            Err(e) => {
                enqueue::unstage(server, &staged)?;
                return Err(e);
            }
        }
    }
    let ids: Vec<String> = staged.iter().map(|j| j.id.to_string()).collect();
    let key = server.keys.job_of(&lease.id);
    let committed = server.update_from(&key, read, |r| {
        r.held_by(lease.token) && {
            r.state = State::Done;
            r.token = None;
            r.deadline = None;
            r.then = ids.clone();
            true
        }
    })?;
    let done = match committed {
        Change::Done { after, .. } => after,
        Change::Refused | Change::Missing => {
            if matches!(committed, Change::Missing) {
                server.report_vanished(lease.id.as_str(), &lease.queue);
            }
            enqueue::unstage(server, &staged)?;
            return Ok(None);
        }
    };
    if let Some(unique) = &done.unique_key {
        locks::release_unique(server, unique, &done.id)?;
    }
    finish(server, &done).map(Some)
}

/// Publishes the follow-ups a done record names, then removes its queue entry and the
/// record itself; whether a follow-up is due now.
pub(crate) fn finish(server: &Server, done: &Record) -> Result<bool, DriverError> {
    let mut due_now = false;
    for id in &done.then {
        due_now |= enqueue::publish(server, &JobId::parse(id)?)?;
    }
    if let Some(slot) = done.slot {
        Index::queue(server, &done.queue).clear(server, slot)?;
    }
    server.mc.delete(&server.keys.job(&done.id))?;
    Ok(due_now)
}

/// [`finish`] for many done records: their follow-ups published one by one, then every
/// queue entry and record removed in one round trip; whether a follow-up is due now.
pub(crate) fn finish_many(server: &Server, done: &[Record]) -> Result<bool, DriverError> {
    let mut due_now = false;
    let mut keys = Vec::with_capacity(done.len() * 2);
    for record in done {
        for id in &record.then {
            due_now |= enqueue::publish(server, &JobId::parse(id)?)?;
        }
        if let Some(slot) = record.slot {
            keys.push(Index::queue(server, &record.queue).slot(slot));
        }
        keys.push(server.keys.job(&record.id));
    }
    let deletes: Vec<Write<'_>> = keys.iter().map(|key| Write::Delete { key }).collect();
    server.mc.write_many(&deletes)?;
    Ok(due_now)
}
