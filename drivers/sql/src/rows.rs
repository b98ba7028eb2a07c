//! Jobs to bind values and back: a new job's insert values, and the rows of the
//! statements' column lists read as jobs.

use crate::db::{Arg, Column, ReadRow};
use crate::errors::{Op, OpError};
use rakit_job_core::{JobId, JobInfo, Millis, NewJob, State, StoredJob};

/// A new job's values, in the order of the insert's columns (`INSERT_COLUMNS`): id, name,
/// queue, payload, available_at, created_at, overlap_key, unique_key, meta. A job with a
/// unique window holds its key by the window, so its row leaves the key out.
pub(crate) fn insert_args<'a>(job: &'a NewJob, args: &mut Vec<Arg<'a>>) {
    let unique_key = job
        .unique_key
        .as_deref()
        .filter(|_| job.unique_for.is_none());
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

/// The values of `jobs` column by column, in the order of [`insert_args`]: one array per
/// column, for a dialect that binds arrays.
pub(crate) fn insert_columns<'a>(jobs: &[&'a NewJob]) -> Vec<Column<'a>> {
    let mut columns: Vec<Column<'a>> = Vec::with_capacity(9);
    let mut args = Vec::with_capacity(9);
    for job in jobs {
        args.clear();
        insert_args(job, &mut args);
        if columns.is_empty() {
            columns = args
                .iter()
                .map(|arg| match arg {
                    Arg::Int(_) | Arg::MaybeInt(_) => Column::Ints(Vec::with_capacity(jobs.len())),
                    _ => Column::Texts(Vec::with_capacity(jobs.len())),
                })
                .collect();
        }
        for (column, arg) in columns.iter_mut().zip(&args) {
            match (column, *arg) {
                (Column::Texts(texts), Arg::Text(text)) => texts.push(Some(text)),
                (Column::Texts(texts), Arg::MaybeText(text)) => texts.push(text),
                (Column::Ints(ints), Arg::Int(n) | Arg::MaybeInt(Some(n))) => ints.push(n),
                (column, arg) => unreachable!("{arg:?} does not fit {column:?}"),
            }
        }
    }
    columns
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

/// A job as people see it at `now`: from the jobs table, a row of `{info}`
/// (`JOB_COLUMNS`, then available_at, lease_token, worker); from the failed table
/// (`failed`), a row of `{failed_info}` (the same first columns, its error for the last
/// error, then failed_at).
pub(crate) fn job_info(row: &dyn ReadRow, now: Millis, failed: bool) -> Op<JobInfo> {
    let job = stored_job(row)?;
    let at = row.int(11)?;
    let running = !failed && row.maybe_int(12)?.is_some() && at > now;
    let state = match (failed, job.cancelled, running) {
        (true, true, _) => State::Cancelled,
        (true, false, _) => State::Failed,
        (false, _, true) => State::Running,
        _ if at <= now => State::Pending,
        _ => State::Scheduled,
    };
    let worker = if running { row.maybe_text(13)? } else { None };
    Ok(JobInfo {
        id: job.id,
        name: job.name,
        queue: job.queue,
        state,
        payload: job.payload,
        attempts: job.attempts,
        created_at: job.created_at,
        due_at: (!failed && !running).then_some(at),
        lease_until: running.then_some(at),
        worker,
        last_error: job.last_error,
        failed_at: failed.then_some(at),
        cancel_requested: running && job.cancelled,
        overlap_key: job.overlap_key,
        unique_key: job.unique_key,
        meta: job.meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_columns_hold_one_array_per_column_in_the_order_of_the_insert() {
        let first = NewJob::now("send", "default", "{\"a\":1}");
        let mut second = NewJob::now("sync", "low", "{}");
        second.meta = Some("m".into());
        let columns = insert_columns(&[&first, &second]);
        let texts = |i: usize| match &columns[i] {
            Column::Texts(texts) => texts.clone(),
            other => panic!("column {i} is {other:?}"),
        };
        assert_eq!(columns.len(), 9);
        assert_eq!(texts(1), [Some("send"), Some("sync")]);
        assert_eq!(texts(3), [Some("{\"a\":1}"), Some("{}")]);
        assert_eq!(texts(8), [None, Some("m")]);
        match &columns[4] {
            Column::Ints(ints) => assert_eq!(ints, &[first.available_at, second.available_at]),
            other => panic!("available_at is {other:?}"),
        }
    }
}
