//! Seeing the store: which queues hold jobs, how many in each state, pages of jobs, and
//! one job.
//!
//! memcached cannot list its keys, so a listing walks the index of each queue asked for
//! (or of the failed store) and pages by job id: a page holds the jobs in the state whose
//! id comes after the cursor (the last id of the page before). Ids are UUIDv7, so the
//! order is dispatch order, and a job that stays in its state keeps its place whatever
//! else moves, also when its index entry is moved to the end of its queue. Every page
//! walks the whole index; memcached offers nothing better.

use crate::failed;
use crate::index::{Flow, Index};
use crate::queues;
use crate::record::{Record, State as Stage};
use crate::server::Server;
use rakit_job_core::{
    DriverError, JobId, JobInfo, JobPage, JobQuery, Millis, QueueStats, State, now_ms,
    validate_queue,
};
use std::collections::BTreeMap;

/// Everything known about the job of `record` at `now`; `None` for a record that is no
/// job to people (a staged follow-up, a finished job about to go).
pub(crate) fn info(record: Record, now: Millis) -> Option<JobInfo> {
    let state = match record.state {
        Stage::Staged | Stage::Done => return None,
        Stage::Failed if record.cancelled => State::Cancelled,
        Stage::Failed => State::Failed,
        Stage::Reserved if record.is_running(now) => State::Running,
        Stage::Ready if record.available_at > now => State::Scheduled,
        Stage::Ready | Stage::Reserved => State::Pending,
    };
    let running = state == State::Running;
    let waiting = matches!(state, State::Pending | State::Scheduled);
    let due_at = match record.state {
        Stage::Reserved => record.deadline,
        _ => Some(record.available_at),
    };
    Some(JobInfo {
        id: record.job_id().ok()?,
        name: record.name,
        queue: record.queue,
        state,
        payload: record.payload,
        attempts: record.attempts,
        created_at: record.created_at,
        due_at: due_at.filter(|_| waiting),
        lease_until: record.deadline.filter(|_| running),
        worker: record.worker.filter(|_| running),
        last_error: record.last_error,
        failed_at: record.failed_at.filter(|_| state.is_failed()),
        cancel_requested: running && record.cancelled,
        overlap_key: record.overlap_key,
        unique_key: record.unique_key.filter(|_| !state.is_failed()),
        meta: record.meta,
    })
}

/// The jobs of `queue` as its index names them, in the index's order.
fn queued(server: &Server, queue: &str) -> Result<Vec<Record>, DriverError> {
    let mut records = Vec::new();
    Index::queue(server, queue).walk(server, queue, Record::is_in_queue, |page| {
        records.extend(page.into_iter().map(|l| l.record));
        Ok(Flow::Continue)
    })?;
    Ok(records)
}

/// Per-queue counts of every queue holding a job, sorted by queue name.
pub(crate) fn stats(server: &Server) -> Result<Vec<QueueStats>, DriverError> {
    let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
    fn of<'a>(map: &'a mut BTreeMap<String, QueueStats>, queue: &str) -> &'a mut QueueStats {
        map.entry(queue.to_string()).or_insert_with(|| QueueStats {
            queue: queue.to_string(),
            ..Default::default()
        })
    }
    for queue in queues::registered(server)? {
        let records = queued(server, &queue)?;
        let now = now_ms();
        for job in records.into_iter().filter_map(|r| info(r, now)) {
            let s = of(&mut by_queue, &queue);
            match job.state {
                State::Running => s.reserved += 1,
                State::Scheduled => s.scheduled += 1,
                _ => s.ready += 1,
            }
        }
    }
    for record in failed::all(server)? {
        of(&mut by_queue, &record.queue).failed += 1;
    }
    Ok(by_queue.into_values().collect())
}

/// The queues holding any job.
pub(crate) fn queues(server: &Server) -> Result<Vec<String>, DriverError> {
    Ok(stats(server)?.into_iter().map(|s| s.queue).collect())
}

/// One page of jobs in one state.
pub(crate) fn jobs(server: &Server, query: &JobQuery) -> Result<JobPage, DriverError> {
    let after = query.after.as_deref().map(JobId::parse).transpose()?;
    if let Some(queue) = &query.queue {
        validate_queue(queue)?;
    }
    let records = if query.state.is_failed() {
        failed::all(server)?
    } else {
        let queues = match &query.queue {
            Some(queue) => vec![queue.clone()],
            None => queues::registered(server)?,
        };
        let mut records = Vec::new();
        for queue in &queues {
            records.extend(queued(server, queue)?);
        }
        records
    };
    let now = now_ms();
    let mut jobs: Vec<JobInfo> = records
        .into_iter()
        .filter_map(|r| info(r, now))
        .filter(|j| j.state == query.state)
        .filter(|j| query.queue.as_ref().is_none_or(|q| &j.queue == q))
        .filter(|j| query.name.as_ref().is_none_or(|n| &j.name == n))
        .filter(|j| after.as_ref().is_none_or(|a| &j.id > a))
        .collect();
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    jobs.dedup_by(|a, b| a.id == b.id);
    let limit = query.limit.max(1);
    let more = jobs.len() > limit;
    jobs.truncate(limit);
    let next = more
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    Ok(JobPage { jobs, next })
}

/// One job in any state, failed store included.
pub(crate) fn job(server: &Server, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
    let key = server.keys.job_of(id);
    Ok(match server.mc.get(&key)? {
        Some((bytes, _)) => info(Record::parse(&key, &bytes)?, now_ms()),
        None => None,
    })
}
