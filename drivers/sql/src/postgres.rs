//! PostgreSQL: workers on many machines share one database.
//!
//! A claim is one statement: for each requested queue in priority order, a `LATERAL`
//! subquery walks the claim index `(queue, available_at, id)` and locks up to `limit`
//! due rows with `FOR UPDATE SKIP LOCKED`; the best `limit` of them are leased by the
//! enclosing `UPDATE … RETURNING`. Queues after the one that filled the batch are never
//! scanned. Acks, retries and renewals of a batch bind it as arrays, so each is one
//! prepared statement whatever the batch's size. Every push notifies
//! `<table>_pushed` with its queue; one `LISTEN` connection per driver wakes waiting
//! workers.

use crate::conns::{Conns, Writers};
use crate::db::{Affected, Arg, Exec, Pool, ReadRow};
use crate::dialect::{ArrayInserts, Dialect, Held, Opened, Retry, Syntax, distinct_queues};
use crate::errors::{OpError, reason};
use crate::rows::stored_job;
use crate::signals::Signals;
use crate::statements::{self, JOB_COLUMNS, Takes, finish};
use crate::tables::Tables;
use rakit_job_core::{
    Capabilities, DriverError, Lease, Millis, ReserveRequest, Reserved, UNSIGNALLED_POLL, now_ms,
    redact_url,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgQueryResult, PgRow};
use sqlx::{AssertSqlSafe, Executor};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const SYNTAX: Syntax = Syntax {
    name: "postgres",
    numbered: true,
    for_update: " FOR UPDATE",
    on_conflict: "ON CONFLICT ({key}) DO UPDATE SET",
    proposed: "excluded.{col}",
    migration_lock: Some("LOCK TABLE rakit_migrations IN EXCLUSIVE MODE"),
    skip_taken: Some(SKIP_TAKEN),
    capabilities: Capabilities {
        wakes_across_processes: true,
        wakes_when_due: true,
        durable: true,
    },
    // Ids, names, queues and keys compare byte by byte, as every other store sorts them.
    types: [TEXT_C, TEXT_C, TEXT_C, TEXT_C, "TEXT", "BIGINT", "BOOLEAN"],
    table_options: "",
    inline_indexes: false,
    counts_per_queue: false,
};

const SKIP_TAKEN: &str = " ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING";
const TEXT_C: &str = "TEXT COLLATE \"C\"";

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

impl Affected for PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

struct Postgres {
    conns: Conns<sqlx::Postgres>,
    listen_pool: PgPool,
    store: String,
    channel: String,
    claim: Arc<str>,
    ack: Arc<str>,
    retry: Arc<str>,
    extend: Arc<str>,
    signals: Arc<Signals>,
    listener: OnceLock<tokio::task::JoinHandle<()>>,
}

/// Connects to the database at `url`.
pub(crate) async fn open(
    url: &str,
    tables: &Tables,
    pool_size: Option<u32>,
) -> Result<Opened, DriverError> {
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
        });
    let conns = Conns::open(options.clone(), pool, Writers::SideBySide)
        .await
        .map_err(|e| OpError::Sql(e).into_driver(&store))?;
    // The LISTEN connection lives in its own pool of one, opened on the first wait.
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let jobs = &tables.jobs;
    // The channel is a checked identifier, so it can stand in the text as a literal.
    let channel = format!("{jobs}_pushed");
    let insert = statements::insert_jobs(jobs, 1);
    let insert_one = finish(
        &SYNTAX,
        format!(
            "WITH stored AS ({insert}{SKIP_TAKEN} RETURNING queue) \
             SELECT pg_notify('{channel}', queue) FROM stored"
        ),
    );
    let retry = retry_sql(jobs, &channel).into();
    let db = Postgres {
        conns,
        listen_pool,
        store: store.clone(),
        channel,
        claim: claim_sql(jobs).into(),
        ack: ack_sql(jobs).into(),
        retry,
        extend: extend_sql(jobs).into(),
        signals: Arc::default(),
        listener: OnceLock::new(),
    };
    Ok(Opened {
        db: Box::new(db),
        syntax: &SYNTAX,
        store,
        fresh: false,
        insert_one,
        takes: Takes::on_conflict(tables, &SYNTAX),
        insert_arrays: Some(array_inserts(jobs)),
    })
}

