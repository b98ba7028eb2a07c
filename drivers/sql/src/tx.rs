//! Transactional dispatch: storing a job inside the application's own transaction.

#[allow(unused_imports)]
use crate::Backend;
use crate::SqlDriver;
use rakit_job_core::{DriverError, NewJob, PushOutcome};
use std::future::Future;
use std::pin::Pin;

mod sealed {
    pub trait Sealed {}
}

/// What [`TransactionDatabase::push_on`] returns.
pub type PushFuture<'a> =
    Pin<Box<dyn Future<Output = Result<PushOutcome, DriverError>> + Send + 'a>>;

/// A database whose transactions can hold a job: `sqlx::Postgres` (feature `postgres`)
/// and `sqlx::MySql` (feature `mysql`).
///
/// ```
/// fn accepts<DB: rakit_job_sql::TransactionDatabase>() {}
/// ```
pub trait TransactionDatabase: sqlx::Database + sealed::Sealed {
    /// Stores `job` through `conn`, which is inside the caller's transaction.
    #[doc(hidden)]
    fn push_on<'a>(
        driver: &'a SqlDriver,
        conn: &'a mut Self::Connection,
        job: NewJob,
    ) -> PushFuture<'a>;
}

#[allow(dead_code)]
fn wrong_database(driver: &SqlDriver, database: &str) -> DriverError {
    use rakit_job_core::Driver;
    DriverError::Invalid(format!(
        "the job store {} is not a {database} database, so a {database} transaction cannot hold its jobs; dispatch without a transaction",
        driver.describe()
    ))
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::Postgres {}

#[cfg(feature = "postgres")]
impl TransactionDatabase for sqlx::Postgres {
    fn push_on<'a>(
        driver: &'a SqlDriver,
        conn: &'a mut sqlx::PgConnection,
        job: NewJob,
    ) -> PushFuture<'a> {
        Box::pin(async move {
            match &driver.backend {
                Backend::Postgres(pg) => pg.push_on(conn, job).await,
                #[allow(unreachable_patterns)]
                _ => Err(wrong_database(driver, "PostgreSQL")),
            }
        })
    }
}

#[cfg(feature = "mysql")]
impl sealed::Sealed for sqlx::MySql {}

#[cfg(feature = "mysql")]
impl TransactionDatabase for sqlx::MySql {
    fn push_on<'a>(
        driver: &'a SqlDriver,
        conn: &'a mut sqlx::MySqlConnection,
        job: NewJob,
    ) -> PushFuture<'a> {
        Box::pin(async move {
            match &driver.backend {
                Backend::MySql(my) => my.push_on(conn, job).await,
                #[allow(unreachable_patterns)]
                _ => Err(wrong_database(driver, "MySQL")),
            }
        })
    }
}

impl SqlDriver {
    /// Stores `job` inside the application's transaction `tx`: the job becomes visible to
    /// workers only if `tx` commits, and vanishes if it rolls back.
    ///
    /// `tx` must be on the same database as the driver (PostgreSQL or MySQL/MariaDB).
    /// Workers on PostgreSQL are woken when the transaction commits.
    ///
    #[cfg_attr(feature = "postgres", doc = "```no_run")]
    #[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use rakit_job_sql::{SqlDriver, sqlx};
    /// let url = "postgres://app@127.0.0.1/app";
    /// let driver = SqlDriver::connect(url, "rakit_jobs", "rakit_failed_jobs").await?;
    /// let pool = sqlx::PgPool::connect(url).await?;
    ///
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO users (email) VALUES ('a@b.c')").execute(&mut *tx).await?;
    /// let job = rakit_job_core::NewJob::now("send-welcome", "default", r#"{"email":"a@b.c"}"#);
    /// driver.push_in(&mut tx, job).await?;
    /// tx.commit().await?; // the user and the job appear together, or neither does
    /// # Ok(()) }
    /// ```
    pub async fn push_in<DB: TransactionDatabase>(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        job: NewJob,
    ) -> Result<PushOutcome, DriverError> {
        crate::check_new_job(&job)?;
        DB::push_on(self, &mut **tx, job).await
    }
}
