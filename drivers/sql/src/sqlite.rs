//! SQLite: one file shared by every worker process, in WAL mode.
//!
//! Writers take turns on the file, so a claim is one short `BEGIN IMMEDIATE` transaction
//! ([`PickThenLease`]): the write lock is taken first, then the due jobs are picked queue by
//! queue and leased in one `UPDATE`. A busy file makes a statement wait up to the busy
//! timeout, and an operation that still loses is rolled back and tried again, so
//! "database is locked" never costs a job. Acks, retries and renewals of a batch are one
//! statement per 1,000 jobs that returns the ids it changed.

use crate::Synchronous;
use crate::claim::PickThenLease;
use crate::conns::{Conns, Writers};
use crate::db::{Affected, Arg, Pool, Row};
use crate::dialect::{Dialect, Held, Opened, Retry, Syntax};
use crate::errors::OpError;
use crate::statements::{self, BATCH_ROWS, Takes};
use crate::tables::Tables;
use notify::event::{EventKind, ModifyKind};
use rakit_job_core::watch::FileWatch;
use rakit_job_core::{Backoff, Capabilities, DriverError, Lease, Millis, ReserveRequest, Reserved};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

const SYNTAX: Syntax = Syntax {
    name: "sqlite",
    numbered: false,
    for_update: "",
    on_conflict: "ON CONFLICT ({key}) DO UPDATE SET",
    proposed: "excluded.{col}",
    migration_lock: None,
    skip_taken: Some(" ON CONFLICT (unique_key) DO NOTHING"),
    capabilities: Capabilities {
        wakes_across_processes: true,
        durable: true,
    },
    types: ["TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "BOOLEAN"],
    table_options: "",
    inline_indexes: false,
    counts_per_queue: false,
};

/// How long a statement waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per driver unless the url sets `pool_size`; SQLite runs one writer at a time anyway.
const POOL_SIZE: u32 = 4;

impl Affected for SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

struct Sqlite {
    conns: Conns<sqlx::Sqlite>,
    jobs: String,
    claim: PickThenLease,
    /// Wakes idle workers when any process writes the database (its write-ahead log).
    watch: FileWatch,
    /// The database's folder, which the watch watches.
    folder: PathBuf,
    /// How idle workers poll when the database cannot be watched.
    backoff: Backoff,
}

/// True for a write to one of `files` (the database and its write-ahead log): every
/// commit of any process appends to the log.
fn writes_to(event: &notify::Event, files: &[OsString; 2]) -> bool {
    let written = matches!(
        event.kind,
        EventKind::Any
            | EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
    );
    written
        && event.paths.iter().any(|path| {
            path.file_name()
                .is_some_and(|file| files.iter().any(|f| f == file))
        })
}

/// The file path in `sqlite://path`, `sqlite:path` or `sqlite:///absolute/path`.
fn file_path(url: &str) -> Result<PathBuf, DriverError> {
    let rest = url.split_once(':').map_or(url, |(_, rest)| rest);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return Err(DriverError::Invalid(format!(
            "the SQLite url {url:?} names no file; use one like sqlite://storage/jobs.db"
        )));
    }
    Ok(PathBuf::from(path))
}

/// Opens (creating if needed) the file at `url`.
pub(crate) async fn open(
    url: &str,
    tables: &Tables,
    synchronous: Synchronous,
    pool_size: Option<u32>,
) -> Result<Opened, DriverError> {
    let path = file_path(url)?;
    let store = format!("sqlite {}", path.display());
    let fresh = !path.exists();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DriverError::Unreachable {
            store: store.clone(),
            reason: format!("cannot create the folder {}: {e}", parent.display()),
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match synchronous {
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
        })
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(pool_size.unwrap_or(POOL_SIZE))
        .acquire_timeout(BUSY_TIMEOUT * 2);
    let conns = Conns::open(
        options,
        pool,
        Writers::OneAtATime {
            patience: BUSY_TIMEOUT,
        },
    )
    .await
    .map_err(|e| OpError::Sql(e).into_driver(&store))?;
    let jobs = &tables.jobs;
    let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let folder = absolute
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let name = absolute.file_name().unwrap_or_default().to_os_string();
    let mut wal = name.clone();
    wal.push("-wal");
    let files = [name, wal];
    let db = Sqlite {
        watch: FileWatch::new("the SQLite database", move |e| writes_to(e, &files)),
        folder,
        conns,
        jobs: jobs.clone(),
        claim: PickThenLease::new(jobs, ["", ""], false),
        backoff: Backoff::default(),
    };
    Ok(Opened {
        db: Box::new(db),
        syntax: &SYNTAX,
        store,
        fresh,
        insert_one: statements::insert_one(jobs, &SYNTAX),
        takes: Takes::on_conflict(tables, &SYNTAX),
    })
}

/// Binds for a batch statement whose items bind `stride` values each, numbered from
/// `first` (`?N`, so each id can be used twice): the rows `(?a, ?b, …)` and the list of
/// ids (each item's first value). Matching the ids against a plain list is what makes
/// SQLite look the rows up by primary key: joined to a `VALUES` table alone, it may scan
/// the whole jobs table once per batch.
fn numbered_rows(items: usize, stride: usize, first: usize) -> (String, String) {
    let mut rows = Vec::with_capacity(items);
    let mut ids = Vec::with_capacity(items);
    for item in 0..items {
        let at = first + item * stride;
        let marks: Vec<String> = (at..at + stride).map(|i| format!("?{i}")).collect();
        rows.push(format!("({})", marks.join(", ")));
        ids.push(format!("?{at}"));
    }
    (rows.join(", "), ids.join(", "))
}

