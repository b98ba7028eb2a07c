//! The SQL store of rakit-job: SQLite, PostgreSQL and MySQL/MariaDB behind one
//! [`SqlDriver`], chosen by the url's scheme.
//!
//! This crate is an internal part of rakit-job: applications depend on `rakit-job` with
//! its `sqlite`, `postgres` or `mysql` feature, which turn on the same features here.
//!
//! | dialect | claim | wake-up |
//! |---|---|---|
//! | SQLite (WAL) | one `BEGIN IMMEDIATE` transaction | polling that backs off while idle |
//! | PostgreSQL | one `UPDATE … FOR UPDATE SKIP LOCKED … RETURNING` statement | `LISTEN`/`NOTIFY` |
//! | MySQL 8, MariaDB 10.6+ | a short `SELECT … FOR UPDATE SKIP LOCKED` + `UPDATE` transaction | polling that backs off while idle |
//!
//! ```
//! use rakit_job_core::{Driver, NewJob, ReserveRequest};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("rakit-doc-{}", rakit_job_core::JobId::generate()));
//! let url = format!("sqlite://{}/jobs.db", dir.display());
//! let driver = rakit_job_sql::SqlDriver::connect(&url, "rakit_jobs", "rakit_failed_jobs").await?;
//! driver.push(NewJob::now("send-email", "default", "{}")).await?;
//! let queues = vec!["default".to_string()];
//! let taken = driver.reserve(&ReserveRequest::new(&queues, 10, 30_000)).await?;
//! assert_eq!(taken.len(), 1);
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
//! ```

// A build without any dialect only reports, at connect, which feature to enable.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports, unused_variables)
)]

#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod backoff;
#[cfg(feature = "sqlite")]
mod batches;
mod claim;
mod errors;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod schema;
#[cfg(feature = "postgres")]
mod signals;
#[cfg(feature = "sqlite")]
mod sqlite;
mod statements;
mod tables;
mod tx;

/// The sqlx this crate is built on, so applications use the very same version for
/// [`SqlDriver::push_in`] transactions.
pub use sqlx;
pub use tx::TransactionDatabase;

use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Retry, redact_url,
};
use std::time::Duration;
use tables::Tables;

/// A job store in an SQL database: SQLite, PostgreSQL or MySQL/MariaDB.
///
/// Every worker process opens its own `SqlDriver` on the same database; the claim is
/// atomic in each dialect, so no job is handed to two workers.
pub struct SqlDriver {
    backend: Backend,
}

enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgStore),
    #[cfg(feature = "mysql")]
    MySql(mysql::MySqlStore),
    /// Keeps the enum inhabited-in-name when no dialect is compiled in.
    #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
    #[allow(dead_code)]
    Nothing(std::convert::Infallible),
}

/// Runs `$body` with `$s` bound to whichever dialect's store `$self` holds.
macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match &$self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            Backend::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            Backend::MySql($s) => $body,
            #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
            Backend::Nothing(never) => match *never {},
        }
    };
}

impl SqlDriver {
    /// Connects to the database at `url` and uses the tables `table` and `failed_table`.
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
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rakit_job_core::Driver;
    /// let dir = std::env::temp_dir().join(format!("rakit-doc-{}", rakit_job_core::JobId::generate()));
    /// let url = format!("sqlite://{}/jobs.db", dir.display());
    /// let driver = rakit_job_sql::SqlDriver::connect(&url, "rakit_jobs", "rakit_failed_jobs").await?;
    /// assert!(driver.describe().starts_with("sqlite "));
    /// driver.check().await?;
    ///
    /// let refused = rakit_job_sql::SqlDriver::connect(&url, "jobs; DROP TABLE x", "failed").await;
    /// assert!(refused.is_err());
    /// # std::fs::remove_dir_all(dir).ok();
    /// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
    /// ```
    pub async fn connect(
        url: &str,
        table: &str,
        failed_table: &str,
    ) -> Result<SqlDriver, DriverError> {
        let tables = Tables::new(table, failed_table)?;
        let (url, pool_size) = take_pool_size(url)?;
        let url = url.as_str();
        let scheme = url
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let backend = match scheme.as_str() {
            "sqlite" => open_sqlite(url, tables, pool_size).await?,
            "postgres" | "postgresql" => open_postgres(url, tables, pool_size).await?,
            "mysql" | "mariadb" => open_mysql(url, tables, pool_size).await?,
            _ => {
                return Err(DriverError::Invalid(format!(
                    "the database url {:?} is not understood; use one starting with sqlite://, postgres:// or mysql://",
                    redact_url(url)
                )));
            }
        };
        Ok(SqlDriver { backend })
    }

