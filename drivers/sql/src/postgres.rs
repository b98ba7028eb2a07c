//! PostgreSQL: workers on many machines share one database.
//!
//! A claim is one statement: for each requested queue in priority order, a `LATERAL`
//! subquery walks the claim index `(queue, available_at, id)` and locks up to `limit`
//! due rows with `FOR UPDATE SKIP LOCKED`; the best `limit` of them are leased by the
//! enclosing `UPDATE … RETURNING`. Queues after the one that filled the batch are
//! never scanned. Every push sends `NOTIFY <table>_pushed, '<queue>'`; one `LISTEN`
//! connection per driver wakes waiting workers.

use crate::claim::{distinct_queues, fresh_tokens, merge_stats};
use crate::errors::{OpError, reason, retrying};
use crate::rows::{JobRow, failed_job, returned_ids, stored_job};
use crate::schema::{
    CREATE_MIGRATIONS, Dialect, LIST_MIGRATIONS, MIGRATIONS_TABLE, ddl, split_statements,
};
use crate::signals::Signals;
use crate::statements::{self, FAILED_COLUMNS, JOB_COLUMNS, Statements, numbered};
use crate::tables::Tables;
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Retry, now_ms, redact_url,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgConnection, Postgres};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Connections per driver unless the url sets `pool_size` (the LISTEN connection comes on top).
const POOL_SIZE: u32 = 10;

/// How long an operation waits for a free connection, or for a server to answer a connect.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Run on each new connection of the pool: the claim must walk the claim index in order
/// and stop after `limit` rows. A table whose statistics are stale (empty when last
/// analyzed, then filled by a burst of pushes) makes the planner think a bitmap scan of
/// every due row, sorted, is cheaper: each claim then reads the whole backlog, and
/// draining it takes time quadratic in its size. None of the driver's statements gains
/// from a bitmap scan, so they are off for its own connections.
const NO_BITMAP_SCANS: &str = "SET enable_bitmapscan = off";

/// The longest pause between two attempts to re-open the LISTEN connection.
const MAX_LISTEN_PAUSE: Duration = Duration::from_secs(5);

type Query = sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>;

fn q(sql: &Arc<str>) -> Query {
    sqlx::query(AssertSqlSafe(sql.clone()))
}

/// A jobs store in a PostgreSQL database.
pub(crate) struct PgStore {
    pool: PgPool,
    listen_pool: PgPool,
    store: String,
    tables: Tables,
    channel: String,
    sql: Statements,
    push: Arc<str>,
    claim: Arc<str>,
    ack_many: Arc<str>,
    retry_many: Arc<str>,
    fail: Arc<str>,
    unfail: Arc<str>,
    lock: Arc<str>,
    signals: Arc<Signals>,
    listener: OnceLock<tokio::task::JoinHandle<()>>,
}

impl PgStore {
    /// Connects to the database at `url`.
    pub async fn open(
        url: &str,
        tables: Tables,
        pool_size: Option<u32>,
    ) -> Result<Self, DriverError> {
        let store = format!("postgres {}", redact_url(url));
        let mut options = PgConnectOptions::from_str(url).map_err(|e| {
            DriverError::Invalid(format!(
                "the PostgreSQL url {:?} is invalid: {}",
                redact_url(url),
                reason(&e)
            ))
        })?;
        if options.get_application_name().is_none() {
            options = options.application_name("rakit-job");
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.unwrap_or(POOL_SIZE))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(NO_BITMAP_SCANS).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(|e| OpError::Sql(e).into_driver(&store))?;
        // The LISTEN connection lives in its own pool of one, opened on the first wait.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        let sql = Statements::new(&tables);
        let channel = tables.channel();
        Ok(PgStore {
            push: push_sql(&sql).into(),
            claim: claim_sql(&tables).into(),
            ack_many: ack_many_sql(&tables).into(),
            retry_many: retry_many_sql(&tables).into(),
            fail: fail_sql(&tables).into(),
            unfail: unfail_sql(&tables).into(),
            lock: numbered(&statements::lock_upsert(&tables)).into(),
            sql: sql.numbered(),
            pool,
            listen_pool,
            store,
            tables,
            channel,
            signals: Arc::default(),
            listener: OnceLock::new(),
        })
    }

