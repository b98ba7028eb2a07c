//! MySQL 8 and MariaDB 10.6+: workers on many machines share one database.
//!
//! MySQL has no `UPDATE … RETURNING`, so a claim is one short transaction
//! ([`PickThenLease`]): for each requested queue in priority order, a `SELECT … ORDER BY
//! available_at, id LIMIT n FOR UPDATE SKIP LOCKED` walks the claim index and locks only
//! the rows it returns, then one `UPDATE` leases them all; each claim reads from where
//! the last one stopped ([`crate::cursor`]). The connections run at READ
//! COMMITTED, so InnoDB takes no gap locks and pushes never wait for a claim. Batches are
//! cut into statements of 1,000 jobs; what a statement cannot return, a second read of
//! the same rows tells. Workers poll, with a pause that is short while work flows and
//! grows while the queues are empty.

use crate::claim::PickThenLease;
use crate::conns::{Conns, Writers};
use crate::db::{Affected, Arg, Pool, Tx};
use crate::dialect::{Dialect, Held, Opened, Retry, Syntax};
use crate::errors::{OpError, reason};
use crate::statements::{self, BATCH_ROWS, Take, Takes, marks};
use crate::store::settle;
use crate::tables::Tables;
use rakit_job_core::{
    Backoff, Capabilities, DriverError, Lease, Millis, NewJob, ReserveRequest, Reserved, redact_url,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlQueryResult};
use sqlx::{Executor, MySql};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

const SYNTAX: Syntax = Syntax {
    name: "mysql",
    numbered: false,
    for_update: " FOR UPDATE",
    on_conflict: "ON DUPLICATE KEY UPDATE",
    proposed: "VALUES({col})",
    migration_lock: None,
    skip_taken: None,
    capabilities: Capabilities {
        wakes_across_processes: false,
        wakes_when_due: false,
        durable: true,
    },
    types: [
        "CHAR(36)",
        "VARCHAR(191)",
        "VARCHAR(64)",
        "VARCHAR(255)",
        "MEDIUMTEXT",
        "BIGINT",
        "BOOLEAN",
    ],
    // Binary collation: queue names, job names and keys compare exactly (`High` is not `high`).
    table_options: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    inline_indexes: true,
    counts_per_queue: true,
};

/// Connections per driver unless the url sets `pool_size`.
const POOL_SIZE: u32 = 10;

/// How long an operation waits for a free connection, or for a server to answer a connect.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest key the `VARCHAR(255)` key columns hold, and the longest job name.
const MAX_KEY_CHARS: usize = 255;
const MAX_NAME_CHARS: usize = 191;

impl Affected for MySqlQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

struct MySqlStore {
    conns: Conns<MySql>,
    jobs: String,
    claim: PickThenLease,
    backoff: Backoff,
}

/// Connects to the database at `url`.
pub(crate) async fn open(
    url: &str,
    tables: &Tables,
    pool_size: Option<u32>,
) -> Result<Opened, DriverError> {
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
        });
    let conns = Conns::open(options, pool, Writers::SideBySide)
        .await
        .map_err(|e| OpError::Sql(e).into_driver(&store))?;
    let jobs = &tables.jobs;
    let db = MySqlStore {
        conns,
        jobs: jobs.clone(),
        claim: claim(jobs),
        backoff: Backoff::default(),
    };
    Ok(Opened {
        db: Box::new(db),
        syntax: &SYNTAX,
        store,
        fresh: false,
        insert_one: statements::insert_one(jobs, &SYNTAX),
        takes: takes(tables),
        insert_arrays: None,
    })
}

