//! The SQL store of rakit-job: SQLite, PostgreSQL and MySQL/MariaDB behind one
//! [`SqlDriver`], its dialect chosen by the url's scheme.
//!
//! This crate is an internal part of rakit-job: applications depend on `rakit-job` with
//! its `sqlite`, `postgres` or `mysql` feature, which turn on the same features here.
//!
//! The store is written once; a dialect holds only what differs (its schema, claim,
//! batch writes, locks, wake-ups and placeholders):
//!
//! | dialect | claim | wake-up |
//! |---|---|---|
//! | SQLite (WAL) | one `BEGIN IMMEDIATE` transaction | a watch on the database's folder; polling where it cannot watch |
//! | PostgreSQL | one `UPDATE … FOR UPDATE SKIP LOCKED … RETURNING` statement | `LISTEN`/`NOTIFY` |
//! | MySQL 8, MariaDB 10.6+ | a short `SELECT … FOR UPDATE SKIP LOCKED` + `UPDATE` transaction | polling that backs off while idle |
//!
#![cfg_attr(feature = "sqlite", doc = "```")]
#![cfg_attr(not(feature = "sqlite"), doc = "```ignore")]
//! use rakit_job_core::{NewJob, ReserveRequest, Store, StoreExt};
//! use rakit_job_sql::{SqlDriver, SqlOptions};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("rakit-doc-{}", rakit_job_core::JobId::generate()));
//! let url = format!("sqlite://{}/jobs.db", dir.display());
//! let driver = SqlDriver::connect(&url, &SqlOptions::default()).await?;
//! driver.push_one(NewJob::now("send-email", "default", "{}")).await?;
//! let queues = vec!["default".to_string()];
//! let taken = driver.reserve(&ReserveRequest::new(&queues, 10, 30_000, "worker-1")).await?;
//! assert_eq!(taken.len(), 1);
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
//! ```

// A build without any dialect only reports, at connect, which feature to enable.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports, unused_variables)
)]

mod admin;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod claim;
mod conns;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod cursor;
mod db;
mod dialect;
mod errors;
mod gate;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod json_binds;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(test)]
mod plans;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod schema;
#[cfg(feature = "postgres")]
mod signals;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod store;
mod tables;
mod tx;
mod warm;

/// The sqlx this crate is built on, so applications use the very same version for
/// [`SqlDriver::push_in`] transactions.
pub use sqlx;
pub use tx::TransactionDatabase;

use db::{Arg, Row};
use dialect::{Dialect, Opened};
use errors::{OpError, retrying};
use rakit_job_core::{DriverError, now_ms, redact_url};
use statements::{Sql, Statements};
use std::future::Future;
use std::sync::Arc;
use tables::Tables;

/// A job store in an SQL database: SQLite, PostgreSQL or MySQL/MariaDB.
///
/// Every worker process opens its own `SqlDriver` on the same database; the claim is
/// atomic in each dialect, so no job is handed to two workers. It implements the whole
/// store contract ([`Store`](rakit_job_core::Store) and [`Admin`](rakit_job_core::Admin)),
/// and the migrations that create its tables.
pub struct SqlDriver {
    db: Box<dyn Dialect>,
    syntax: &'static dialect::Syntax,
    sql: Statements,
    tables: Tables,
    store: String,
}

/// How hard SQLite works to keep a commit through a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// A commit survives a crash of the process, but the last ones may be lost on a power
    /// cut or an operating-system crash; the file itself stays sound. Fast: in WAL mode
    /// the file is synced only at checkpoints.
    #[default]
    Normal,
    /// A commit survives a power cut too, at the cost of one sync of the file per commit.
    Full,
}

/// Where an [`SqlDriver`] keeps its jobs, and how.
///
/// ```
/// let options = rakit_job_sql::SqlOptions::default();
/// assert_eq!((options.table.as_str(), options.failed_table.as_str()), ("rakit_jobs", "rakit_failed_jobs"));
/// assert_eq!(options.sqlite_synchronous, rakit_job_sql::Synchronous::Normal);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlOptions {
    /// The jobs table; the locks, unique-window, entries and throughput tables are named
    /// after it (`<table>_locks`, …).
    pub table: String,
    /// The table of failed and cancelled jobs.
    pub failed_table: String,
    /// SQLite only: how durable a commit is.
    pub sqlite_synchronous: Synchronous,
}

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            table: "rakit_jobs".into(),
            failed_table: "rakit_failed_jobs".into(),
            sqlite_synchronous: Synchronous::Normal,
        }
    }
}

