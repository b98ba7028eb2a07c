//! Reading jobs back from rows of any dialect.
//!
//! Rows are read by position, in the order of
//! [`JOB_COLUMNS`](crate::statements::JOB_COLUMNS) and
//! [`FAILED_COLUMNS`](crate::statements::FAILED_COLUMNS).

use crate::errors::OpError;
use rakit_job_core::{FailedJob, JobId, StoredJob};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::collections::HashSet;

/// A row type whose columns decode as the text and integers our tables hold.
pub(crate) trait JobRow: Row
where
    usize: ColumnIndex<Self>,
{
    /// The text column at `i`.
    fn text(&self, i: usize) -> Result<String, OpError>;
    /// The nullable text column at `i`.
    fn maybe_text(&self, i: usize) -> Result<Option<String>, OpError>;
    /// The integer column at `i`.
    fn int(&self, i: usize) -> Result<i64, OpError>;
}

impl<R> JobRow for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, i: usize) -> Result<String, OpError> {
        Ok(self.try_get::<String, _>(i)?)
    }

    fn maybe_text(&self, i: usize) -> Result<Option<String>, OpError> {
        Ok(self.try_get::<Option<String>, _>(i)?)
    }

    fn int(&self, i: usize) -> Result<i64, OpError> {
        Ok(self.try_get::<i64, _>(i)?)
    }
}

/// The ids in the first column of `rows`, as a batch statement returned them.
pub(crate) fn returned_ids<R: JobRow>(rows: &[R]) -> Result<HashSet<String>, OpError>
where
    usize: ColumnIndex<R>,
{
    rows.iter().map(|row| row.text(0)).collect()
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

/// A job from a row of [`JOB_COLUMNS`](crate::statements::JOB_COLUMNS).
pub(crate) fn stored_job<R: JobRow>(row: &R) -> Result<StoredJob, OpError>
where
    usize: ColumnIndex<R>,
{
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
    })
}

/// A failed job from a row of [`FAILED_COLUMNS`](crate::statements::FAILED_COLUMNS).
pub(crate) fn failed_job<R: JobRow>(row: &R) -> Result<FailedJob, OpError>
where
    usize: ColumnIndex<R>,
{
    Ok(FailedJob {
        id: job_id(row.text(0)?)?,
        name: row.text(1)?,
        queue: row.text(2)?,
        payload: row.text(3)?,
        error: row.text(4)?,
        attempts: attempts(row.int(5)?),
        overlap_key: row.maybe_text(6)?,
        created_at: row.int(7)?,
        failed_at: row.int(8)?,
    })
}
