//! The storage seam of rakit-job: the traits every store implements, the records they
//! move around, and an in-memory store for tests.
//!
//! A store serves two audiences, one trait each: [`Store`] is the hot path (push,
//! reserve, renew, finish in batches, locks, wait) and [`Admin`] is seeing and steering
//! (counts, listings, cancel, the failed store, control entries, throughput). A
//! [`Driver`] is both, used as `Arc<dyn Driver>`. [`StoreExt`] adds one-job shorthands
//! written once for every store, and [`Watched`] lets a wrapper observe a store without
//! restating its methods.
//!
//! This crate is an internal part of rakit-job and is exempt from semver: applications
//! depend on `rakit-job`, which re-exports what they need. Driver crates depend on this
//! crate only, which lets `rakit-job` pull them in by cargo feature without a cycle.
//!
//! ```
//! use rakit_job_core::{MemoryDriver, NewJob, ReserveRequest, Store, StoreExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryDriver::new();
//! store.push_one(NewJob::now("send-email", "default", r#"{"to":"a@b.c"}"#)).await?;
//! let queues = vec!["default".to_string()];
//! let taken = store.reserve(&ReserveRequest::new(&queues, 1, 30_000, "worker-1")).await?;
//! assert_eq!(taken[0].job.name, "send-email");
//! # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
//! ```

mod admin;
mod backoff;
mod blocking;
mod error;
mod ext;
mod job;
mod memory;
mod names;
mod slug;
mod store;
mod threads;
mod time;
#[cfg(feature = "watch")]
pub mod watch;
mod watched;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod test_support;

pub use admin::{
    Admin, CancelOutcome, FailedSelect, JobInfo, JobPage, JobQuery, MinuteCount, QueueStats, State,
};
pub use backoff::Backoff;
pub use blocking::{BlockingDriver, panic_text, run_blocking};
pub use error::DriverError;
pub use ext::StoreExt;
pub use job::{JobId, Lease, NewJob, Reserved, StoredJob, fresh_token};
pub use memory::MemoryDriver;
pub use names::{MAX_PAYLOAD_BYTES, redact_url, slug, validate_identifier, validate_queue};
pub use store::{
    Capabilities, Finish, LeaseState, LockRequest, Locked, PushOutcome, ReserveRequest, Store,
    UNSIGNALLED_POLL,
};
pub use time::{Millis, now_ms};
pub use watched::{Hooks, Watched};

/// A whole store: the hot path and administration. Every type that implements both is one.
///
/// ```
/// use rakit_job_core::{Driver, MemoryDriver, Store};
/// use std::sync::Arc;
///
/// let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
/// let hot: Arc<dyn Store> = driver.clone();
/// assert_eq!(hot.describe(), "memory");
/// ```
pub trait Driver: Store + Admin {}

impl<T: Store + Admin + ?Sized> Driver for T {}

/// The entry kind under which worker heartbeats are kept (see [`Admin::put_entry`]).
pub const WORKERS: &str = "workers";

/// The entry kind under which paused queues are kept.
pub const PAUSED: &str = "paused";
