//! Jobs to bind values and back: a new job's insert values, and the rows of the
//! statements' column lists read as jobs.

use crate::db::{Arg, ReadRow};
use crate::errors::OpError;
use rakit_job_core::{JobId, JobInfo, Millis, NewJob, State, StoredJob};

/// A new job's values, in the order of the insert's columns (`INSERT_COLUMNS`): id, name,
/// queue, payload, available_at, created_at, overlap_key, unique_key, meta. A job with a
/// unique window holds its key by the window, so its row leaves the key out.
pub(crate) fn insert_args<'a>(job: &'a NewJob, args: &mut Vec<Arg<'a>>) {
    let unique_key = job.unique_key.as_deref().filter(|_| job.unique_for.is_none());
    args.extend([
        Arg::Text(job.id.as_str()),
        Arg::Text(&job.name),
        Arg::Text(&job.queue),
        Arg::Text(&job.payload),
        Arg::Int(job.available_at),
        Arg::Int(job.created_at),
        Arg::MaybeText(job.overlap_key.as_deref()),
        Arg::MaybeText(unique_key),
        Arg::MaybeText(job.meta.as_deref()),
    ]);
}

fn job_id(text: String) -> Result<JobId, OpError> {
    JobId::parse(&text).map_err(|_| OpError::Corrupt {
        id: text,
        reason: "its id is not a job id".into(),
    })
}

fn attempts(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// A job from a row of `JOB_COLUMNS`: id, name, queue, payload, attempts, created_at,
/// overlap_key, unique_key, last_error, meta, cancelled.
pub(crate) fn stored_job(row: &dyn ReadRow) -> Result<StoredJob, OpError> {
    Ok(StoredJob {
        id: job_id(row.text(0)?)?,
        name: row.text(1)?,
        queue: row.text(2)?,
        payload: row.text(3)?,
        attempts: attempts(row.int(4)?),
        created_at: row.int(5)?,
        overlap_key: row.maybe_text(6)?,
        unique_key: row.maybe_text(7)?,
        last_error: row.maybe_text(8)?,
        meta: row.maybe_text(9)?,
        cancelled: row.flag(10)?,
    })
}

/// A job of the jobs table, from a row of `INFO_COLUMNS` (`JOB_COLUMNS`, then
/// available_at, lease_token, worker), as it stands at `now`.
pub(crate) fn queued_info(row: &dyn ReadRow, now: Millis) -> Result<JobInfo, OpError> {
    let job = stored_job(row)?;
    let available_at = row.int(11)?;
    let running = row.maybe_int(12)?.is_some() && available_at > now;
    let state = match (running, available_at <= now) {
        (true, _) => State::Running,
        (false, true) => State::Pending,
        (false, false) => State::Scheduled,
    };
    Ok(JobInfo {
        id: job.id,
        name: job.name,
        queue: job.queue,
        state,
        payload: job.payload,
        attempts: job.attempts,
        created_at: job.created_at,
        due_at: (!running).then_some(available_at),
        lease_until: running.then_some(available_at),
        worker: row.maybe_text(13)?.filter(|_| running),
        last_error: job.last_error,
        failed_at: None,
        cancel_requested: running && job.cancelled,
        overlap_key: job.overlap_key,
        unique_key: job.unique_key,
        meta: job.meta,
    })
}

/// A job of the failed table, from a row of `FAILED_COLUMNS`: id, name, queue, payload,
/// attempts, created_at, overlap_key, error, failed_at, meta, cancelled.
pub(crate) fn failed_info(row: &dyn ReadRow) -> Result<JobInfo, OpError> {
    let cancelled = row.flag(10)?;
    Ok(JobInfo {
        id: job_id(row.text(0)?)?,
        name: row.text(1)?,
        queue: row.text(2)?,
        state: if cancelled {
            State::Cancelled
        } else {
            State::Failed
        },
        payload: row.text(3)?,
        attempts: attempts(row.int(4)?),
        created_at: row.int(5)?,
        due_at: None,
        lease_until: None,
        worker: None,
        last_error: Some(row.text(7)?),
        failed_at: Some(row.int(8)?),
        cancel_requested: false,
        overlap_key: row.maybe_text(6)?,
        unique_key: None,
        meta: row.maybe_text(9)?,
    })
}
