//! SQLite: one file shared by every worker process, in WAL mode.
//!
//! Writers take turns on the file, so each claim is one short `BEGIN IMMEDIATE`
//! transaction: the write lock is taken first, then the due jobs are picked queue by
//! queue through the claim index and leased in one `UPDATE`. A busy file makes a
//! statement wait up to the busy timeout, and a claim that still loses is rolled back
//! and tried again, so "database is locked" never costs a job.

use crate::backoff::Backoff;
use crate::batches;
use crate::claim::{distinct_queues, leases_for, merge_stats, reserved};
use crate::errors::{OpError, retrying};
use crate::rows::{JobRow, failed_job, returned_ids, stored_job};
use crate::schema::{
    CREATE_MIGRATIONS, Dialect, LIST_MIGRATIONS, MIGRATIONS_TABLE, ddl, split_statements,
};
use crate::statements::{self, Statements};
use crate::tables::Tables;
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Retry, now_ms,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a statement waits for another process's write before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per driver unless the url sets `pool_size`; SQLite runs one writer at a time anyway.
const POOL_SIZE: u32 = 4;

/// A jobs store in one SQLite file.
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    store: String,
    tables: Tables,
    sql: Statements,
    push: Arc<str>,
    lock: Arc<str>,
    fail_copy: Arc<str>,
    backoff: Backoff,
}

type Query = sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments>;

fn q(sql: &Arc<str>) -> Query {
    sqlx::query(AssertSqlSafe(sql.clone()))
}

