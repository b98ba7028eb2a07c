//! What differs between SQLite, PostgreSQL and MySQL: the [`Syntax`] words the shared
//! statements and the schema are written with, a few statements of their own
//! ([`Opened`]), and the [`Dialect`] operations each does its own way (claim, batch
//! writes, wake-ups). Everything else is written once, in the store.

use crate::db::{Exec, Pool};
use crate::errors::OpError;
use crate::statements::Takes;
use rakit_job_core::{
    Capabilities, DriverError, Finish, Lease, Millis, NewJob, ReserveRequest, Reserved,
};
use std::sync::Arc;
use std::time::Duration;

/// The few words in which the dialects' shared statements differ.
#[derive(Debug)]
pub(crate) struct Syntax {
    /// The dialect's name: `sqlite`, `postgres` or `mysql`.
    pub name: &'static str,
    /// PostgreSQL numbers its placeholders (`$1, $2, …`); the others take `?`.
    pub numbered: bool,
    /// What locks the rows a read returns until its transaction ends (nothing on SQLite,
    /// whose write transaction holds the whole file).
    pub for_update: &'static str,
    /// How an insert that meets a taken key updates that row instead; `{key}` is the key.
    pub on_conflict: &'static str,
    /// How that update names the value the insert proposed; `{col}` is the column.
    pub proposed: &'static str,
    /// Run first in a migration's transaction, so migrations run one at a time.
    pub migration_lock: Option<&'static str>,
    /// What makes an insert skip a job whose unique key is taken. It names the unique
    /// index's predicate (`WHERE unique_key IS NOT NULL`), so it finds the partial index
    /// and also the full one that tables made by earlier versions have. MySQL has nothing
    /// that would not hide other errors too, so its jobs with a unique key are inserted
    /// one by one, a duplicate on the unique index meaning taken.
    pub skip_taken: Option<&'static str>,
    /// What the store can do beyond the common contract.
    pub capabilities: Capabilities,
    /// The type of each kind of column, in `statements::TYPES` order.
    pub types: [&'static str; 7],
    /// Written after each `CREATE TABLE (…)`.
    pub table_options: &'static str,
    /// Indexes are declared inside `CREATE TABLE` (MySQL has no `CREATE INDEX IF NOT EXISTS`).
    pub inline_indexes: bool,
    /// Count jobs queue by queue along the claim index: MySQL's one grouped count reads
    /// every row (the lease column is in no index); the others' grouped pass is faster.
    pub counts_per_queue: bool,
}

/// A dialect just connected.
pub(crate) struct Opened {
    /// The dialect, with its connections.
    pub db: Box<dyn Dialect>,
    /// Its words.
    pub syntax: &'static Syntax,
    /// The store as messages name it, any password hidden.
    pub store: String,
    /// A database that did not exist before (a new SQLite file): it gets its tables.
    pub fresh: bool,
    /// The statement storing one job alone, binding [`crate::rows::insert_args`]: it
    /// changes one row when it stored the job and none for a taken unique key (MySQL
    /// fails on the unique index instead). PostgreSQL's also wakes the queue's workers.
    pub insert_one: Arc<str>,
    /// How it takes a unique window or a lock slot.
    pub takes: Takes,
    /// Where it has arrays (PostgreSQL), its inserts of a batch of jobs bound as one array
    /// per column: one prepared statement for every batch size, and nine binds.
    pub insert_arrays: Option<ArrayInserts>,
}

/// A batch insert binding [`crate::rows::insert_columns`]: `plain` stores every row, and
/// `skipping` skips a taken unique key and returns the ids it stored.
#[derive(Debug)]
pub(crate) struct ArrayInserts {
    pub plain: Arc<str>,
    pub skipping: Arc<str>,
}

/// The jobs whose lease was still current, by id, each with whether it was cancelled.
pub(crate) type Held = std::collections::HashMap<String, bool>;

/// A held job to run again later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry<'a> {
    /// Its lease.
    pub lease: &'a Lease,
    /// When it may run again.
    pub available_at: Millis,
    /// The failed attempt's error.
    pub error: &'a str,
}

impl<'a> Retry<'a> {
    /// The retry a final outcome asks for, if it is one.
    pub fn of(finish: &'a Finish) -> Option<Self> {
        match finish {
            Finish::Retry {
                lease,
                available_at,
                error,
            } => Some(Retry {
                lease,
                available_at: *available_at,
                error,
            }),
            _ => None,
        }
    }
}

/// One SQL dialect: its connections and the operations it does its own way.
#[async_trait::async_trait]
pub(crate) trait Dialect: Send + Sync + 'static {
    /// Its connections.
    fn pool(&self) -> &dyn Pool;

    /// Refuses a job this dialect's columns cannot hold.
    fn check_job(&self, _job: &NewJob) -> Result<(), DriverError> {
        Ok(())
    }

    /// Refuses a key (lock, entry) this dialect's columns cannot hold; `what` names it.
    fn check_key(&self, _what: &str, _key: &str) -> Result<(), DriverError> {
        Ok(())
    }

    /// Tells waiting workers of other processes that `queues` have new due jobs, when the
    /// transaction `on` commits.
    async fn wake(&self, _on: &mut dyn Exec, _queues: &[&str]) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// Takes up to `request.limit` due jobs in queue priority order and leases them.
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, OpError>;

    /// Pushes each held lease's deadline to `deadline`.
    async fn extend(&self, leases: &[Lease], deadline: Millis) -> Result<Held, OpError>;

    /// Deletes each job whose lease is current; per lease whether it was.
    async fn ack(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError>;

    /// Makes each job whose lease is current wait for its due time with its error.
    async fn retry(&self, retries: &[Retry<'_>]) -> Result<Vec<bool>, OpError>;

    /// Returns when a job may have been pushed to `queues`, or after `timeout`.
    async fn wait(&self, queues: &[String], timeout: Duration);
}

/// The requested queues in priority order, each once.
pub(crate) fn distinct_queues<'a>(request: &'a ReserveRequest<'a>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(request.queues.len());
    for q in request.queues {
        if !out.contains(&q.as_str()) {
            out.push(q);
        }
    }
    out
}
