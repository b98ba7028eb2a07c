//! SQLite: one file shared by every worker process, in WAL mode.
//!
//! Writers take turns on the file, so a claim is one short `BEGIN IMMEDIATE` transaction
//! ([`PickThenLease`]): the write lock is taken first, then the due jobs are picked queue by
//! queue and leased in one `UPDATE`. A busy file makes a statement wait up to the busy
//! timeout, and an operation that still loses is rolled back and tried again, so
//! "database is locked" never costs a job. Leases, acks, retries and renewals of a batch
//! are one statement per 1,000 jobs, its items bound as one JSON array (`json_binds`),
//! that returns the ids it changed.

use crate::Synchronous;
use crate::claim::PickThenLease;
use crate::conns::{Conns, Writers};
use crate::db::{Affected, Arg, Pool, Row};
use crate::dialect::{Dialect, Held, Opened, Retry, Syntax};
use crate::errors::OpError;
use crate::json_binds::{json_rows, pair};
use crate::statements::{self, BATCH_ROWS, Takes};
use crate::tables::Tables;
use notify::event::{EventKind, ModifyKind};
use rakit_job_core::watch::FileWatch;
use rakit_job_core::{
    Backoff, Capabilities, DriverError, Lease, Millis, ReserveRequest, Reserved, UNSIGNALLED_POLL,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const SYNTAX: Syntax = Syntax {
    name: "sqlite",
    numbered: false,
    for_update: "",
    on_conflict: "ON CONFLICT ({key}) DO UPDATE SET",
    proposed: "excluded.{col}",
    migration_lock: None,
    skip_taken: Some(" ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING"),
    capabilities: Capabilities {
        wakes_across_processes: true,
        wakes_when_due: true,
        durable: true,
    },
    types: ["TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "BOOLEAN"],
    table_options: "",
    inline_indexes: false,
    counts_per_queue: false,
};

/// How long a statement waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Each connection's page cache, in KiB when negative: half a MiB instead of SQLite's two.
/// Workers read few pages (the claim index's head, the jobs they take), and pages not cached
/// are read from the operating system's cache; a burn-down is as fast with it, and the
/// worker's memory 1 MiB smaller (docs/performance.md).
const PAGE_CACHE: &str = "-512";

/// Connections per driver unless the url sets `pool_size`; SQLite runs one writer at a time anyway.
const POOL_SIZE: u32 = 4;

impl Affected for SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

struct Sqlite {
    conns: Conns<sqlx::Sqlite>,
    claim: PickThenLease,
    batches: Batches,
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
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", PAGE_CACHE);
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
    let batches = Batches::new(jobs);
    let db = Sqlite {
        watch: FileWatch::new("the SQLite database", move |e| writes_to(e, &files)),
        folder,
        conns,
        claim: PickThenLease::new(jobs, ["", ""], false, Some(batches.lease.clone())),
        batches,
        backoff: Backoff::default(),
    };
    Ok(Opened {
        db: Box::new(db),
        syntax: &SYNTAX,
        store,
        fresh,
        insert_one: statements::insert_one(jobs, &SYNTAX),
        takes: Takes::on_conflict(tables, &SYNTAX),
        insert_arrays: None,
    })
}

/// The `UPDATE … FROM` and `IN (SELECT …)` forms below read their items from one JSON
/// array bound as a single value, so one prepared statement serves every batch size, and
/// `json_each` drives the loop: SQLite looks each job up by its primary key
/// (`batch_writes_search_the_primary_key`).
struct Batches {
    /// Deletes the jobs whose `[id, token]` match. Binds: the pairs.
    ack: Arc<str>,
    /// Retries the jobs whose `[id, token, available_at, error]` match. Binds: the items.
    retry: Arc<str>,
    /// Renews the leases whose `[id, token]` match. Binds: deadline, the pairs.
    extend: Arc<str>,
    /// Leases picked jobs, each `[id, token]` its own token. Binds: deadline, worker, the
    /// pairs.
    lease: Arc<str>,
}

impl Batches {
    fn new(jobs: &str) -> Self {
        let pairs = |at| {
            format!("(id, lease_token) IN (SELECT value->>0, value->>1 FROM json_each(?{at}))")
        };
        Batches {
            ack: format!("DELETE FROM {jobs} WHERE {} RETURNING id", pairs(1)).into(),
            retry: format!(
                "UPDATE {jobs} AS j SET available_at = r.value->>2, reserved_until = NULL, \
                 lease_token = NULL, last_error = r.value->>3 FROM json_each(?1) AS r \
                 WHERE j.id = r.value->>0 AND j.lease_token = r.value->>1 RETURNING id"
            )
            .into(),
            extend: format!(
                "UPDATE {jobs} SET available_at = ?1, reserved_until = ?1 WHERE {} \
                 RETURNING id, cancelled",
                pairs(2)
            )
            .into(),
            lease: format!(
                "UPDATE {jobs} AS j SET attempts = attempts + 1, available_at = ?1, \
                 reserved_until = ?1, worker = ?2, lease_token = l.value->>1 \
                 FROM json_each(?3) AS l WHERE j.id = l.value->>0"
            )
            .into(),
        }
    }
}

impl Sqlite {
    /// Runs `sql` once per chunk of up to [`BATCH_ROWS`] items, with `head` then the chunk
    /// as one JSON array of `row(each)` bound, and returns the rows by the id in their
    /// first column.
    async fn by_id<'a, T, const N: usize>(
        &self,
        sql: &Arc<str>,
        items: &'a [T],
        head: &[Arg<'_>],
        row: impl Fn(&'a T) -> [Arg<'a>; N] + Copy,
    ) -> Result<HashMap<String, Row>, OpError> {
        let mut found = HashMap::with_capacity(items.len());
        for chunk in items.chunks(BATCH_ROWS) {
            let json = json_rows(chunk, row);
            let mut args = head.to_vec();
            args.push(Arg::Text(&json));
            for row in self.conns.rows(sql, &args).await? {
                found.insert(row.text(0)?, row);
            }
        }
        Ok(found)
    }
}

/// A retry as `[id, token, available_at, error]`.
fn retry_row<'a>(retry: &'a Retry<'_>) -> [Arg<'a>; 4] {
    let [id, token] = pair(retry.lease);
    [
        id,
        token,
        Arg::Int(retry.available_at),
        Arg::Text(retry.error),
    ]
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
            .by_id(&self.batches.extend, leases, &[Arg::Int(deadline)], pair)
            .await?;
        held.into_iter()
            .map(|(id, row)| Ok((id, row.flag(1)?)))
            .collect()
    }

    async fn ack(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError> {
        let done = self
            .by_id(&self.batches.ack, leases, &[], |l| pair(l))
            .await?;
        Ok(leases
            .iter()
            .map(|l| done.contains_key(l.id.as_str()))
            .collect())
    }

    async fn retry(&self, retries: &[Retry<'_>]) -> Result<Vec<bool>, OpError> {
        let done = self
            .by_id(&self.batches.retry, retries, &[], retry_row)
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
            self.backoff.wait(timeout.min(UNSIGNALLED_POLL)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::db::Arg;
    use crate::{SqlDriver, SqlOptions, Synchronous};

    /// The url of a new database file in a folder of its own.
    fn fresh_url(name: &str) -> String {
        let dir = rakit_job_core::test_support::temp_dir(name);
        format!("sqlite://{}/jobs.db", dir.display())
    }

    /// A driver with default options on a new database file.
    async fn fresh_driver(name: &str) -> SqlDriver {
        SqlDriver::connect(&fresh_url(name), &SqlOptions::default())
            .await
            .unwrap()
    }

    /// `Synchronous` sets the pragma on the driver's connections: FULL is 2, NORMAL 1.
    #[tokio::test]
    async fn the_synchronous_setting_reaches_the_connections() {
        for (sqlite_synchronous, pragma) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let url = fresh_url("sqlite-sync");
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

    /// Each connection caches half a MiB of pages, not SQLite's default of two.
    #[tokio::test]
    async fn each_connection_caches_half_a_mib_of_pages() {
        let driver = fresh_driver("sqlite-cache").await;
        let sql = "PRAGMA cache_size".into();
        let rows = driver.db.pool().rows(&sql, &[]).await.unwrap();
        assert_eq!(rows[0].int(0).unwrap(), -512);
    }

    /// On a file filled with thousands of jobs in every state, each listing page and the
    /// next-queue probe search an index, without a sort or a scan of a table.
    #[tokio::test]
    async fn listings_search_an_index() {
        let url = fresh_url("sqlite-plans");
        let step = |row: &crate::db::Row| row.text(3).unwrap();
        crate::plans::check(&url, "EXPLAIN QUERY PLAN", step, &["TEMP B-TREE", "SCAN "]).await;
    }

    /// Each batch write loops over its JSON items and finds each job by its primary key:
    /// none scans the jobs table, whatever the batch's size.
    #[tokio::test]
    async fn batch_writes_search_the_primary_key() {
        let url = fresh_url("sqlite-batch-plans");
        let driver = crate::plans::filled(&url).await;
        let batches = super::Batches::new(&driver.tables.jobs);
        let json = r#"[["a",1,2,"no"],["b",3,4,"no"]]"#;
        let statements = [
            ("ack", &batches.ack, vec![Arg::Text(json)]),
            ("retry", &batches.retry, vec![Arg::Text(json)]),
            (
                "extend",
                &batches.extend,
                vec![Arg::Int(1), Arg::Text(json)],
            ),
            (
                "lease",
                &batches.lease,
                vec![Arg::Int(1), Arg::Text("w"), Arg::Text(json)],
            ),
        ];
        for (what, sql, args) in statements {
            let explain = format!("EXPLAIN QUERY PLAN {sql}").into();
            let rows = driver.db.pool().rows(&explain, &args).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|row| row.text(3).unwrap()).collect();
            let scans_a_table = plan
                .iter()
                .any(|step| step.contains("SCAN") && !step.contains("VIRTUAL TABLE"));
            let by_key = plan.iter().any(|step| step.contains("(id=?)"));
            assert!(by_key && !scans_a_table, "{what}: {}", plan.join("\n"));
        }
        crate::plans::drop(driver).await;
    }

    /// Texts of every kind reach SQLite's `json_each` as they were written.
    #[tokio::test]
    async fn json_binds_reach_sqlite_unchanged() {
        let driver = fresh_driver("sqlite-json-binds").await;
        let texts = [
            "plain",
            "a \"quote\"",
            "back\\slash",
            "line\nbreak\ttab\u{1}",
            "ünï 😀",
            "",
        ];
        let items: Vec<(&str, i64)> = texts
            .iter()
            .zip([-1, 0, 1, i64::MAX, i64::MIN, 7])
            .map(|(t, n)| (*t, n))
            .collect();
        let json =
            crate::json_binds::json_rows(&items, |(text, n)| [Arg::Text(text), Arg::Int(*n)]);
        let sql = "SELECT value->>0, value->>1 FROM json_each(?1) ORDER BY key".into();
        let rows = driver
            .db
            .pool()
            .rows(&sql, &[Arg::Text(&json)])
            .await
            .unwrap();
        let read: Vec<(String, i64)> = rows
            .iter()
            .map(|row| (row.text(0).unwrap(), row.int(1).unwrap()))
            .collect();
        let written: Vec<(String, i64)> = items.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(read, written, "{json}");
    }
}