/// MySQL has no `ON CONFLICT … WHERE`: a window or a lock slot is taken by an update of
/// the row when it is free, else by an insert that fails on a taken key. The update
/// joins its binds as a derived table, so it binds them in the same order as the insert.
fn takes(t: &Tables) -> Takes {
    let (w, l) = (&t.windows, &t.locks);
    Takes {
        window: Take {
            first: format!(
                "UPDATE {w} AS w JOIN (SELECT ? AS k, ? AS u, ? AS n) AS v ON w.unique_key = v.k \
                 SET w.expires_at = v.u WHERE w.expires_at <= v.n"
            )
            .into(),
            insert: Some((
                format!("INSERT INTO {w} (unique_key, expires_at) VALUES (?, ?)").into(),
                2,
            )),
        },
        slot: Take {
            first: format!(
                "UPDATE {l} AS l JOIN (SELECT ? AS k, ? AS s, ? AS o, ? AS u, ? AS n) AS v \
                 ON l.lock_key = v.k AND l.slot = v.s SET l.owner = v.o, l.expires_at = v.u \
                 WHERE l.owner = v.o OR l.expires_at <= v.n"
            )
            .into(),
            insert: Some((
                format!("INSERT INTO {l} (lock_key, slot, owner, expires_at) VALUES (?, ?, ?, ?)")
                    .into(),
                4,
            )),
        },
    }
}

/// The claim: its selects lock what they return and start where the last claim stopped.
/// They name the claim index, so that MariaDB reads it as a range from there: on a table
/// whose statistics it took while the table was nearly empty, it reads all of the queue's
/// entries by `queue` alone and filters them, stepping over every entry that earlier
/// claims and acks left behind.
fn claim(jobs: &str) -> PickThenLease {
    let index = format!(" FORCE INDEX ({jobs}_claim)");
    PickThenLease::new(jobs, [&index, " FOR UPDATE SKIP LOCKED"], true, None)
}

/// The rows of `n` leases, binding [`lease_args`]. The ids come first on their own:
/// MariaDB walks the primary key for `id IN (…)` but not for a one-pair
/// `(id, lease_token) IN ((?, ?))`, which it reads as a row comparison and answers with a
/// scan of the whole table (seen acking single jobs on a 60,000-job backlog).
fn held_by(n: usize) -> String {
    format!(
        "id IN ({}) AND (id, lease_token) IN ({})",
        marks(n),
        vec!["(?, ?)"; n].join(", ")
    )
}

/// The binds of [`held_by`]: every id, then every (id, token) pair.
fn lease_args<'a>(leases: impl Iterator<Item = &'a Lease> + Clone, args: &mut Vec<Arg<'a>>) {
    args.extend(leases.clone().map(|lease| Arg::Text(lease.id.as_str())));
    for lease in leases {
        args.extend([Arg::Text(lease.id.as_str()), Arg::Int(lease.token as i64)]);
    }
}

impl MySqlStore {
    /// The jobs whose lease among `leases` is current, with their cancel flag; `lock`
    /// locks them until the transaction ends.
    fn held_sql(&self, n: usize, lock: &str) -> std::sync::Arc<str> {
        let jobs = &self.jobs;
        format!(
            "SELECT id, cancelled FROM {jobs} WHERE {}{lock}",
            held_by(n)
        )
        .into()
    }