impl SqlDriver {
    /// Connects to the database at `url`.
    ///
    /// The scheme picks the dialect: `sqlite://path` (or `sqlite:path`), `postgres://` or
    /// `postgresql://`, `mysql://` or `mariadb://`. A SQLite file that does not exist yet
    /// is created with its tables; every other database needs `job:table` and `migrate`
    /// (or [`SqlDriver::install`]). Table names must be plain identifiers.
    ///
    /// A `pool_size=N` query parameter sets how many connections the driver keeps
    /// (default 4 for SQLite, 10 otherwise); every other parameter goes to the database
    /// client, e.g. `postgres://app@db/app?pool_size=20&application_name=worker`.
    ///
    #[cfg_attr(feature = "sqlite", doc = "```")]
    #[cfg_attr(not(feature = "sqlite"), doc = "```ignore")]
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rakit_job_core::Store;
    /// use rakit_job_sql::{SqlDriver, SqlOptions};
    /// let dir = std::env::temp_dir().join(format!("rakit-doc-{}", rakit_job_core::JobId::generate()));
    /// let url = format!("sqlite://{}/jobs.db", dir.display());
    /// let driver = SqlDriver::connect(&url, &SqlOptions::default()).await?;
    /// assert!(driver.describe().starts_with("sqlite "));
    /// driver.check().await?;
    ///
    /// let bad = SqlOptions { table: "jobs; DROP TABLE x".into(), ..SqlOptions::default() };
    /// assert!(SqlDriver::connect(&url, &bad).await.is_err());
    /// # std::fs::remove_dir_all(dir).ok();
    /// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
    /// ```
    pub async fn connect(url: &str, options: &SqlOptions) -> Result<SqlDriver, DriverError> {
        let tables = Tables::new(&options.table, &options.failed_table)?;
        let (url, pool_size) = take_pool_size(url)?;
        let url = url.as_str();
        let scheme = url.split(':').next().unwrap_or_default();
        let opened: Result<Opened, DriverError> = match scheme.to_ascii_lowercase().as_str() {
            #[cfg(feature = "sqlite")]
            "sqlite" => sqlite::open(url, &tables, options.sqlite_synchronous, pool_size).await,
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => postgres::open(url, &tables, pool_size).await,
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => mysql::open(url, &tables, pool_size).await,
            #[allow(unreachable_patterns)]
            "sqlite" => Err(not_compiled(url, "SQLite", "sqlite")),
            #[allow(unreachable_patterns)]
            "postgres" | "postgresql" => Err(not_compiled(url, "PostgreSQL", "postgres")),
            #[allow(unreachable_patterns)]
            "mysql" | "mariadb" => Err(not_compiled(url, "MySQL", "mysql")),
            _ => Err(DriverError::Invalid(format!(
                "the database url {:?} is not understood; use one starting with sqlite://, postgres:// or mysql://",
                redact_url(url)
            ))),
        };
        let opened = opened?;
        let driver = SqlDriver {
            sql: Statements::new(
                &tables,
                opened.syntax,
                opened.insert_one,
                opened.takes,
                opened.insert_arrays,
            ),
            db: opened.db,
            syntax: opened.syntax,
            tables,
            store: opened.store,
        };
        if opened.fresh {
            tracing::debug!(store = %driver.store, "a new database file: creating the job tables");
            driver.install().await?;
        }
        Ok(driver)
    }

