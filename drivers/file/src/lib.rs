//! The file driver of rakit-job: jobs as files in a folder, for single-machine
//! deployments with no database at all.
//!
//! Each queue is a folder and each job one JSON file in it. A worker claims a job by
//! renaming its file from `ready/` into `reserved/` under a name carrying the lease
//! deadline and a random token; a rename succeeds for one process only, so several worker
//! processes on one machine never take the same job. A push writes a temp file, syncs
//! it, renames it into place and syncs the folder before it returns. The layout, the
//! guarantees and the limits are described in `docs/file.md`.
//!
//! This crate is internal to rakit-job: applications enable the `file` feature of
//! `rakit-job` and set `driver = "file"`.
//!
//! ```no_run
//! use rakit_job_core::{Driver, NewJob, ReserveRequest};
//!
//! # async fn demo() -> Result<(), rakit_job_core::DriverError> {
//! let driver = rakit_job_file::FileDriver::open("storage/jobs").await?;
//! driver.push(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! for taken in driver.reserve(&ReserveRequest::new(&queues, 10, 30_000)).await? {
//!     driver.ack(&taken.lease).await?;
//! }
//! # Ok(()) }
//! ```

mod cell;
mod corrupt;
mod driver;
mod failed;
mod fsio;
mod keys;
mod layout;
mod queue;
mod record;
mod stats;
mod watch;

pub use driver::FileDriver;