    /// Renews up to [`BATCH_ROWS`] leases, then reads which are held and which of those
    /// were asked to cancel (a lease is only renewed, so it stays the job's).
    async fn extend_chunk(&self, leases: &[Lease], deadline: Millis) -> Result<Held, OpError> {
        let mut args = vec![Arg::Int(deadline), Arg::Int(deadline)];
        lease_args(leases.iter(), &mut args);
        let renew = format!(
            "UPDATE {} SET available_at = ?, reserved_until = ? WHERE {}",
            self.jobs,
            held_by(leases.len())
        );
        self.conns.run(&renew.into(), &args).await?;
        let rows = self
            .conns
            .rows(&self.held_sql(leases.len(), ""), &args[2..])
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.text(0)?, r.flag(1)?)))
            .collect()
    }

    /// Acks up to [`BATCH_ROWS`] leases in one `DELETE`. When it deletes fewer rows than
    /// it was given, one read of the ids tells the stale leases (their job is still there)
    /// from the acked ones; should a job of the batch have been removed by someone else
    /// meanwhile as well, the gone jobs cannot be told apart and all count as not acked.
    async fn ack_chunk(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError> {
        let mut args = Vec::with_capacity(leases.len() * 3);
        lease_args(leases.iter().copied(), &mut args);
        let delete = format!("DELETE FROM {} WHERE {}", self.jobs, held_by(leases.len()));
        let deleted = self.conns.run(&delete.into(), &args).await? as usize;
        if deleted == leases.len() {
            return Ok(vec![true; leases.len()]);
        }
        let ids = &args[..leases.len()];
        let left = format!(
            "SELECT id FROM {} WHERE id IN ({})",
            self.jobs,
            marks(ids.len())
        );
        let mut still = HashSet::new();
        for row in self.conns.rows(&left.into(), ids).await? {
            still.insert(row.text(0)?);
        }
        let gone = leases
            .iter()
            .filter(|l| !still.contains(l.id.as_str()))
            .count();
        Ok(leases
            .iter()
            .map(|l| deleted == gone && !still.contains(l.id.as_str()))
            .collect())
    }

    /// Retries up to [`BATCH_ROWS`] jobs in one transaction: a locking read finds the
    /// leases still held, then one `UPDATE … JOIN` retries them all. MySQL has no
    /// `UPDATE … RETURNING`; reading first, with the rows locked until the commit, tells
    /// exactly which jobs the update changed.
    async fn retry_chunk(
        &self,
        tx: &mut dyn Tx,
        retries: &[Retry<'_>],
    ) -> Result<HashSet<String>, OpError> {
        let mut args = Vec::with_capacity(retries.len() * 4);
        lease_args(retries.iter().map(|r| r.lease), &mut args);
        let rows = tx
            .rows(&self.held_sql(retries.len(), " FOR UPDATE"), &args)
            .await?;
        let held: HashSet<String> = rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?;
        if held.is_empty() {
            return Ok(held);
        }
        args.clear();
        for r in retries {
            args.extend([
                Arg::Text(r.lease.id.as_str()),
                Arg::Int(r.lease.token as i64),
                Arg::Int(r.available_at),
                Arg::Text(r.error),
            ]);
        }
        let more = " UNION ALL SELECT ?, ?, ?, ?".repeat(retries.len() - 1);
        let update = format!(
            "UPDATE {} AS j JOIN \
             (SELECT ? AS job_id, ? AS token, ? AS available_at, ? AS error{more}) AS retried \
             ON j.id = retried.job_id AND j.lease_token = retried.token \
             SET j.available_at = retried.available_at, j.reserved_until = NULL, \
             j.lease_token = NULL, j.last_error = retried.error",
            self.jobs
        );
        tx.run(&update.into(), &args).await?;
        Ok(held)
    }
}

/// Refuses a key longer than the key columns hold (it would fail, or be cut).
fn check_length(what: &str, text: &str, max: usize) -> Result<(), DriverError> {
    let chars = text.chars().count();
    if chars <= max {
        return Ok(());
    }
    Err(DriverError::Invalid(format!(
        "the {what} {:?}… is {chars} characters long; MySQL holds at most {max}",
        text.chars().take(40).collect::<String>()
    )))
}

#[async_trait::async_trait]
impl Dialect for MySqlStore {
    fn pool(&self) -> &dyn Pool {
        &self.conns
    }

    fn check_job(&self, job: &NewJob) -> Result<(), DriverError> {
        check_length("job name", &job.name, MAX_NAME_CHARS)?;
        for (what, key) in [
            ("unique key", &job.unique_key),
            ("no-overlap key", &job.overlap_key),
        ] {
            check_length(what, key.as_deref().unwrap_or_default(), MAX_KEY_CHARS)?;
        }
        Ok(())
    }

    fn check_key(&self, what: &str, key: &str) -> Result<(), DriverError> {
        check_length(what, key, MAX_KEY_CHARS)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, OpError> {
        let taken = self.claim.claim(&self.conns, request).await?;
        self.backoff.record(taken.len());
        Ok(taken)
    }

    async fn extend(&self, leases: &[Lease], deadline: Millis) -> Result<Held, OpError> {
        let mut held = HashMap::with_capacity(leases.len());
        for chunk in leases.chunks(BATCH_ROWS) {
            held.extend(self.extend_chunk(chunk, deadline).await?);
        }
        Ok(held)
    }

    async fn ack(&self, leases: &[&Lease]) -> Result<Vec<bool>, OpError> {
        let mut acked = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(BATCH_ROWS) {
            acked.extend(self.ack_chunk(chunk).await?);
        }
        Ok(acked)
    }

    async fn retry(&self, retries: &[Retry<'_>]) -> Result<Vec<bool>, OpError> {
        let mut retried = Vec::with_capacity(retries.len());
        for chunk in retries.chunks(BATCH_ROWS) {
            let mut tx = self.conns.begin().await?;
            let held = self.retry_chunk(&mut *tx, chunk).await;
            let held = settle(tx, held).await?;
            retried.extend(chunk.iter().map(|r| held.contains(r.lease.id.as_str())));
        }
        Ok(retried)
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) {
        self.backoff.wait(timeout).await;
    }
}

#[cfg(test)]
mod tests {
    /// On a table filled with thousands of jobs in every state, each listing page reads
    /// its index as a range, without a filesort or a full scan.
    #[tokio::test]
    async fn listings_read_an_index_range() {
        let url = rakit_job_core::test_support::mysql_url();
        // EXPLAIN's columns: id, select_type, table, type, possible_keys, key, key_len,
        // ref, rows, Extra.
        let step = |row: &crate::db::Row| {
            let text = |i| row.maybe_text(i).ok().flatten().unwrap_or_default();
            format!("type={} key={} extra={}", text(3), text(5), text(9))
        };
        crate::plans::check(&url, "EXPLAIN", step, &["filesort", "type=ALL"]).await;
    }

    /// A claim after a cursor reads the claim index as a range from the cursor on, both for
    /// the rest of the cursor's due time and for the later ones.
    #[tokio::test]
    async fn claims_after_a_cursor_read_the_claim_index_from_there() {
        use crate::db::Arg;
        use crate::statements::DueFrom;
        let driver = crate::plans::filled(&rakit_job_core::test_support::mysql_url()).await;
        let jobs = &driver.tables.jobs;
        let claim = super::claim(jobs);
        let (queue, now, limit) = (Arg::Text("default"), Arg::Int(i64::MAX), Arg::Int(100));
        let due = Arg::Int(rakit_job_core::now_ms() - 60_000);
        for (from, args) in [
            (
                DueFrom::SameDueAfter,
                vec![queue, now, due, Arg::Text(""), limit],
            ),
            (DueFrom::LaterDue, vec![queue, now, due, limit]),
        ] {
            let explain = format!("EXPLAIN {}", claim.due_sql(from));
            let rows = driver.db.pool().rows(&explain.into(), &args).await.unwrap();
            let text = |i| rows[0].maybe_text(i).unwrap().unwrap_or_default();
            let plan = format!("type={} key={}", text(3), text(5));
            assert_eq!(plan, format!("type=range key={jobs}_claim"), "{from:?}");
        }
        crate::plans::drop(driver).await;
    }

    /// Acks, renewals and retries find their rows by primary key for one lease as for
    /// many: MariaDB scans the whole table for a one-pair row comparison on its own.
    #[tokio::test]
    async fn lease_statements_walk_the_primary_key_for_one_lease_and_many() {
        use crate::db::Arg;
        let driver = crate::plans::filled(&rakit_job_core::test_support::mysql_url()).await;
        let jobs = &driver.tables.jobs;
        let leases: Vec<rakit_job_core::Lease> = (0..3)
            .map(|_| rakit_job_core::Lease::new(rakit_job_core::JobId::generate(), "default"))
            .collect();
        for n in [1, 3] {
            let mut args: Vec<Arg<'_>> = Vec::new();
            super::lease_args(leases[..n].iter(), &mut args);
            for statement in [
                format!("EXPLAIN DELETE FROM {jobs} WHERE {}", super::held_by(n)),
                format!(
                    "EXPLAIN UPDATE {jobs} SET worker = 'w' WHERE {}",
                    super::held_by(n)
                ),
                format!(
                    "EXPLAIN SELECT id FROM {jobs} WHERE {} FOR UPDATE",
                    super::held_by(n)
                ),
            ] {
                let rows = driver
                    .db
                    .pool()
                    .rows(&statement.clone().into(), &args)
                    .await
                    .unwrap();
                let access = rows[0].maybe_text(3).unwrap().unwrap_or_default();
                assert_ne!(access, "ALL", "{n} lease(s): {statement} scans the table");
            }
        }
        crate::plans::drop(driver).await;
    }
}