/// Stores a batch of jobs bound as one array per column (`rows::insert_columns`): a text
/// per array and batch size instead of nine binds a row and one statement per size.
fn array_inserts(jobs: &str) -> ArrayInserts {
    let insert = format!(
        "INSERT INTO {jobs} ({}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], \
         $4::text[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[])",
        statements::INSERT_COLUMNS.replace(" attempts,", "")
    );
    ArrayInserts {
        skipping: format!("{insert}{SKIP_TAKEN} RETURNING id").into(),
        plain: insert.into(),
    }
}

/// The one-statement claim. Binds: $1 queues in priority order, $2 now, $3 name or
/// NULL, $4 limit, $5 lease deadline, $6 one fresh token per row, $7 the worker.
///
/// The `UPDATE` finds the locked rows by their physical addresses (`ctid = ANY(…)`, a TID
/// scan) and checks each id too. Joined by id or by ctid alone, the planner, above all in
/// the generic plan of the prepared statement (which cannot know the limit), often chose
/// to scan the whole table once per claim. A row cannot move while it is locked, and if it
/// somehow did it would simply not be leased.
fn claim_sql(jobs: &str) -> String {
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
            worker = $7, lease_token = ($6::int8[])[numbered.n] \
        FROM numbered WHERE t.ctid = ANY(ARRAY(SELECT row_at FROM numbered)) \
            AND t.ctid = numbered.row_at AND t.id = numbered.id \
        RETURNING {returning}, t.lease_token, numbered.prio, numbered.due_at"
    )
}

/// Acks a batch: deletes each job whose lease token still matches and returns its id.
/// Binds: $1 ids, $2 tokens, in the same order.
///
/// The batch comes as arrays, so the text is the same whatever its size: one prepared
/// statement per connection, where a list of binds per size made a new statement, parsed
/// and planned again, for almost every batch. `id = ANY($1)` makes the rows be looked up
/// by primary key; joined only to the batch, PostgreSQL scanned the whole table.
fn ack_sql(jobs: &str) -> String {
    format!(
        "DELETE FROM {jobs} AS t USING unnest($1::text[], $2::int8[]) AS acked(id, token) \
         WHERE t.id = ANY($1) AND t.id = acked.id AND t.lease_token = acked.token RETURNING t.id"
    )
}

/// Retries a batch: each job whose lease token still matches waits until its own due time,
/// with its own error, and its id is returned; its queue is notified on `channel`, so
/// idle workers learn when it falls due. Binds: $1 ids, $2 tokens, $3 due times, $4
/// errors, in the same order; arrays for the reason given at [`ack_sql`].
fn retry_sql(jobs: &str, channel: &str) -> String {
    format!(
        "WITH retried AS (UPDATE {jobs} AS t SET available_at = r.available_at, reserved_until = NULL, \
         lease_token = NULL, last_error = r.error \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[]) AS r(id, token, available_at, error) \
         WHERE t.id = ANY($1) AND t.id = r.id AND t.lease_token = r.token RETURNING t.id, t.queue) \
         SELECT id, pg_notify('{channel}', queue) FROM retried"
    )
}

/// Renews a batch of leases: each whose token still matches runs to $3; returns its id
/// and cancel flag. Binds: $1 ids, $2 tokens, $3 deadline; arrays as in [`ack_sql`].
fn extend_sql(jobs: &str) -> String {
    format!(
        "UPDATE {jobs} AS t SET available_at = $3, reserved_until = $3 \
         FROM unnest($1::text[], $2::int8[]) AS l(id, token) \
         WHERE t.id = ANY($1) AND t.id = l.id AND t.lease_token = l.token RETURNING t.id, t.cancelled"
    )
}

fn q(sql: &Arc<str>) -> PgQuery<'static> {
    sqlx::query(AssertSqlSafe(sql.clone()))
}

/// A statement with its binds.
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// `n` fresh lease tokens, for a claim that writes them before it knows the job ids.
fn fresh_tokens(n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| rakit_job_core::fresh_token() as i64)
        .collect()
}

/// The ids and tokens of `leases`, as the batch statements bind them.
fn arrays<'a>(leases: impl Iterator<Item = &'a Lease>) -> (Vec<&'a str>, Vec<i64>) {
    leases.map(|l| (l.id.as_str(), l.token as i64)).unzip()
}

