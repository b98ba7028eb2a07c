//! MySQL 8 and MariaDB 10.6+: workers on many machines share one database.
//!
//! MySQL has no `UPDATE … RETURNING`, so a claim is one short READ COMMITTED
//! transaction: for each requested queue in priority order, a `SELECT … ORDER BY
//! available_at, id LIMIT n FOR UPDATE SKIP LOCKED` walks the claim index and locks only
//! the rows it returns, then one `UPDATE` leases them all. READ COMMITTED keeps InnoDB
//! from taking gap locks, so pushes never wait for a claim. Workers poll, with a pause
//! that is short while work flows and grows while the queues are empty.

use crate::backoff::Backoff;
use crate::claim::{distinct_queues, leases_for, merge_stats, reserved};
use crate::errors::{OpError, is_duplicate_on, reason, retrying};
use crate::rows::{JobRow, failed_job, returned_ids, stored_job};
use crate::schema::{
    CREATE_MIGRATIONS, Dialect, LIST_MIGRATIONS, MIGRATIONS_TABLE, ddl, split_statements,
};
use crate::statements::{self, FAILED_COLUMNS, Statements};
use crate::tables::Tables;
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Retry, now_ms, redact_url,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor, MySql, MySqlConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Connections per driver unless the url sets `pool_size`.
const POOL_SIZE: u32 = 10;

/// How long an operation waits for a free connection, or for a server to answer a connect.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest key MySQL's `VARCHAR(255)` key columns hold.
const MAX_KEY_CHARS: usize = 255;

type Query = sqlx::query::Query<'static, MySql, sqlx::mysql::MySqlArguments>;

fn q(sql: &Arc<str>) -> Query {
    sqlx::query(AssertSqlSafe(sql.clone()))
}

/// A jobs store in a MySQL or MariaDB database.
pub(crate) struct MySqlStore {
    pool: MySqlPool,
    store: String,
    tables: Tables,
    sql: Statements,
    due: Arc<str>,
    due_named: Arc<str>,
    fail_copy: Arc<str>,
    lock_take: Arc<str>,
    lock_new: Arc<str>,
    unique_index: String,
    backoff: Backoff,
}

