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
