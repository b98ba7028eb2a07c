//! The file driver of rakit-job: jobs as files in a folder, for single-machine
//! deployments with no database at all.
//!
//! Each queue is a folder and each job one JSON file in it. A worker claims a job by
//! renaming its file from `ready/` into `reserved/` under a name carrying the lease
//! deadline, a random token and the worker's name; a rename succeeds for one process
//! only, so several worker processes on one machine never take the same job. A push
//! writes a temp file, renames it into place (a waiting worker may take it at once), then
//! syncs the file and the folder before it returns. The layout, the guarantees and the
//! limits are described in `docs/file.md`.
//!
//! This crate is internal to rakit-job: applications enable the `file` feature of
//! `rakit-job` and set `driver = "file"`.
//!
//! ```no_run
//! use rakit_job_core::{NewJob, ReserveRequest, Store, StoreExt};
//!
//! # async fn demo() -> Result<(), rakit_job_core::DriverError> {
//! let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
//! driver.push_one(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! for taken in driver.reserve(&ReserveRequest::new(&queues, 10, 30_000, "worker-1")).await? {
//!     driver.ack(&taken.lease).await?;
//! }
//! # Ok(()) }
//! ```

mod cancel;
mod cell;
mod corrupt;
mod done;
mod driver;
mod due;
mod entries;
mod failed;
mod files;
mod followups;
mod fsio;
mod jobs;
mod keys;
mod listing;
mod locks;
mod notes;
mod record;
mod throughput;

pub use driver::FileDriver;

/// Reads one job file the way a worker's claim does, from its name and its bytes, into
/// the job the worker is handed and the failed job a listing would show.
/// For the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub fn decode_job_file(
    file_name: &str,
    bytes: &[u8],
    queue: &str,
) -> Result<(rakit_job_core::StoredJob, rakit_job_core::JobInfo), String> {
    let found = keys::JobName::parse(file_name).ok_or("not a job file name")?;
    let name = found.claimed(found.time, 1, "fuzz");
    let record = record::Record::parse(bytes, &name.id, queue)?;
    let stored = record.to_stored(&name, None, false);
    let failed = keys::FailedName {
        id: name.id.clone(),
        failed_at: found.time,
        attempts: name.attempts,
        flags: name.flags,
    };
    Ok((stored, listing::failed_info(&failed, record, None)))
}
