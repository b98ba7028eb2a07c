//! Transactional dispatch: storing a job inside the application's own transaction.

use crate::SqlDriver;
#[allow(unused_imports)]
use crate::db::{Exec, Lent};
use rakit_job_core::{DriverError, NewJob, PushOutcome, Store};
use std::future::Future;
use std::pin::Pin;

/// What [`sealed::Sealed::push_on`] returns.
type Pushed<'a> = Pin<Box<dyn Future<Output = Result<PushOutcome, DriverError>> + Send + 'a>>;

mod sealed {
    /// Stores a job through a connection of the application's transaction.
    pub trait Sealed: sqlx::Database {
        /// The dialect [`SqlDriver::dialect`](crate::SqlDriver::dialect) names.
        const DIALECT: &'static str;
        fn push_on<'a>(
            driver: &'a crate::SqlDriver,
            conn: &'a mut Self::Connection,
            job: rakit_job_core::NewJob,
        ) -> super::Pushed<'a>;
    }
}

/// A database whose transactions can hold a job: `sqlx::Postgres` (feature `postgres`)
/// and `sqlx::MySql` (feature `mysql`).
///
/// ```
/// fn accepts<DB: rakit_job_sql::TransactionDatabase>() {}
/// ```
pub trait TransactionDatabase: sealed::Sealed {}

impl<DB: sealed::Sealed> TransactionDatabase for DB {}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::Postgres {
    const DIALECT: &'static str = "postgres";
    fn push_on<'a>(
        driver: &'a SqlDriver,
        conn: &'a mut sqlx::PgConnection,
        job: NewJob,
    ) -> Pushed<'a> {
        Box::pin(driver.push_lent(Lent::<Self>(conn), job))
    }
}

#[cfg(feature = "mysql")]
impl sealed::Sealed for sqlx::MySql {
    const DIALECT: &'static str = "mysql";
    fn push_on<'a>(
        driver: &'a SqlDriver,
        conn: &'a mut sqlx::MySqlConnection,
        job: NewJob,
    ) -> Pushed<'a> {
        Box::pin(driver.push_lent(Lent::<Self>(conn), job))
    }
}

impl SqlDriver {
    /// Stores `job` inside the application's transaction `tx`: the job becomes visible to
    /// workers only if `tx` commits, and vanishes if it rolls back.
    ///
    /// `tx` must be on the same database as the driver (PostgreSQL or MySQL/MariaDB).
    /// A unique window is taken in `tx` too. Workers on PostgreSQL are woken when the
    /// transaction commits.
    ///
    #[cfg_attr(feature = "postgres", doc = "```no_run")]
    #[cfg_attr(not(feature = "postgres"), doc = "```ignore")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use rakit_job_sql::{SqlDriver, SqlOptions, sqlx};
    /// let url = "postgres://app@127.0.0.1/app";
    /// let driver = SqlDriver::connect(url, &SqlOptions::default()).await?;
    /// let pool = sqlx::PgPool::connect(url).await?;
    ///
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO users (email) VALUES ('a@b.c')").execute(&mut *tx).await?;
    /// let job = rakit_job_core::NewJob::now("send-welcome", "default", r#"{"email":"a@b.c"}"#);
    /// driver.push_in(&mut tx, job).await?;
    /// tx.commit().await?; // the user and the job appear together, or neither does
    /// # Ok(()) }
    /// ```
    pub async fn push_in<DB>(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        job: NewJob,
    ) -> Result<PushOutcome, DriverError>
    where
        DB: TransactionDatabase,
    {
        if self.dialect() != DB::DIALECT {
            return Err(DriverError::Invalid(format!(
                "the job store {} is not a {} database, so this transaction cannot hold its jobs; dispatch without a transaction",
                self.describe(),
                DB::DIALECT
            )));
        }
        DB::push_on(self, &mut **tx, job).await
    }

    /// Stores `job` through `conn`, lent by the application.
    #[allow(dead_code)]
    async fn push_lent(
        &self,
        mut conn: impl Exec,
        job: NewJob,
    ) -> Result<PushOutcome, DriverError> {
        job.check()?;
        self.db.check_job(&job)?;
        let jobs = [job];
        let stored = self.store_jobs(&mut conn, &jobs).await;
        Ok(stored.map_err(|e| e.into_driver(&self.store))?[0])
    }
}