    /// Creates the tables and indexes that are missing, in one transaction.
    pub async fn install(&self) -> Result<(), DriverError> {
        let script = ddl(Dialect::Postgres, &self.tables);
        retrying(|| async {
            let mut tx = self.pool.begin().await?;
            for statement in split_statements(&script) {
                tx.execute(AssertSqlSafe(statement)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
        .map_err(|e| self.err(e))
    }

    /// Stores `job` through `conn`, typically inside the caller's transaction; the
    /// wake-up is sent when that transaction commits.
    pub async fn push_on(
        &self,
        conn: &mut PgConnection,
        job: NewJob,
    ) -> Result<PushOutcome, DriverError> {
        let stored = self
            .push_query(&job)
            .execute(conn)
            .await
            .map_err(|e| self.err(e.into()))?
            .rows_affected();
        Ok(if stored == 1 {
            PushOutcome::Stored
        } else {
            PushOutcome::Duplicate
        })
    }

    fn push_query(&self, job: &NewJob) -> Query {
        crate::bind_new_job(q(&self.push), job).bind(self.channel.as_str())
    }

    fn err(&self, e: OpError) -> DriverError {
        e.into_driver(&self.store)
    }

    /// The ids a statement returns (`RETURNING id`).
    async fn returned<F>(&self, build: F) -> Result<HashSet<String>, DriverError>
    where
        F: Fn() -> Query,
    {
        retrying(|| async { returned_ids(&build().fetch_all(&self.pool).await?) })
            .await
            .map_err(|e| self.err(e))
    }

    async fn affected<F>(&self, build: F) -> Result<u64, DriverError>
    where
        F: Fn() -> Query,
    {
        retrying(|| async { Ok(build().execute(&self.pool).await?.rows_affected()) })
            .await
            .map_err(|e| self.err(e))
    }

    /// Starts the LISTEN task once; it runs until the driver is dropped.
    fn listen(&self) {
        self.listener.get_or_init(|| {
            tokio::spawn(listen_loop(
                self.listen_pool.clone(),
                self.channel.clone(),
                self.signals.clone(),
                self.store.clone(),
            ))
        });
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(task) = self.listener.get() {
            task.abort();
        }
    }
}

/// Keeps a LISTEN connection open and turns notifications into [`Signals`]; after any
/// reconnect every waiter looks again, since notifications sent meanwhile are lost.
async fn listen_loop(pool: PgPool, channel: String, signals: Arc<Signals>, store: String) {
    let mut pause = Duration::from_millis(100);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(&channel).await {
                Ok(()) => {
                    signals.look_everywhere();
                    pause = Duration::from_millis(100);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => signals.pushed(notification.payload()),
                            Ok(None) => {
                                tracing::warn!(%store, "the LISTEN connection dropped and was re-opened");
                                signals.look_everywhere();
                            }
                            Err(e) => {
                                tracing::warn!(%store, "the LISTEN connection failed ({}); workers poll until it is back", reason(&e));
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%store, "cannot LISTEN for new jobs ({}); retrying", reason(&e))
                }
            },
            Err(e) => {
                tracing::warn!(%store, "cannot open the LISTEN connection ({}); retrying", reason(&e))
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_LISTEN_PAUSE);
    }
}

/// Insert unless the unique key is taken, and notify listeners of the queue.
/// Binds: the insert's eight, then the channel. Changes one row when stored.
fn push_sql(s: &Statements) -> String {
    numbered(&format!(
        "WITH stored AS ({} RETURNING queue) SELECT pg_notify(?, queue) FROM stored",
        statements::insert_unless_duplicate(s)
    ))
}

/// The one-statement claim. Binds: $1 queues in priority order, $2 now, $3 name or
/// NULL, $4 limit, $5 lease deadline, $6 one fresh token per row.
///
/// The `UPDATE` finds the locked rows by their physical addresses (`ctid = ANY(…)`, a TID
/// scan) and checks each id too. Joined by id or by ctid alone, the planner, above all in
/// the generic plan of the prepared statement (which cannot know the limit), often chose
/// to scan the whole table once per claim. A row cannot move while it is locked, and if it
/// somehow did it would simply not be leased.
fn claim_sql(t: &Tables) -> String {
    let jobs = &t.jobs;
    let returning: Vec<String> = JOB_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect();
    let returning = returning.join(", ");
    format!(
        "WITH picked AS (\
            SELECT j.id, j.row_at, q.prio, j.available_at AS due_at \
            FROM unnest($1::text[]) WITH ORDINALITY AS q(queue, prio) \
            CROSS JOIN LATERAL (\
                SELECT id, ctid AS row_at, available_at FROM {jobs} \
                WHERE queue = q.queue AND available_at <= $2 AND ($3::text IS NULL OR name = $3) \
                ORDER BY available_at, id LIMIT $4 \
                FOR UPDATE SKIP LOCKED\
            ) AS j \
            ORDER BY q.prio, j.available_at, j.id LIMIT $4\
        ), numbered AS (\
            SELECT id, row_at, prio, due_at, row_number() OVER (ORDER BY prio, due_at, id) AS n FROM picked\
        ) \
        UPDATE {jobs} AS t SET attempts = t.attempts + 1, available_at = $5, reserved_until = $5, \
            lease_token = ($6::int8[])[numbered.n] \
        FROM numbered WHERE t.ctid = ANY(ARRAY(SELECT row_at FROM numbered)) \
            AND t.ctid = numbered.row_at AND t.id = numbered.id \
        RETURNING {returning}, t.lease_token, numbered.prio, numbered.due_at"
    )
}

/// Acks a batch: deletes each job whose lease token still matches and returns its id.
/// Binds: $1 ids, $2 tokens, in the same order.
///
/// The batch comes as two arrays, so the text is the same whatever its size: one prepared
/// statement per connection, where a list of binds per size made a new statement, parsed
/// and planned again, for almost every batch. `id = ANY($1)` makes the rows be looked up
/// by primary key.
fn ack_many_sql(t: &Tables) -> String {
    format!(
        "DELETE FROM {} AS t USING unnest($1::text[], $2::int8[]) AS acked(id, token) \
         WHERE t.id = ANY($1) AND t.id = acked.id AND t.lease_token = acked.token RETURNING t.id",
        t.jobs
    )
}

/// Retries a batch: each job whose lease token still matches waits until its own due time,
/// with its own error, and its id is returned. Binds: $1 ids, $2 tokens, $3 due times,
/// $4 errors, in the same order; arrays for the reason given at [`ack_many_sql`].
fn retry_many_sql(t: &Tables) -> String {
    format!(
        "UPDATE {} AS t SET available_at = r.available_at, reserved_until = NULL, \
         lease_token = NULL, last_error = r.error \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[]) AS r(id, token, available_at, error) \
         WHERE t.id = ANY($1) AND t.id = r.id AND t.lease_token = r.token RETURNING t.id",
        t.jobs
    )
}

/// Move a held job to the failed table in one statement. Binds: id, token, error, failed_at.
fn fail_sql(t: &Tables) -> String {
    let (jobs, failed) = (&t.jobs, &t.failed);
    format!(
        "WITH gone AS (\
            DELETE FROM {jobs} WHERE id = $1 AND lease_token = $2 \
            RETURNING id, name, queue, payload, attempts, overlap_key, created_at\
        ) \
        INSERT INTO {failed} ({FAILED_COLUMNS}) \
        SELECT id, name, queue, payload, $3, attempts, overlap_key, created_at, $4 FROM gone \
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, queue = excluded.queue, \
        payload = excluded.payload, error = excluded.error, attempts = excluded.attempts, \
        overlap_key = excluded.overlap_key, created_at = excluded.created_at, failed_at = excluded.failed_at"
    )
}

/// Move a failed job back to its queue and notify. Binds: id, available_at, channel.
fn unfail_sql(t: &Tables) -> String {
    let (jobs, failed) = (&t.jobs, &t.failed);
    format!(
        "WITH gone AS (\
            DELETE FROM {failed} WHERE id = $1 RETURNING id, name, queue, payload, created_at, overlap_key\
        ), back AS (\
            INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key) \
            SELECT id, name, queue, payload, 0, $2, created_at, overlap_key FROM gone RETURNING queue\
        ) \
        SELECT pg_notify($3, queue) FROM back"
    )
}

#[async_trait::async_trait]
impl Driver for PgStore {
    fn describe(&self) -> String {
        self.store.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            wakes_across_processes: true,
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
        let stored = self.affected(|| self.push_query(&job)).await?;
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
                let sql =
                    statements::insert_many(&self.tables.jobs, chunk.len(), Dialect::Postgres);
                (Arc::from(sql), chunk)
            })
            .collect();
        let notify: Arc<str> = Arc::from("SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q");
        let stored = retrying(|| async {
            let mut tx = self.pool.begin().await?;
            let mut stored = std::collections::HashSet::new();
            let written: Result<(), OpError> = async {
                for (sql, chunk) in &chunks {
                    let mut query = q(sql);
                    for job in *chunk {
                        query = crate::bind_new_job(query, job);
                    }
                    stored.extend(returned_ids(&query.fetch_all(&mut *tx).await?)?);
                }
                // One notification per queue that got a job, delivered when the batch commits.
                let mut queues: Vec<String> = jobs
                    .iter()
                    .filter(|job| stored.contains(job.id.as_str()))
                    .map(|job| job.queue.clone())
                    .collect();
                queues.sort();
                queues.dedup();
                q(&notify)
                    .bind(self.channel.clone())
                    .bind(queues)
                    .execute(&mut *tx)
                    .await?;
                Ok(())
            }
            .await;
            // Rolled back at once, not when the connection is next used: a failed insert
            // holds locks (on a clashing key, say) that would hide stored jobs meanwhile.
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
        self.signals.reserving(&queues);
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
        let tokens = fresh_tokens(request.limit);
        retrying(|| async {
            let now = now_ms();
            let rows = q(&self.claim)
                .bind(&queues[..])
                .bind(now)
                .bind(request.name)
                .bind(limit)
                .bind(now + request.lease_ms)
                .bind(&tokens[..])
                .fetch_all(&self.pool)
                .await?;
            let mut taken = Vec::with_capacity(rows.len());
            for row in &rows {
                let job = stored_job(row)?;
                let token = row.int(9)?;
                let order = (row.int(10)?, row.int(11)?, job.id.clone());
                let lease = Lease {
                    id: job.id.clone(),
                    queue: job.queue.clone(),
                    token: token as u64,
                };
                taken.push((order, Reserved { job, lease }));
            }
            taken.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(taken.into_iter().map(|(_, r)| r).collect())
        })
        .await
        .map_err(|e| self.err(e))
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

    /// Acks a batch in one statement of fixed text; see [`ack_many_sql`].
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = leases.iter().map(|l| l.id.as_str()).collect();
        let tokens: Vec<i64> = leases.iter().map(|l| l.token as i64).collect();
        let done = self
            .returned(|| q(&self.ack_many).bind(&ids[..]).bind(&tokens[..]))
            .await?;
        Ok(ids.iter().map(|id| done.contains(*id)).collect())
    }

    /// Retries a batch in one statement of fixed text; see [`retry_many_sql`].
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        if retries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = retries.iter().map(|r| r.lease.id.as_str()).collect();
        let tokens: Vec<i64> = retries.iter().map(|r| r.lease.token as i64).collect();
        let due: Vec<i64> = retries.iter().map(|r| r.available_at).collect();
        let errors: Vec<&str> = retries.iter().map(|r| r.error.as_str()).collect();
        let done = self
            .returned(|| {
                q(&self.retry_many)
                    .bind(&ids[..])
                    .bind(&tokens[..])
                    .bind(&due[..])
                    .bind(&errors[..])
            })
            .await?;
        Ok(ids.iter().map(|id| done.contains(*id)).collect())
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
        if n == 1 && available_at <= now_ms() {
            // Back on its queue right away: wake the workers of that queue.
            self.affected(|| {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(self.channel.as_str())
                    .bind(lease.queue.as_str())
            })
            .await?;
        }
        Ok(n == 1)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let n = self
            .affected(|| {
                q(&self.fail)
                    .bind(lease.id.as_str())
                    .bind(lease.token as i64)
                    .bind(error)
                    .bind(now_ms())
            })
            .await?;
        Ok(n == 1)
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
        let n = self
            .affected(|| {
                q(&self.unfail)
                    .bind(id.as_str())
                    .bind(now_ms())
                    .bind(self.channel.as_str())
            })
            .await?;
        Ok(n == 1)
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

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        self.listen();
        self.signals.wait(queues, timeout).await;
        Ok(())
    }

    fn schema(&self) -> Option<String> {
        Some(ddl(Dialect::Postgres, &self.tables))
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
            let mut tx = self.pool.begin().await?;
            sqlx::query(CREATE_MIGRATIONS).execute(&mut *tx).await?;
            // One migration at a time, across processes.
            sqlx::query(AssertSqlSafe(format!(
                "LOCK TABLE {MIGRATIONS_TABLE} IN EXCLUSIVE MODE"
            )))
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query(AssertSqlSafe(format!(
                "SELECT 1 FROM {MIGRATIONS_TABLE} WHERE name = $1"
            )))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            if done.is_none() {
                for statement in &statements {
                    tx.execute(AssertSqlSafe(statement.clone())).await?;
                }
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES ($1, $2)"
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan PostgreSQL picks for `sql` (with binds of `types`, run with `args`) on a
    /// connection of the driver's pool: generic, as a prepared statement's plan becomes
    /// after five runs, or custom (made for the bound values).
    async fn plan(store: &PgStore, generic: bool, types: &str, sql: &str, args: &str) -> String {
        let mut conn = store.pool.acquire().await.unwrap();
        let mode = if generic {
            "force_generic_plan"
        } else {
            "force_custom_plan"
        };
        let steps = [
            format!("SET plan_cache_mode = {mode}"),
            format!("PREPARE probe ({types}) AS {sql}"),
        ];
        for step in steps {
            conn.execute(AssertSqlSafe(step)).await.unwrap();
        }
        let lines: Vec<(String,)> =
            sqlx::query_as(AssertSqlSafe(format!("EXPLAIN EXECUTE probe ({args})")))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        conn.execute("DEALLOCATE probe").await.unwrap();
        lines
            .into_iter()
            .map(|(l,)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A table filled after its statistics were taken (here: never analyzed) must still be
    /// claimed from by walking the claim index, not by a bitmap scan of the whole backlog,
    /// and batches of acks and retries must look their rows up by primary key.
    #[tokio::test]
    async fn statements_walk_an_index_on_a_table_filled_since_it_was_analyzed() {
        let url = std::env::var("RAKIT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let id = JobId::generate().to_string().replace('-', "");
        let base = format!("rk{}_{}", now_ms() / 1000, &id[id.len() - 10..]);
        let tables = Tables::new(&base, &format!("{base}_f")).unwrap();
        let store = PgStore::open(&url, tables, Some(2))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the PostgreSQL server at {url} is needed for this test and is unreachable: {e}"
                )
            });
        store.install().await.unwrap();
        let jobs: Vec<NewJob> = (0..5_000)
            .map(|i| NewJob::now("noop", "default", &format!("{{\"n\":{i}}}")))
            .collect();
        store.push_many(jobs).await.unwrap();

        let (now, later) = (now_ms(), now_ms() + 60_000);
        let checks = [
            (
                "claim",
                "text[], bigint, text, bigint, bigint, bigint[]",
                claim_sql(&store.tables),
                format!("'{{default}}', {now}, NULL, 192, {later}, '{{}}'"),
                format!("Index Scan using {base}_claim"),
            ),
            (
                "ack",
                "text[], bigint[]",
                ack_many_sql(&store.tables),
                "'{a,b}', '{1,2}'".to_string(),
                format!("Index Scan using {base}_pkey"),
            ),
            (
                "retry",
                "text[], bigint[], bigint[], text[]",
                retry_many_sql(&store.tables),
                format!("'{{a,b}}', '{{1,2}}', '{{{later},{later}}}', '{{x,y}}'"),
                format!("Index Scan using {base}_pkey"),
            ),
        ];
        for (what, types, sql, args, wanted) in &checks {
            for generic in [true, false] {
                let plan = plan(&store, generic, types, sql, args).await;
                assert!(
                    plan.contains(wanted.as_str())
                        && !plan.contains("Bitmap")
                        && !plan.contains("Seq Scan"),
                    "the {what} (generic plan: {generic}) does not use its index:\n{plan}"
                );
            }
        }
        let drop = format!("DROP TABLE {base}, {base}_f, {base}_locks");
        store.pool.execute(AssertSqlSafe(drop)).await.unwrap();
    }
}