    /// The dialect of the database: `"sqlite"`, `"postgres"` or `"mysql"`.
    ///
    /// ```no_run
    /// # async fn demo(driver: rakit_job_sql::SqlDriver) -> Result<(), rakit_job_core::DriverError> {
    /// assert_eq!(driver.dialect(), "postgres");
    /// # Ok(()) }
    /// ```
    pub fn dialect(&self) -> &'static str {
        self.syntax.name
    }

    /// The DDL creating this store's tables and indexes in its dialect, as `job:table`
    /// writes it to a migration. Its first line names the dialect
    /// (`-- rakit-job schema for postgres`), and every statement uses `IF NOT EXISTS`.
    ///
    /// ```no_run
    /// # async fn demo(driver: rakit_job_sql::SqlDriver) -> Result<(), rakit_job_core::DriverError> {
    /// let ddl = driver.schema();
    /// assert!(ddl.starts_with("-- rakit-job schema for "));
    /// # Ok(()) }
    /// ```
    pub fn schema(&self) -> String {
        statements::ddl(&self.tables, self.syntax)
    }

    /// Creates the tables and indexes that are missing.
    ///
    /// `job:table` plus `migrate` is the managed way to do this; `install` suits tests
    /// and embedded set-ups. Running it again changes nothing.
    ///
    /// ```no_run
    /// # async fn demo(driver: rakit_job_sql::SqlDriver) -> Result<(), rakit_job_core::DriverError> {
    /// driver.install().await?;
    /// # Ok(()) }
    /// ```
    pub async fn install(&self) -> Result<(), DriverError> {
        let statements = schema::split_statements(&self.schema());
        self.op(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = run_all(&mut *tx, &statements).await;
            store::settle(tx, done).await
        })
        .await
    }

    /// The names of the migrations applied to this database, sorted.
    ///
    /// ```no_run
    /// # async fn demo(driver: rakit_job_sql::SqlDriver) -> Result<(), rakit_job_core::DriverError> {
    /// let applied: Vec<String> = driver.applied_migrations().await?;
    /// # Ok(()) }
    /// ```
    pub async fn applied_migrations(&self) -> Result<Vec<String>, DriverError> {
        self.op(|| async {
            let pool = self.db.pool();
            pool.run(&self.sql[Sql::CreateMigrations], &[]).await?;
            let rows = pool.rows(&self.sql[Sql::Migrations], &[]).await?;
            rows.iter().map(|r| r.text(0)).collect()
        })
        .await
    }

    /// Runs the migration `name` unless it was applied, and records it.
    ///
    /// A script with a line naming another dialect (as the first line of the DDL of
    /// [`SqlDriver::schema`] does: `-- rakit-job schema for sqlite` on PostgreSQL) is
    /// refused before anything runs. On SQLite and PostgreSQL the
    /// migration is one transaction; MySQL commits each DDL statement on its own, so a
    /// migration failing halfway keeps its first statements there.
    ///
    /// ```no_run
    /// # async fn demo(driver: rakit_job_sql::SqlDriver) -> Result<(), rakit_job_core::DriverError> {
    /// driver.apply_migration("2024_01_01_000000_create_job_tables", &driver.schema()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn apply_migration(&self, name: &str, sql: &str) -> Result<(), DriverError> {
        schema::refuse_other_dialect(name, sql, self.dialect())?;
        let statements = schema::split_statements(sql);
        let applied = retrying(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = self.migrate_in(&mut *tx, name, &statements).await;
            store::settle(tx, done).await
        })
        .await;
        applied.map_err(|e| match e {
            OpError::Sql(e) if errors::classify(&e) != errors::Fault::Unreachable => {
                DriverError::Store(format!(
                    "the migration {name} failed: {}; fix it and run `migrate` again",
                    errors::reason(&e)
                ))
            }
            e => e.into_driver(&self.store),
        })
    }

    async fn migrate_in(
        &self,
        tx: &mut dyn db::Tx,
        name: &str,
        statements: &[String],
    ) -> Result<(), OpError> {
        tx.run(&self.sql[Sql::CreateMigrations], &[]).await?;
        if let Some(lock) = self.syntax.migration_lock {
            tx.run(&lock.into(), &[]).await?;
        }
        let done = tx
            .rows(&self.sql[Sql::MigrationDone], &[Arg::Text(name)])
            .await?;
        if !done.is_empty() {
            return Ok(());
        }
        run_all(tx, statements).await?;
        let args = [Arg::Text(name), Arg::Int(now_ms())];
        tx.run(&self.sql[Sql::RecordMigration], &args).await?;
        Ok(())
    }

    /// Runs one statement on a pooled connection; how many rows it changed.
    pub(crate) async fn run(&self, sql: &Arc<str>, args: &[Arg<'_>]) -> Result<u64, DriverError> {
        self.op(|| async { Ok(self.db.pool().run(sql, args).await?) })
            .await
    }

    /// Runs one statement on a pooled connection; its rows.
    pub(crate) async fn rows(
        &self,
        sql: &Arc<str>,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, DriverError> {
        self.op(|| async { Ok(self.db.pool().rows(sql, args).await?) })
            .await
    }

    /// Runs one operation: again while it loses a lock race (then nothing was written),
    /// and with its failure worded for the user.
    pub(crate) async fn op<T, F, Fut>(&self, op: F) -> Result<T, DriverError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OpError>>,
    {
        match retrying(op).await {
            Ok(done) => Ok(done),
            Err(OpError::Sql(sqlx::Error::PoolTimedOut)) => {
                let cause = self.db.pool().probe().await;
                let e = OpError::Sql(cause.unwrap_or(sqlx::Error::PoolTimedOut));
                Err(e.into_driver(&self.store))
            }
            Err(e) => Err(e.into_driver(&self.store)),
        }
    }
}

/// Runs `statements` one after the other in `tx`.
async fn run_all(tx: &mut dyn db::Tx, statements: &[String]) -> Result<(), OpError> {
    for statement in statements {
        tx.run(&statement.as_str().into(), &[]).await?;
    }
    Ok(())
}

/// The error for a url whose dialect this build leaves out.
fn not_compiled(url: &str, database: &str, feature: &str) -> DriverError {
    DriverError::Invalid(format!(
        "the url {:?} needs {database} support, which this build leaves out; enable the `{feature}` cargo feature of rakit-job",
        redact_url(url)
    ))
}

/// Takes this crate's own `pool_size=N` query parameter out of `url`, leaving the rest
/// for the database client.
fn take_pool_size(url: &str) -> Result<(String, Option<u32>), DriverError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), None));
    };
    let mut pool_size = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_size", value)) => match value.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => pool_size = Some(n),
                _ => {
                    return Err(DriverError::Invalid(format!(
                        "`pool_size={value}` in the database url is invalid; use a number from 1 to 1000"
                    )));
                }
            },
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, pool_size))
}

#[cfg(all(test, not(feature = "mysql")))]
mod tests {
    /// A build without a dialect says which feature brings it.
    #[tokio::test]
    async fn a_dialect_left_out_names_its_feature() {
        let url = "mysql://app@127.0.0.1/app";
        let err = super::SqlDriver::connect(url, &Default::default())
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("enable the `mysql` cargo feature"),
            "{err}"
        );
    }
}
