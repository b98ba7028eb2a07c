//! A job that counts its own runs in a table of an SQL database, so a test can check
//! that every job ran exactly once from the database itself, whichever process ran it.
//!
//! A worker process finds the table through two environment variables the test sets for
//! it: [`URL_VAR`] (a `postgres://` or `mysql://` url) and [`TABLE_VAR`]. It opens one
//! small pool on the first run and keeps it for the life of the process.
//!
//! ```
//! use rakit_job::JobSpec;
//! assert_eq!(rakit_test_jobs::runs::CountRun::NAME, "count-run");
//! assert!(rakit_test_jobs::runs::Runs::lazy("sqlite://jobs.db", "runs").is_err());
//! ```

use rakit_job::prelude::*;
use rakit_job::sqlx::{self, AssertSqlSafe, MySqlPool, PgPool};
use std::sync::OnceLock;

/// The variable holding the url of the database that keeps the runs table.
pub const URL_VAR: &str = "RAKIT_TEST_RUNS_URL";

/// The variable holding the name of the runs table.
pub const TABLE_VAR: &str = "RAKIT_TEST_RUNS_TABLE";

/// Connections each process keeps to the runs table.
const POOL_SIZE: u32 = 2;

/// Inserts one row, its job id and attempt, into the runs table, then succeeds.
#[job]
pub struct CountRun {
    /// Its number among the jobs of the test.
    pub n: u64,
}

impl Jobable for CountRun {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        static RUNS: OnceLock<Result<Runs, String>> = OnceLock::new();
        let runs = RUNS.get_or_init(|| {
            let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
            Runs::lazy(&var(URL_VAR)?, &var(TABLE_VAR)?).map_err(|e| e.to_string())
        });
        let runs = runs.as_ref().map_err(|e| JobError::new(e.clone()))?;
        runs.insert(ctx.id().as_str(), ctx.attempt()).await?;
        Ok(())
    }
}

/// A runs table and a pool to its database.
pub struct Runs {
    pool: Pool,
    table: String,
}

enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
}

impl Runs {
    /// The table `table` in the database at `url`, connecting on first use.
    pub fn lazy(url: &str, table: &str) -> Result<Runs, sqlx::Error> {
        let pool = match url.split(':').next() {
            Some("postgres" | "postgresql") => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .connect_lazy(url)?,
            ),
            Some("mysql") => Pool::MySql(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .connect_lazy(url)?,
            ),
            _ => {
                return Err(sqlx::Error::Configuration(
                    "the runs table needs a postgres:// or mysql:// url".into(),
                ));
            }
        };
        Ok(Runs {
            pool,
            table: table.to_string(),
        })
    }

    /// Creates the table, empty.
    pub async fn create(&self) -> Result<(), sqlx::Error> {
        let sql = format!(
            "CREATE TABLE {} (job_id VARCHAR(36) NOT NULL, attempt INT NOT NULL)",
            self.table
        );
        match &self.pool {
            Pool::Postgres(pool) => {
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
            }
            Pool::MySql(pool) => {
                sqlx::query(AssertSqlSafe(sql)).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Records one run of job `id`.
    pub async fn insert(&self, id: &str, attempt: u32) -> Result<(), sqlx::Error> {
        let (table, attempt) = (&self.table, attempt as i32);
        match &self.pool {
            Pool::Postgres(pool) => {
                let sql = format!("INSERT INTO {table} (job_id, attempt) VALUES ($1, $2)");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(id)
                    .bind(attempt)
                    .execute(pool)
                    .await?;
            }
            Pool::MySql(pool) => {
                let sql = format!("INSERT INTO {table} (job_id, attempt) VALUES (?, ?)");
                sqlx::query(AssertSqlSafe(sql))
                    .bind(id)
                    .bind(attempt)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// How many runs were recorded, and of how many distinct jobs.
    pub async fn count(&self) -> Result<(u64, u64), sqlx::Error> {
        let sql = format!(
            "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM {}",
            self.table
        );
        let (runs, jobs): (i64, i64) = match &self.pool {
            Pool::Postgres(pool) => sqlx::query_as(AssertSqlSafe(sql)).fetch_one(pool).await?,
            Pool::MySql(pool) => sqlx::query_as(AssertSqlSafe(sql)).fetch_one(pool).await?,
        };
        Ok((runs as u64, jobs as u64))
    }
}