/// Deletes the jobs whose (id, token) match. Binds: id, token per lease.
fn ack_sql(jobs: &str, n: usize) -> String {
    let (pairs, ids) = numbered_rows(n, 2, 1);
    format!(
        "DELETE FROM {jobs} WHERE id IN ({ids}) AND (id, lease_token) IN (VALUES {pairs}) RETURNING id"
    )
}

/// Retries the jobs whose (id, token) match, each with its own due time and error.
/// Binds: id, token, available_at, error per job.
fn retry_sql(jobs: &str, n: usize) -> String {
    let (rows, ids) = numbered_rows(n, 4, 1);
    format!(
        "WITH retried (job_id, token, available_at, error) AS (VALUES {rows}) \
         UPDATE {jobs} AS j SET available_at = retried.available_at, reserved_until = NULL, \
         lease_token = NULL, last_error = retried.error \
         FROM retried WHERE j.id IN ({ids}) AND j.id = retried.job_id \
         AND j.lease_token = retried.token RETURNING id"
    )
}

/// Renews the leases whose (id, token) match. Binds: deadline, then id, token per lease.
fn extend_sql(jobs: &str, n: usize) -> String {
    let (pairs, ids) = numbered_rows(n, 2, 2);
    format!(
        "UPDATE {jobs} SET available_at = ?1, reserved_until = ?1 WHERE id IN ({ids}) \
         AND (id, lease_token) IN (VALUES {pairs}) RETURNING id, cancelled"
    )
}

impl Sqlite {
    /// Runs `sql(chunk length)` once per chunk of up to [`BATCH_ROWS`] items, with `head`
    /// then each item's values bound, and returns the rows by the id in their first column.
    async fn by_id<T>(
        &self,
        items: &[T],
        head: &[Arg<'_>],
        sql: impl Fn(usize) -> String,
        bind: impl for<'a> Fn(&'a T, &mut Vec<Arg<'a>>),
    ) -> Result<HashMap<String, Row>, OpError> {
        let mut found = HashMap::with_capacity(items.len());
        for chunk in items.chunks(BATCH_ROWS) {
            let mut args = head.to_vec();
            chunk.iter().for_each(|item| bind(item, &mut args));
            for row in self.conns.rows(&sql(chunk.len()).into(), &args).await? {
                found.insert(row.text(0)?, row);
            }
        }
        Ok(found)
    }
}

fn lease_args<'a>(lease: &'a Lease, args: &mut Vec<Arg<'a>>) {
    args.extend([Arg::Text(lease.id.as_str()), Arg::Int(lease.token as i64)]);
}

fn retry_args<'a>(r: &'a Retry<'_>, args: &mut Vec<Arg<'a>>) {
    lease_args(r.lease, args);
    args.extend([Arg::Int(r.available_at), Arg::Text(r.error)]);
}

#[async_trait::async_trait]
impl Dialect for Sqlite {
    fn pool(&self) -> &dyn Pool {
        &self.conns
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, OpError> {
        let taken = self.claim.claim(&self.conns, request).await?;
        self.backoff.record(taken.len());
        Ok(taken)
    }

    async fn extend(&self, leases: &[Lease], deadline: Millis) -> Result<Held, OpError> {
        let held = self
            .by_id(
                leases,
                &[Arg::Int(deadline)],
                |n| extend_sql(&self.jobs, n),
                lease_args,
            )
            .await?;
        held.into_iter()
            .map(|(id, row)| Ok((id, row.flag(1)?)))
            .collect()
    }

    async fn ack(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError> {
        let done = self
            .by_id(
                leases,
                &[],
                |n| ack_sql(&self.jobs, n),
                |l, args| lease_args(l, args),
            )
            .await?;
        Ok(leases
            .iter()
            .map(|l| done.contains_key(l.id.as_str()))
            .collect())
    }

    async fn retry(&self, retries: &[Retry<'_>]) -> Result<Vec<bool>, OpError> {
        let done = self
            .by_id(retries, &[], |n| retry_sql(&self.jobs, n), retry_args)
            .await?;
        Ok(retries
            .iter()
            .map(|r| done.contains_key(r.lease.id.as_str()))
            .collect())
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) {
        if !self
            .watch
            .wait(std::slice::from_ref(&self.folder), timeout)
            .await
        {
            self.backoff.wait(timeout).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{SqlDriver, SqlOptions, Synchronous};

    /// `Synchronous` sets the pragma on the driver's connections: FULL is 2, NORMAL 1.
    #[tokio::test]
    async fn the_synchronous_setting_reaches_the_connections() {
        for (sqlite_synchronous, pragma) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let dir = rakit_job_core::test_support::temp_dir("sqlite-sync");
            let url = format!("sqlite://{}/jobs.db", dir.display());
            let options = SqlOptions {
                sqlite_synchronous,
                ..SqlOptions::default()
            };
            let driver = SqlDriver::connect(&url, &options).await.unwrap();
            let rows = driver
                .db
                .pool()
                .rows(&"PRAGMA synchronous".into(), &[])
                .await
                .unwrap();
            assert_eq!(rows[0].int(0).unwrap(), pragma, "{sqlite_synchronous:?}");
        }
    }

    /// On a file filled with thousands of jobs in every state, each listing page and the
    /// next-queue probe search an index, without a sort or a scan of a table.
    #[tokio::test]
    async fn listings_search_an_index() {
        let dir = rakit_job_core::test_support::temp_dir("sqlite-plans");
        let url = format!("sqlite://{}/jobs.db", dir.display());
        let step = |row: &crate::db::Row| row.text(3).unwrap();
        crate::plans::check(&url, "EXPLAIN QUERY PLAN", step, &["TEMP B-TREE", "SCAN "]).await;
    }
}
