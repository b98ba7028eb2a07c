//! The storage seam of rakit-job: the [`Driver`] trait every store implements, the
//! stored-job types it moves around, and an in-memory driver for tests.
//!
//! This crate is an internal part of rakit-job and is exempt from semver: applications
//! depend on `rakit-job`, which re-exports what they need. Driver crates depend on this
//! crate only, which lets `rakit-job` pull them in by cargo feature without a cycle.
//!
//! ```
//! use rakit_job_core::{Driver, MemoryDriver, NewJob, ReserveRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let driver = MemoryDriver::new();
//! driver.push(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! let taken = driver.reserve(&ReserveRequest::new(&queues, 1, 30_000)).await?;
//! assert_eq!(taken[0].job.name, "send-email");
//! # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
//! ```

mod driver;
mod error;
mod job;
mod memory;
mod names;
mod time;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use driver::{Capabilities, Driver, PushOutcome, ReserveRequest};
pub use error::DriverError;
pub use job::{FailedJob, JobId, Lease, NewJob, QueueStats, Reserved, Retry, StoredJob};
pub use memory::MemoryDriver;
pub use names::{MAX_PAYLOAD_BYTES, redact_url, slug, validate_identifier, validate_queue};
pub use time::{Millis, now_ms};
