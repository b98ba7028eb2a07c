//! Background jobs for Rust web applications.
//!
//! Define a job with [`#[job]`](macro@job), implement [`Jobable::run`], dispatch it from
//! anywhere, and run a [`Worker`] (or the CLI) to process it. Jobs are stored in SQLite
//! by default; PostgreSQL, MySQL/MariaDB, Redis, a folder or memcached are one cargo
//! feature away.
//!
//! ```no_run
//! use rakit_job::prelude::*;
//!
//! #[job(queue = "high", retries = 5, timeout = "30s")]
//! pub struct SendEmail {
//!     pub to: String,
//!     pub subject: String,
//! }
//!
//! impl Jobable for SendEmail {
//!     async fn run(&self, ctx: &JobContext) -> JobResult {
//!         println!("mailing {} (attempt {})", self.to, ctx.attempt());
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), rakit_job::Error> {
//! let queue = rakit_job::init().await?;
//! SendEmail::dispatch(SendEmail { to: "a@b.c".into(), subject: "Hi".into() }).await?;
//! Worker::new(&queue).queues(["high", "default"]).stop_when_empty().run().await?;
//! # Ok(()) }
//! ```
//!
//! The guide lives in `docs/`; its pages are compiled as part of this crate's docs.

mod batch;
mod batch_meta;
mod chain;
#[cfg(feature = "cli")]
pub mod cli;
mod config;
mod context;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod dispatch;
mod error;
mod facade;
pub mod inspect;
mod options;
mod queue;
mod registry;
mod schedule;
mod spec;
mod when;
mod worker;

pub mod observe;
pub mod testing;

pub use batch::{Batch, BatchId, BatchInfo};
pub use chain::ChainPosition;
pub use config::{Config, StoreKind};
pub use context::JobContext;
pub use dispatch::{DispatchSource, JobParts, PendingBatch, PendingDispatch, UniqueDispatch};
pub use error::{Error, JobError};
pub use facade::{Job, NamedJob};
pub use inspect::{Cancelled, JobInfo, JobPage, ListJobs, WorkerInfo};
pub use options::{Backoff, Cron, JobOptions, KeyRule, MaxRunning, RateLimit};
pub use queue::{Queue, init, install};
pub use rakit_job_core::{FailedSelect, JobId, MinuteCount, QueueStats, State};
pub use rakit_job_macros::job;
pub use registry::listen;
pub use schedule::{Schedule, schedules};
pub use spec::{JobResult, JobSpec, Jobable};
pub use when::When;
pub use worker::{ShutdownHandle, Worker, WorkerReport, signals as shutdown_signal};

/// Everything a job definition and its dispatch need: `use rakit_job::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Batch, Job, JobContext, JobError, JobResult, JobSpec, Jobable, PendingDispatch,
        UniqueDispatch, Worker, job,
    };
}

/// The sqlx version rakit-job uses, for transactional dispatch (`with_tx`).
#[cfg(feature = "_sql")]
pub use rakit_job_sql::sqlx;

/// The store seam, for writing or testing a store; applications do not need it. A store
/// implements [`Store`](driver::Store) (the hot path) and [`Admin`](driver::Admin) (seeing
/// and steering), and passes the conformance suite of `rakit-job-core` (feature
/// `conformance`); docs/architecture.md shows where each trait is called.
pub mod driver {
    pub use rakit_job_core::{
        Admin, CancelOutcome, Capabilities, Driver, DriverError, FailedSelect, Finish, Hooks,
        JobId, JobInfo, JobPage, JobQuery, Lease, LeaseState, LockRequest, Locked,
        MAX_PAYLOAD_BYTES, MemoryDriver, Millis, MinuteCount, NewJob, PushOutcome, QueueStats,
        ReserveRequest, Reserved, State, Store, StoreExt, StoredJob, Watched, now_ms, redact_url,
        slug, validate_identifier, validate_queue,
    };
}

/// The guide, one page per topic, as in `docs/`; every Rust snippet in it is compiled as a doc test.
pub mod guide {
    #[doc = include_str!("../../README.md")]
    pub mod readme {}
    #[doc = include_str!("../../docs/getting-started.md")]
    pub mod getting_started {}
    #[doc = include_str!("../../docs/jobs.md")]
    pub mod jobs {}
    #[doc = include_str!("../../docs/dispatching.md")]
    pub mod dispatching {}
    #[doc = include_str!("../../docs/workers.md")]
    pub mod workers {}
    #[doc = include_str!("../../docs/queue-priority.md")]
    pub mod queue_priority {}
    #[doc = include_str!("../../docs/without-overlapping.md")]
    pub mod without_overlapping {}
    #[doc = include_str!("../../docs/scheduled-jobs.md")]
    pub mod scheduled_jobs {}
    #[doc = include_str!("../../docs/schedules.md")]
    pub mod schedules {}
    #[doc = include_str!("../../docs/limits.md")]
    pub mod limits {}
    #[doc = include_str!("../../docs/chains-and-batches.md")]
    pub mod chains_and_batches {}
    #[doc = include_str!("../../docs/supervisor.md")]
    pub mod supervisor {}
    #[doc = include_str!("../../docs/legacy-events.md")]
    pub mod legacy_events {}
    #[doc = include_str!("../../docs/configuration.md")]
    pub mod configuration {}
    #[doc = include_str!("../../docs/cli.md")]
    pub mod cli {}
    #[doc = include_str!("../../docs/state-machine.md")]
    pub mod state_machine {}
    #[doc = include_str!("../../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../../docs/deployment.md")]
    pub mod deployment {}
    #[doc = include_str!("../../docs/observability.md")]
    pub mod observability {}
    #[doc = include_str!("../../docs/reliability.md")]
    pub mod reliability {}
    #[doc = include_str!("../../docs/sqlite.md")]
    pub mod sqlite {}
    #[doc = include_str!("../../docs/postgres.md")]
    pub mod postgres {}
    #[doc = include_str!("../../docs/mysql.md")]
    pub mod mysql {}
    #[doc = include_str!("../../docs/redis.md")]
    pub mod redis {}
    #[doc = include_str!("../../docs/file.md")]
    pub mod file {}
    #[doc = include_str!("../../docs/memcached.md")]
    pub mod memcached {}
    #[doc = include_str!("../../docs/coming-from-rakit.md")]
    pub mod coming_from_rakit {}
    #[doc = include_str!("../../docs/inspect.md")]
    pub mod inspect {}
    #[doc = include_str!("../../docs/architecture.md")]
    pub mod architecture {}
}

/// What `#[job]` expands to calls into this module; it is not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::{JOBS, JobEntry, SCHEDULES, ScheduleEntry, all, duplicates, find};
    pub use linkme;
    pub use serde;
    pub use std::time::Duration;
}