impl MySqlStore {
    /// Connects to the database at `url`.
    pub async fn open(
        url: &str,
        tables: Tables,
        pool_size: Option<u32>,
    ) -> Result<Self, DriverError> {
        let store = format!("mysql {}", redact_url(url));
        let options = MySqlConnectOptions::from_str(url).map_err(|e| {
            DriverError::Invalid(format!(
                "the MySQL url {:?} is invalid: {}",
                redact_url(url),
                reason(&e)
            ))
        })?;
        let pool = MySqlPoolOptions::new()
            .max_connections(pool_size.unwrap_or(POOL_SIZE))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| OpError::Sql(e).into_driver(&store))?;
        let sql = Statements::new(&tables);
        let (jobs, failed, locks) = (&tables.jobs, &tables.failed, &tables.locks);
        Ok(MySqlStore {
            due: format!("{} FOR UPDATE SKIP LOCKED", sql.due).into(),
            due_named: format!("{} FOR UPDATE SKIP LOCKED", sql.due_named).into(),
            fail_copy: format!(
                "REPLACE INTO {failed} ({FAILED_COLUMNS}) \
                 SELECT id, name, queue, payload, ?, attempts, overlap_key, created_at, ? FROM {jobs} \
                 WHERE id = ? AND lease_token = ?"
            )
            .into(),
            lock_take: format!(
                "UPDATE {locks} SET owner = ?, expires_at = ? WHERE lock_key = ? AND (owner = ? OR expires_at <= ?)"
            )
            .into(),
            lock_new: format!("INSERT INTO {locks} (lock_key, owner, expires_at) VALUES (?, ?, ?)").into(),
            unique_index: format!("{jobs}_unique"),
            sql,
            pool,
            store,
            tables,
            backoff: Backoff::default(),
        })
    }

    /// Creates the tables and indexes that are missing (MySQL commits each DDL statement).
    pub async fn install(&self) -> Result<(), DriverError> {
        for statement in split_statements(&ddl(Dialect::MySql, &self.tables)) {
            retrying(|| async {
                Ok(self
                    .pool
                    .execute(AssertSqlSafe(statement.clone()))
                    .await
                    .map(|_| ())?)
            })
            .await
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Stores `job` through `conn`, typically inside the caller's transaction.
    pub async fn push_on(
        &self,
        conn: &mut MySqlConnection,
        job: NewJob,
    ) -> Result<PushOutcome, DriverError> {
        check_keys(&job)?;
        let result = self.push_query(&job).execute(conn).await;
        self.push_outcome(result)
    }

    fn push_query(&self, job: &NewJob) -> Query {
        crate::bind_new_job(q(&self.sql.insert), job)
    }

    /// A duplicate on the unique-key index is the skipped push of a unique job.
    fn push_outcome(
        &self,
        result: Result<sqlx::mysql::MySqlQueryResult, sqlx::Error>,
    ) -> Result<PushOutcome, DriverError> {
        match result {
            Ok(_) => Ok(PushOutcome::Stored),
            Err(e) if is_duplicate_on(&e, &self.unique_index) => Ok(PushOutcome::Duplicate),
            Err(e) => Err(self.err(e.into())),
        }
    }

    fn err(&self, e: OpError) -> DriverError {
        e.into_driver(&self.store)
    }

    async fn affected<F>(&self, build: F) -> Result<u64, DriverError>
    where
        F: Fn() -> Query,
    {
        retrying(|| async { Ok(build().execute(&self.pool).await?.rows_affected()) })
            .await
            .map_err(|e| self.err(e))
    }

    /// Acks up to [`statements::BATCH_ROWS`] leases in one statement; when fewer rows went
    /// than leases were given, one more query tells which jobs are still there.
    async fn ack_chunk(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        let sql: Arc<str> =
            statements::ack_many(&self.tables.jobs, leases.len(), Dialect::MySql).into();
        let deleted = self
            .affected(|| {
                let mut query = q(&sql);
                for lease in leases {
                    query = query.bind(lease.id.as_str()).bind(lease.token as i64);
                }
                query
            })
            .await?;
        if deleted as usize == leases.len() {
            return Ok(vec![true; leases.len()]);
        }
        let marks = vec!["?"; leases.len()].join(", ");
        let left: Arc<str> =
            format!("SELECT id FROM {} WHERE id IN ({marks})", self.tables.jobs).into();
        let still = retrying(|| async {
            let mut query = q(&left);
            for lease in leases {
                query = query.bind(lease.id.as_str());
            }
            returned_ids(&query.fetch_all(&self.pool).await?)
        })
        .await
        .map_err(|e| self.err(e))?;
        Ok(leases
            .iter()
            .map(|l| !still.contains(l.id.as_str()))
            .collect())
    }
}

/// Refuses keys longer than MySQL's key columns hold (they would be cut, or fail).
fn check_keys(job: &NewJob) -> Result<(), DriverError> {
    for (what, key) in [
        ("unique", &job.unique_key),
        ("no-overlap", &job.overlap_key),
    ] {
        if let Some(key) = key.as_deref().filter(|k| k.chars().count() > MAX_KEY_CHARS) {
            return Err(DriverError::Invalid(format!(
                "the {what} key of job {} is {} characters long; MySQL keys hold at most {MAX_KEY_CHARS}",
                job.name,
                key.chars().count()
            )));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Driver for MySqlStore {
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
        check_keys(&job)?;
        let result = retrying(|| async {
            match self.push_query(&job).execute(&self.pool).await {
                // A duplicate is an answer, not a failure to retry.
                Err(e) if is_duplicate_on(&e, &self.unique_index) => Ok(Err(e)),
                Err(e) => Err(OpError::Sql(e)),
                Ok(done) => Ok(Ok(done)),
            }
        })
        .await
        .map_err(|e| self.err(e))?;
        self.push_outcome(result)
    }

    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(crate::check_new_job)?;
        // MySQL cannot skip one row of a multi-row insert on a duplicate key without also
        // hiding other errors (INSERT IGNORE), so batches with unique keys go one by one.
        if jobs.iter().any(|job| job.unique_key.is_some()) {
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs {
                outcomes.push(self.push(job).await?);
            }
            return Ok(outcomes);
        }
        let chunks: Vec<(Arc<str>, &[NewJob])> = jobs
            .chunks(statements::PUSH_CHUNK)
            .map(|chunk| {
                let sql = statements::insert_many(&self.tables.jobs, chunk.len(), Dialect::MySql);
                (Arc::from(sql), chunk)
            })
            .collect();
        retrying(|| async {
            let mut tx = self.pool.begin().await?;
            let written: Result<(), sqlx::Error> = async {
                for (sql, chunk) in &chunks {
                    let mut query = q(sql);
                    for job in *chunk {
                        query = crate::bind_new_job(query, job);
                    }
                    query.execute(&mut *tx).await?;
                }
                Ok(())
            }
            .await;
            // Rolled back at once, not when the connection is next used: a failed insert
            // holds locks (on a clashing key, say) that would hide stored jobs meanwhile.
            if let Err(e) = written {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| self.err(e))?;
        Ok(vec![PushOutcome::Stored; jobs.len()])
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let queues = distinct_queues(request);
        if request.limit == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let taken = retrying(|| async {
            let now = now_ms();
            let mut tx = self.pool.begin().await?;
            let mut picked = Vec::new();
            for queue in &queues {
                let left = (request.limit - picked.len()) as i64;
                if left == 0 {
                    break;
                }
                let query = match request.name {
                    Some(name) => q(&self.due_named).bind(queue.as_str()).bind(now).bind(name),
                    None => q(&self.due).bind(queue.as_str()).bind(now),
                };
                for row in query.bind(left).fetch_all(&mut *tx).await? {
                    picked.push(stored_job(&row)?);
                }
            }
            if picked.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let deadline = now + request.lease_ms;
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

    /// Acks a batch in one statement per [`statements::BATCH_ROWS`] leases; when some lease
    /// was stale, one more query tells which.
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        let mut acked = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(statements::BATCH_ROWS) {
            acked.extend(self.ack_chunk(chunk).await?);
        }
        Ok(acked)
    }

    /// Retries a batch in one short transaction per [`statements::BATCH_ROWS`] jobs: a
    /// locking read finds the leases still held, then one `UPDATE … JOIN` retries them all.
    /// MySQL has no `UPDATE … RETURNING`; reading first, with the rows locked until the
    /// commit, tells exactly which jobs the update changed.
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        let mut retried = Vec::with_capacity(retries.len());
        for chunk in retries.chunks(statements::BATCH_ROWS) {
            let lock: Arc<str> = statements::lock_held(&self.tables.jobs, chunk.len()).into();
            let update: Arc<str> =
                statements::retry_many(&self.tables.jobs, chunk.len(), Dialect::MySql).into();
            let held = retrying(|| async {
                let mut tx = self.pool.begin().await?;
                let mut query = q(&lock);
                for r in chunk {
                    query = query.bind(r.lease.id.as_str()).bind(r.lease.token as i64);
                }
                let held = returned_ids(&query.fetch_all(&mut *tx).await?)?;
                if !held.is_empty() {
                    let mut query = q(&update);
                    for r in chunk {
                        query = query
                            .bind(r.lease.id.as_str())
                            .bind(r.lease.token as i64)
                            .bind(r.available_at)
                            .bind(r.error.as_str());
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(held)
            })
            .await
            .map_err(|e| self.err(e))?;
            retried.extend(chunk.iter().map(|r| held.contains(r.lease.id.as_str())));
        }
        Ok(retried)
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
            let mut tx = self.pool.begin().await?;
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
        if key.chars().count() > MAX_KEY_CHARS || owner.chars().count() > MAX_KEY_CHARS {
            return Err(DriverError::Invalid(format!(
                "the lock key {:?} is too long; MySQL keys hold at most {MAX_KEY_CHARS} characters",
                key.chars().take(80).collect::<String>()
            )));
        }
        let now = now_ms();
        let expires = now + ttl_ms;
        // Take it over when it is ours or expired (matched rows count, even unchanged)…
        let taken = self
            .affected(|| {
                q(&self.lock_take)
                    .bind(owner)
                    .bind(expires)
                    .bind(key)
                    .bind(owner)
                    .bind(now)
            })
            .await?;
        if taken == 1 {
            return Ok(true);
        }
        // …or create it; a duplicate means someone else holds it.
        let index = "PRIMARY";
        match q(&self.lock_new)
            .bind(key)
            .bind(owner)
            .bind(expires)
            .execute(&self.pool)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_on(&e, index) => Ok(false),
            Err(e) => Err(self.err(e.into())),
        }
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
            let mut tx = self.pool.begin().await?;
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
        Some(ddl(Dialect::MySql, &self.tables))
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

    /// MySQL commits DDL statement by statement, so a migration that fails halfway keeps
    /// its first statements; the DDL of `job:table` uses `IF NOT EXISTS`, so running the
    /// fixed migration again is safe.
    async fn apply_migration(&self, name: &str, sql: &str) -> Result<(), DriverError> {
        let statements = split_statements(sql);
        let run = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query(CREATE_MIGRATIONS).execute(&mut *conn).await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "SELECT 1 FROM {MIGRATIONS_TABLE} WHERE name = ?"
            )))
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
            if done.is_some() {
                return Ok(());
            }
            for statement in &statements {
                conn.execute(AssertSqlSafe(statement.clone())).await?;
            }
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)"
            )))
            .bind(name)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
            Ok::<(), OpError>(())
        };
        run.await.map_err(|e| self.err(e))
    }
}