    /// Creates the jobs, failed-jobs and locks tables and their indexes where missing.
    ///
    /// `job:table` plus `migrate` is the managed way to do this; `install` suits tests
    /// and embedded set-ups. Running it again changes nothing.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # let dir = std::env::temp_dir().join(format!("rakit-doc-{}", rakit_job_core::JobId::generate()));
    /// # let url = format!("sqlite://{}/jobs.db", dir.display());
    /// let driver = rakit_job_sql::SqlDriver::connect(&url, "jobs", "failed_jobs").await?;
    /// driver.install().await?;
    /// # std::fs::remove_dir_all(dir).ok();
    /// # Ok::<(), rakit_job_core::DriverError>(()) }).unwrap();
    /// ```
    pub async fn install(&self) -> Result<(), DriverError> {
        each!(self, s => s.install().await)
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(
    url: &str,
    tables: Tables,
    pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Ok(Backend::Sqlite(
        sqlite::SqliteStore::open(url, tables, pool_size).await?,
    ))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(
    url: &str,
    _tables: Tables,
    _pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Err(not_compiled(url, "SQLite", "sqlite"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    tables: Tables,
    pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Ok(Backend::Postgres(
        postgres::PgStore::open(url, tables, pool_size).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    url: &str,
    _tables: Tables,
    _pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Err(not_compiled(url, "PostgreSQL", "postgres"))
}

#[cfg(feature = "mysql")]
async fn open_mysql(
    url: &str,
    tables: Tables,
    pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Ok(Backend::MySql(
        mysql::MySqlStore::open(url, tables, pool_size).await?,
    ))
}

#[cfg(not(feature = "mysql"))]
async fn open_mysql(
    url: &str,
    _tables: Tables,
    _pool_size: Option<u32>,
) -> Result<Backend, DriverError> {
    Err(not_compiled(url, "MySQL", "mysql"))
}

#[allow(dead_code)]
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

/// Refuses a job no table can hold: a bad queue name or an oversized payload.
pub(crate) fn check_new_job(job: &NewJob) -> Result<(), DriverError> {
    job.check()
}

/// Binds a job's eight insert values (`statements::insert_many`'s order) onto `query`.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) fn bind_new_job<DB: sqlx::Database>(
    query: sqlx::query::Query<'static, DB, DB::Arguments>,
    job: &NewJob,
) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    for<'a> &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: for<'a> sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query
        .bind(job.id.as_str())
        .bind(job.name.as_str())
        .bind(job.queue.as_str())
        .bind(job.payload.as_str())
        .bind(job.available_at)
        .bind(job.created_at)
        .bind(job.overlap_key.as_deref())
        .bind(job.unique_key.as_deref())
}

/// Each job's outcome in a batch, given the ids the store reports it stored.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn push_outcomes(
    jobs: &[NewJob],
    stored: &std::collections::HashSet<String>,
) -> Vec<PushOutcome> {
    jobs.iter()
        .map(|job| match stored.contains(job.id.as_str()) {
            true => PushOutcome::Stored,
            false => PushOutcome::Duplicate,
        })
        .collect()
}

#[async_trait::async_trait]
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_variables)
)]
impl Driver for SqlDriver {
    fn describe(&self) -> String {
        each!(self, s => s.describe())
    }

    fn capabilities(&self) -> Capabilities {
        each!(self, s => s.capabilities())
    }

    async fn check(&self) -> Result<(), DriverError> {
        each!(self, s => s.check().await)
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        each!(self, s => s.push(job).await)
    }

    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        each!(self, s => s.push_many(jobs).await)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        each!(self, s => s.reserve(request).await)
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        each!(self, s => s.extend(lease, lease_ms).await)
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        each!(self, s => s.ack(lease).await)
    }

    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        each!(self, s => s.ack_many(leases).await)
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        each!(self, s => s.retry(lease, available_at, error).await)
    }

    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        each!(self, s => s.retry_many(retries).await)
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        each!(self, s => s.release(lease, available_at).await)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        each!(self, s => s.fail(lease, error).await)
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        each!(self, s => s.lock(key, owner, ttl_ms).await)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        each!(self, s => s.unlock(key, owner).await)
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        each!(self, s => s.queues().await)
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        each!(self, s => s.stats().await)
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        each!(self, s => s.failed(limit).await)
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        each!(self, s => s.retry_failed(id).await)
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        each!(self, s => s.forget_failed(id).await)
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        each!(self, s => s.flush_failed().await)
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        each!(self, s => s.wait(queues, timeout).await)
    }

    fn schema(&self) -> Option<String> {
        each!(self, s => s.schema())
    }

    async fn applied_migrations(&self) -> Result<Vec<String>, DriverError> {
        each!(self, s => s.applied_migrations().await)
    }

    async fn apply_migration(&self, name: &str, sql: &str) -> Result<(), DriverError> {
        each!(self, s => s.apply_migration(name, sql).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_taken_out_of_the_url() {
        assert_eq!(
            take_pool_size("postgres://h/db").unwrap(),
            ("postgres://h/db".into(), None)
        );
        assert_eq!(
            take_pool_size("postgres://h/db?pool_size=20&application_name=w").unwrap(),
            ("postgres://h/db?application_name=w".into(), Some(20))
        );
        assert_eq!(
            take_pool_size("sqlite://a.db?pool_size=2").unwrap(),
            ("sqlite://a.db".into(), Some(2))
        );
        assert!(take_pool_size("mysql://h/db?pool_size=0").is_err());
        assert!(take_pool_size("mysql://h/db?pool_size=x").is_err());
    }
}