/// The rows a batch statement returned, by the id in their first column.
fn by_id(rows: Vec<PgRow>) -> Result<HashMap<String, PgRow>, OpError> {
    rows.into_iter()
        .map(|row| Ok((row.text(0)?, row)))
        .collect()
}

impl Postgres {
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

    /// Runs `query` on a connection of the store and returns its rows.
    async fn fetch(&self, query: PgQuery<'_>) -> Result<Vec<PgRow>, sqlx::Error> {
        let mut taken = self.conns.take().await?;
        let done = query.fetch_all(taken.conn()).await;
        taken.settle(done)
    }
}

impl Drop for Postgres {
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
                    signals.listening(true);
                    pause = Duration::from_millis(100);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => signals.pushed(notification.payload()),
                            Ok(None) => {
                                tracing::warn!(%store, "the LISTEN connection dropped and was re-opened");
                                signals.listening(true);
                            }
                            Err(e) => {
                                tracing::warn!(%store, "the LISTEN connection failed ({}); workers poll until it is back", reason(&e));
                                signals.listening(false);
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

#[async_trait::async_trait]
impl Dialect for Postgres {
    fn pool(&self) -> &dyn Pool {
        &self.conns
    }

    /// One notification per queue, delivered when the transaction commits.
    async fn wake(&self, on: &mut dyn Exec, queues: &[&str]) -> Result<(), sqlx::Error> {
        if queues.is_empty() {
            return Ok(());
        }
        let values = vec!["(?)"; queues.len()].join(", ");
        let channel = &self.channel;
        let sql = format!("SELECT pg_notify('{channel}', q) FROM (VALUES {values}) AS woken(q)");
        let args: Vec<Arg<'_>> = queues.iter().map(|q| Arg::Text(q)).collect();
        on.rows(&finish(&SYNTAX, sql), &args).await.map(drop)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, OpError> {
        let queues = distinct_queues(request);
        self.signals.reserving(&queues);
        let now = now_ms();
        let query = q(&self.claim)
            .bind(&queues[..])
            .bind(now)
            .bind(request.name)
            .bind(i64::try_from(request.limit).unwrap_or(i64::MAX))
            .bind(now + request.lease_ms)
            .bind(fresh_tokens(request.limit))
            .bind(request.worker);
        let rows = self.fetch(query).await?;
        let mut taken = Vec::with_capacity(rows.len());
        for row in &rows {
            let job = stored_job(row)?;
            let order = (row.int(12)?, row.int(13)?, job.id.clone());
            let lease = Lease {
                id: job.id.clone(),
                queue: job.queue.clone(),
                token: row.int(11)? as u64,
            };
            taken.push((order, Reserved { job, lease }));
        }
        taken.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(taken.into_iter().map(|(_, r)| r).collect())
    }

    async fn extend(&self, leases: &[Lease], deadline: Millis) -> Result<Held, OpError> {
        let (ids, tokens) = arrays(leases.iter());
        let query = q(&self.extend).bind(&ids).bind(&tokens).bind(deadline);
        let held = by_id(self.fetch(query).await?)?;
        held.into_iter()
            .map(|(id, row)| Ok((id, row.flag(1)?)))
            .collect()
    }

    async fn ack(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError> {
        let (ids, tokens) = arrays(leases.iter().copied());
        let query = q(&self.ack).bind(&ids).bind(&tokens);
        let done = by_id(self.fetch(query).await?)?;
        Ok(ids.iter().map(|id| done.contains_key(*id)).collect())
    }

    async fn retry(&self, retries: &[Retry<'_>]) -> Result<Vec<bool>, OpError> {
        let (ids, tokens) = arrays(retries.iter().map(|r| r.lease));
        let due: Vec<i64> = retries.iter().map(|r| r.available_at).collect();
        let errors: Vec<&str> = retries.iter().map(|r| r.error).collect();
        let query = q(&self.retry)
            .bind(&ids)
            .bind(&tokens)
            .bind(due)
            .bind(errors);
        let done = by_id(self.fetch(query).await?)?;
        Ok(ids.iter().map(|id| done.contains_key(*id)).collect())
    }

    async fn wait(&self, queues: &[String], timeout: Duration) {
        self.listen();
        // Notifications sent while the LISTEN connection is down are lost: look again soon.
        let timeout = match self.signals.is_listening() {
            true => timeout,
            false => timeout.min(UNSIGNALLED_POLL),
        };
        self.signals.wait(queues, timeout).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Arg::{Flag, Int, MaybeInt, MaybeText, Text};
    use crate::statements::Sql;

    /// The plan PostgreSQL picks for `sql` run with `args` on a connection of the driver's
    /// pool: generic, as a prepared statement's plan becomes after five runs, or custom.
    async fn plan(driver: &crate::SqlDriver, generic: bool, sql: &str, args: &[Arg<'_>]) -> String {
        let literal = |arg: &Arg| match *arg {
            Int(n) | MaybeInt(Some(n)) => n.to_string(),
            Text(t) | MaybeText(Some(t)) => format!("'{t}'"),
            MaybeText(None) | MaybeInt(None) => "NULL".into(),
            Flag(b) => b.to_string(),
        };
        let args: Vec<String> = args.iter().map(literal).collect();
        let mode = if generic { "generic" } else { "custom" };
        let mut conn = driver.db.pool().acquire().await.unwrap();
        for step in [
            format!("SET plan_cache_mode = force_{mode}_plan"),
            format!("PREPARE probe AS {sql}"),
        ] {
            conn.run(&step.into(), &[]).await.unwrap();
        }
        let explain = format!("EXPLAIN EXECUTE probe ({})", args.join(", ")).into();
        let lines = conn.rows(&explain, &[]).await.unwrap();
        conn.run(&"DEALLOCATE probe".into(), &[]).await.unwrap();
        let lines: Vec<String> = lines.iter().map(|l| l.text(0).unwrap()).collect();
        lines.join("\n")
    }

    /// A table filled after its statistics were taken (here: never analyzed) must still be
    /// claimed from by walking the claim index, not by a bitmap scan of the whole backlog;
    /// the batches of acks, retries and renewals, and the lease-checked writes of the
    /// other outcomes, must look their rows up by primary key; every listing must walk its
    /// index without sorting.
    #[tokio::test]
    async fn statements_walk_an_index_on_a_table_filled_since_it_was_analyzed() {
        let driver = crate::plans::filled(&rakit_job_core::test_support::postgres_url()).await;
        let (jobs, sql) = (&driver.tables.jobs, &driver.sql);
        let (now, later) = (now_ms(), now_ms() + 60_000);
        let (ids, tokens, due) = (Text("{a,b}"), Text("{1,2}"), format!("{{{later},{later}}}"));
        let pkey = format!("{jobs}_pkey");
        let (id, token) = (Text("a"), Int(1));
        let claim = [
            Text("{default}"),
            Int(now),
            MaybeText(None),
            Int(192),
            Int(later),
            Text("{}"),
            Text("w"),
        ];
        let mut checks: Vec<(String, String, Vec<Arg>, String)> = vec![
            (
                "claim".into(),
                claim_sql(jobs),
                claim.to_vec(),
                format!("{jobs}_claim"),
            ),
            ("ack".into(), ack_sql(jobs), vec![ids, tokens], pkey.clone()),
            (
                "retry".into(),
                retry_sql(jobs, "probe_pushed"),
                vec![ids, tokens, Text(&due), Text("{x,y}")],
                pkey.clone(),
            ),
            (
                "extend".into(),
                extend_sql(jobs),
                vec![ids, tokens, Int(later)],
                pkey.clone(),
            ),
            (
                "delete".into(),
                sql[Sql::DeleteHeld].to_string(),
                vec![id, token],
                pkey.clone(),
            ),
            (
                "release".into(),
                sql[Sql::Release].to_string(),
                vec![Int(later), id, token],
                pkey.clone(),
            ),
            (
                "fail".into(),
                sql[Sql::FailHeld].to_string(),
                vec![Text("x"), Int(now), Flag(false), id, token],
                pkey,
            ),
        ];
        for p in crate::plans::listings(&driver) {
            checks.push((p.what, p.sql.to_string(), p.args, p.index));
        }
        for (what, sql, args, index) in &checks {
            for generic in [true, false] {
                let plan = plan(&driver, generic, sql, args).await;
                let sorted = what != "claim" && plan.contains("Sort");
                let scanned = plan.contains("Bitmap") || plan.contains("Seq Scan");
                assert!(
                    plan.contains(&format!(" using {index}")) && !sorted && !scanned,
                    "the {what} (generic plan: {generic}) does not use its index:\n{plan}"
                );
            }
        }
        crate::plans::drop(driver).await;
    }
}
