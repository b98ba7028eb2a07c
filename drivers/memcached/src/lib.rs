//! The memcached driver of rakit-job, for teams that already run memcached.
//!
//! Each job is one record under `<prefix>:job:<id>`, changed only by compare-and-swap, so
//! concurrent dispatchers and workers never lose an update; a claim swaps the record from
//! ready to reserved, and only one worker's swap succeeds. Queues are indexes of numbered
//! slots, one small key each, so no value grows with the number of jobs. The blocking
//! `memcache` client runs on tokio's blocking pool.
//!
//! memcached is a cache: it may evict any key under memory pressure and keeps nothing
//! across a restart. This driver is therefore *not durable*; a job that vanishes is
//! reported and skipped, never waited on. `docs/memcached.md` says what it can and cannot
//! promise.
//!
//! This crate is internal to rakit-job: applications enable the `memcached` feature of
//! `rakit-job` and set `driver = "memcached"`.
//!
//! ```no_run
//! use rakit_job_core::{Driver, NewJob, ReserveRequest};
//!
//! # async fn demo() -> Result<(), rakit_job_core::DriverError> {
//! let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
//! driver.push(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! for taken in driver.reserve(&ReserveRequest::new(&queues, 10, 30_000)).await? {
//!     driver.ack(&taken.lease).await?;
//! }
//! # Ok(()) }
//! ```

mod client;
mod driver;
mod failed;
mod index;
mod jobs;
mod keys;
mod locks;
mod queues;
mod record;
mod store;

pub use driver::MemcachedDriver;

/// Reads one job record the way the driver does, from its bytes at time `now`: whether it
/// is due, whether a push may still be under way, the job a claim hands a worker, and the
/// failed job a listing shows. For the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub fn decode_record(
    bytes: &[u8],
    now: rakit_job_core::Millis,
) -> Result<(rakit_job_core::StoredJob, rakit_job_core::FailedJob), rakit_job_core::DriverError> {
    let mut record = record::Record::parse("fuzz", bytes)?;
    let _ = (record.due_at(now), record.push_may_be_under_way(now));
    record.claim(1, now);
    let _ = record.held_by(1);
    Ok((record.to_stored()?, record.to_failed()?))
}