/// The file path in `sqlite://path`, `sqlite:path` or `sqlite:///absolute/path`.
pub(crate) fn file_path(url: &str) -> Result<PathBuf, DriverError> {
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

impl SqliteStore {
    /// Opens (creating if needed) the file at `url`; a file that did not exist gets the tables.
    pub async fn open(
        url: &str,
        tables: Tables,
        pool_size: Option<u32>,
    ) -> Result<Self, DriverError> {
        let path = file_path(url)?;
        let store = format!("sqlite {}", path.display());
        let unreachable = |reason: String| DriverError::Unreachable {
            store: store.clone(),
            reason,
        };
        let existed = path.exists();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                unreachable(format!(
                    "cannot create the folder {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size.unwrap_or(POOL_SIZE))
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .connect_with(options)
            .await
            .map_err(|e| OpError::Sql(e).into_driver(&store))?;
        let sql = Statements::new(&tables);
        let driver = SqliteStore {
            push: statements::insert_unless_duplicate(&sql).into(),
            lock: statements::lock_upsert(&tables).into(),
            fail_copy: statements::fail_copy_upsert(&tables).into(),
            pool,
            store,
            tables,
            sql,
            backoff: Backoff::default(),
        };
        if !existed {
            tracing::debug!(store = %driver.store, "new SQLite file, creating the job tables");
            driver.install().await?;
        }
        Ok(driver)
    }

    /// Creates the tables and indexes that are missing, in one transaction.
    pub async fn install(&self) -> Result<(), DriverError> {
        let script = ddl(Dialect::Sqlite, &self.tables);
        retrying(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for statement in split_statements(&script) {
                sqlx::query(AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| self.err(e))
    }

    fn err(&self, e: OpError) -> DriverError {
        e.into_driver(&self.store)
    }

    /// Runs the statement `build` makes and returns the rows it changed; a statement
    /// that found the file busy past the busy timeout is built and run again.
    async fn affected<F>(&self, build: F) -> Result<u64, DriverError>
    where
        F: Fn() -> Query,
    {
        retrying(|| async { Ok(build().execute(&self.pool).await?.rows_affected()) })
            .await
            .map_err(|e| self.err(e))
    }
}

#[async_trait::async_trait]
impl Driver for SqliteStore {
    fn describe(&self) -> String {
        self.store.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: false,
            durable: true,
            has_schema: true,
        }
    }

    async fn check(&self) -> Result<(), DriverError> {
        for probe in &self.sql.probes {
            retrying(|| async { Ok(q(probe).fetch_optional(&self.pool).await?) })
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        crate::check_new_job(&job)?;
        let stored = self
            .affected(|| crate::bind_new_job(q(&self.push), &job))
            .await?;
        Ok(if stored == 1 {
            PushOutcome::Stored
        } else {
            PushOutcome::Duplicate
        })
    }

    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(crate::check_new_job)?;
        let chunks: Vec<(Arc<str>, &[NewJob])> = jobs
            .chunks(statements::PUSH_CHUNK)
            .map(|chunk| {
                let sql = statements::insert_many(&self.tables.jobs, chunk.len(), Dialect::Sqlite);
                (Arc::from(sql), chunk)
            })
            .collect();
        let stored = retrying(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let mut stored = std::collections::HashSet::new();
            let written: Result<(), OpError> = async {
                for (sql, chunk) in &chunks {
                    let mut query = q(sql);
                    for job in *chunk {
                        query = crate::bind_new_job(query, job);
                    }
                    stored.extend(returned_ids(&query.fetch_all(&mut *tx).await?)?);
                }
                Ok(())
            }
            .await;
            // Rolled back at once, not when the connection is next used: a failed batch
            // must not keep the write lock.
            if let Err(e) = written {
                let _ = tx.rollback().await;
                return Err(e);
            }
            tx.commit().await?;
            Ok(stored)
        })
        .await
        .map_err(|e| self.err(e))?;
        Ok(crate::push_outcomes(&jobs, &stored))
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let queues = distinct_queues(request);
        if request.limit == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let taken = retrying(|| async {
            let now = now_ms();
            let deadline = now + request.lease_ms;
            // Take the write lock first, so the rows picked are still due when leased.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let mut picked = Vec::new();
            for queue in &queues {
                let left = (request.limit - picked.len()) as i64;
                if left == 0 {
                    break;
                }
                let query = match request.name {
                    Some(name) => q(&self.sql.due_named)
                        .bind(queue.as_str())
                        .bind(now)
                        .bind(name),
                    None => q(&self.sql.due).bind(queue.as_str()).bind(now),
                };
                for row in query.bind(left).fetch_all(&mut *tx).await? {
                    picked.push(stored_job(&row)?);
                }
            }
            if picked.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let leases = leases_for(&picked);
            let sql = statements::lease_picked(&self.tables.jobs, leases.len());
            let mut update = sqlx::query(AssertSqlSafe(sql))
                .bind(deadline)
                .bind(deadline);
            for lease in &leases {
                update = update.bind(lease.id.as_str()).bind(lease.token as i64);
            }
            for lease in &leases {
                update = update.bind(lease.id.as_str());
            }
            update.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(reserved(picked, leases))
        })
        .await
        .map_err(|e| self.err(e))?;
        self.backoff.record(taken.len());
        Ok(taken)
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        let deadline = now_ms() + lease_ms;
        let n = self
            .affected(|| {
                q(&self.sql.extend)
                    .bind(deadline)
                    .bind(deadline)
                    .bind(lease.id.as_str())
                    .bind(lease.token as i64)
            })
            .await?;
        Ok(n == 1)
    }

    /// Acks a batch in one statement per [`statements::BATCH_ROWS`] leases; see
    /// [`statements::ack_many`].
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        batches::returning(&self.pool, leases, |n| {
            statements::ack_many(&self.tables.jobs, n, Dialect::Sqlite)
        })
        .await
        .map_err(|e| self.err(e))
    }

    /// Retries a batch in one statement per [`statements::BATCH_ROWS`] jobs; see
    /// [`statements::retry_many`].
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        batches::returning(&self.pool, retries, |n| {
            statements::retry_many(&self.tables.jobs, n, Dialect::Sqlite)
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let n = self
            .affected(|| {
                q(&self.sql.ack)
                    .bind(lease.id.as_str())
                    .bind(lease.token as i64)
            })
            .await?;
        Ok(n == 1)
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        let n = self
            .affected(|| {
                q(&self.sql.retry)
                    .bind(available_at)
                    .bind(error)
                    .bind(lease.id.as_str())
                    .bind(lease.token as i64)
            })
            .await?;
        Ok(n == 1)
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        let n = self
            .affected(|| {
                q(&self.sql.release)
                    .bind(available_at)
                    .bind(lease.id.as_str())
                    .bind(lease.token as i64)
            })
            .await?;
        Ok(n == 1)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        retrying(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let copied = q(&self.fail_copy)
                .bind(error)
                .bind(now_ms())
                .bind(lease.id.as_str())
                .bind(lease.token as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if copied == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            q(&self.sql.ack)
                .bind(lease.id.as_str())
                .bind(lease.token as i64)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let now = now_ms();
        let n = self
            .affected(|| {
                q(&self.lock)
                    .bind(key)
                    .bind(owner)
                    .bind(now + ttl_ms)
                    .bind(now)
            })
            .await?;
        Ok(n == 1)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        self.affected(|| q(&self.sql.unlock).bind(key).bind(owner))
            .await?;
        Ok(())
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        retrying(|| async {
            let rows = q(&self.sql.queues).fetch_all(&self.pool).await?;
            rows.iter().map(|r| r.text(0)).collect()
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        retrying(|| async {
            let now = now_ms();
            let jobs = q(&self.sql.stats_jobs)
                .bind(now)
                .bind(now)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
            let failed = q(&self.sql.stats_failed).fetch_all(&self.pool).await?;
            let jobs = jobs
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?, r.int(2)?, r.int(3)?)))
                .collect::<Result<Vec<_>, OpError>>()?;
            let failed = failed
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?)))
                .collect::<Result<Vec<_>, OpError>>()?;
            Ok(merge_stats(jobs, failed))
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        retrying(|| async {
            let rows = q(&self.sql.failed)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(failed_job).collect()
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        retrying(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let copied = q(&self.sql.unfail)
                .bind(now_ms())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if copied == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            q(&self.sql.forget)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        Ok(self
            .affected(|| q(&self.sql.forget).bind(id.as_str()))
            .await?
            == 1)
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        self.affected(|| q(&self.sql.flush)).await
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        self.backoff.wait(timeout).await;
        Ok(())
    }

    fn schema(&self) -> Option<String> {
        Some(ddl(Dialect::Sqlite, &self.tables))
    }

    async fn applied_migrations(&self) -> Result<Vec<String>, DriverError> {
        retrying(|| async {
            sqlx::query(CREATE_MIGRATIONS).execute(&self.pool).await?;
            let rows = sqlx::query(LIST_MIGRATIONS).fetch_all(&self.pool).await?;
            rows.iter().map(|r| r.text(0)).collect()
        })
        .await
        .map_err(|e| self.err(e))
    }

    async fn apply_migration(&self, name: &str, sql: &str) -> Result<(), DriverError> {
        let statements = split_statements(sql);
        retrying(|| async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(CREATE_MIGRATIONS).execute(&mut *tx).await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "SELECT 1 FROM {MIGRATIONS_TABLE} WHERE name = ?"
            )))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_none() {
                for statement in &statements {
                    sqlx::query(AssertSqlSafe(statement.clone()))
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)"
                )))
                .bind(name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| self.err(e))
    }
}
