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
//! use rakit_job_core::{NewJob, ReserveRequest, Store, StoreExt};
//!
//! # async fn demo() -> Result<(), rakit_job_core::DriverError> {
//! let driver = rakit_job_memcached::MemcachedDriver::connect("memcache://127.0.0.1:11211", "rakit.job").await?;
//! driver.push_one(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! for taken in driver.reserve(&ReserveRequest::new(&queues, 10, 30_000, "worker-1")).await? {
//!     driver.ack(&taken.lease).await?;
//! }
//! # Ok(()) }
//! ```

mod cancel;
mod client;
mod driver;
mod enqueue;
mod entries;
mod failed;
mod followups;
mod index;
mod jobs;
mod keys;
mod listing;
mod locks;
mod pipeline;
mod queues;
mod record;
mod server;
mod throughput;

pub use driver::MemcachedDriver;

/// Reads one job record the way the driver does, from its bytes at time `now`: whether it
/// is due, whether a push may still be under way, the job a claim hands a worker, and the
/// failed job a listing shows. For the fuzz targets in `fuzz/`; not part of the API.
#[doc(hidden)]
pub fn decode_record(
    bytes: &[u8],
    now: rakit_job_core::Millis,
) -> Result<(rakit_job_core::StoredJob, rakit_job_core::JobInfo), rakit_job_core::DriverError> {
    let mut record = record::Record::parse("fuzz", bytes)?;
    let _ = (record.due_at(now), record.push_may_be_under_way(now));
    record.claim(1, now, "fuzz");
    let _ = record.held_by(1);
    let stored = record.to_stored()?;
    let mut failed = record;
    failed.move_to_failed(0, "fuzz", false);
    let shown = listing::info(failed, now).ok_or_else(|| rakit_job_core::DriverError::Corrupt {
        id: stored.id.to_string(),
        reason: "a failed record shows no job".into(),
    })?;
    Ok((stored, shown))
}
