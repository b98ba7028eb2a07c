//! The physical bound per store: how fast the store itself does the operations one job
//! needs, without any job framework. `pgbench` for PostgreSQL and `redis-benchmark` for
//! Redis (when installed); a plain loop of the same statements for SQLite and MariaDB; the
//! same system calls for the file store; raw protocol round trips for memcached.
//!
//! Two bounds per store: *dispatch* (storing one job) and *burn-down* (claiming one stored
//! job and deleting it when done), each at the burn-down concurrencies of the run; and for
//! the SQL stores a third, the burn-down batched as a busy worker sends it.

use crate::report::Bound;
use crate::store::{MYSQL_URL, Store};
use crate::workload::Settings;
use crate::{BenchError, probe};
use rakit_job::sqlx::{self, AssertSqlSafe, Connection};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long each raw-rate loop or tool run lasts.
const SECONDS: u64 = 5;

/// Rows pre-filled for the claim loops, more than any store claims in [`SECONDS`].
const PREFILL: u64 = 300_000;

/// The bounds of `store` at each concurrency of the run (only 1 for SQLite's single writer).
pub async fn measure(store: Store, s: &Settings) -> Result<Vec<Bound>, BenchError> {
    let mut out = Vec::new();
    let conc: Vec<u64> = match store {
        Store::Sqlite => vec![1],
        _ => s.concurrency.clone(),
    };
    for &c in &conc {
        // Dispatch is compared with one-by-one dispatch (1 client).
        let dispatch_too = c == 1;
        if dispatch_too {
            let dispatch = match store {
                Store::Postgres => pgbench(PgWork::Dispatch, c)?,
                Store::Redis => redis(c)?.0,
                Store::Sqlite | Store::Mysql => sql_loop(store, s, false, c).await?,
                Store::File => file_loop(s, false, c).await?,
                Store::Memcached => memcached(c).await?.0,
            };
            out.push(dispatch);
        }
        match store {
            Store::Postgres => out.push(pgbench(PgWork::ClaimBatch, c)?),
            Store::Sqlite | Store::Mysql => out.push(sql_batch_loop(store, s, c).await?),
            _ => {}
        }
        let burn = match store {
            Store::Postgres => pgbench(PgWork::Claim, c)?,
            Store::Redis => redis(c)?.1,
            Store::Sqlite | Store::Mysql => sql_loop(store, s, true, c).await?,
            Store::File => file_loop(s, true, c).await?,
            Store::Memcached => memcached(c).await?.1,
        };
        out.push(burn);
    }
    Ok(out)
}

fn bound(store: Store, what: &str, concurrency: u64, jobs_per_s: f64, how: &str) -> Bound {
    Bound {
        store: store.name().into(),
        what: what.into(),
        concurrency,
        jobs_per_s,
        how: how.into(),
    }
}

/// Jobs one batched claim takes in the batched loops: a worker at concurrency 64 claims
/// its free slots plus up to 512 ahead (its default `prefetch`).
const CLAIM_BATCH: u64 = 576;

/// Rows pre-filled for pgbench's batched claims, which run until every row is claimed:
/// about [`SECONDS`] at 200k jobs/s.
const PG_BATCH_PREFILL: u64 = 1_000_000;

/// What a pgbench run does per transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PgWork {
    /// Insert one job and NOTIFY.
    Dispatch,
    /// Claim one job, then delete it.
    Claim,
    /// Claim [`CLAIM_BATCH`] jobs in one statement, then delete them in one: the work of a
    /// busy worker, from at most 2 clients (a worker has at most two claims in flight).
    ClaimBatch,
}

/// pgbench with a claim-like script on a table shaped like rakit-job's jobs table.
fn pgbench(work: PgWork, c: u64) -> Result<Bound, BenchError> {
    let claim = work != PgWork::Dispatch;
    let clients = if work == PgWork::ClaimBatch {
        c.min(2)
    } else {
        c
    };
    let psql = |sql: &str| -> Result<(), BenchError> {
        let out = Command::new("psql")
            .args([
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| BenchError::Io(format!("cannot run psql: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(BenchError::Store(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ))
        }
    };
    psql(
        "DROP TABLE IF EXISTS rkb_bound_jobs; \
         CREATE TABLE rkb_bound_jobs (id bigint PRIMARY KEY, name text NOT NULL, queue text NOT NULL, payload text NOT NULL, \
         attempts int NOT NULL DEFAULT 0, available_at bigint NOT NULL, reserved_until bigint, lease_token bigint); \
         CREATE INDEX rkb_bound_claim ON rkb_bound_jobs (queue, available_at, id);",
    )?;
    let rows = match work {
        PgWork::ClaimBatch => PG_BATCH_PREFILL,
        _ => PREFILL,
    };
    if claim {
        psql(&format!(
            "INSERT INTO rkb_bound_jobs (id, name, queue, payload, available_at) \
             SELECT g, 'bench-noop', 'default', '{{\"seq\":1,\"sent_us\":1}}', g FROM generate_series(1, {rows}) g; ANALYZE rkb_bound_jobs;"
        ))?;
    }
    // Batched claims run a fixed number of transactions that the rows cover, so no claim
    // comes back empty: an empty one would count as a full batch in pgbench's rate.
    let length = match work {
        PgWork::ClaimBatch => ["-t".to_string(), (rows / CLAIM_BATCH / clients).to_string()],
        _ => ["-T".to_string(), SECONDS.to_string()],
    };
    let script = match work {
        // Claim one due job under SKIP LOCKED with a fresh lease token, then delete it by id and token (the ack).
        PgWork::Claim => {
            "\\set tok random(1, 9000000000000)\n\
         WITH picked AS (SELECT id FROM rkb_bound_jobs WHERE queue = 'default' AND available_at <= 9000000000000 \
         ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         UPDATE rkb_bound_jobs t SET attempts = t.attempts + 1, available_at = 9100000000000, reserved_until = 9100000000000, \
         lease_token = :tok FROM picked WHERE t.id = picked.id RETURNING t.id AS claimed, t.payload AS body \\gset\n\
         DELETE FROM rkb_bound_jobs WHERE id = :claimed AND lease_token = :tok;\n"
        }
        // A batch claimed the way rakit-job's driver claims (rows found again by ctid), then
        // deleted in one statement by lease token.
        PgWork::ClaimBatch => &format!(
            "\\set tok random(1, 9000000000000)\n\
             WITH picked AS (SELECT id, ctid AS row_at FROM rkb_bound_jobs WHERE queue = 'default' \
             AND available_at <= 9000000000000 ORDER BY available_at, id LIMIT {CLAIM_BATCH} FOR UPDATE SKIP LOCKED) \
             UPDATE rkb_bound_jobs t SET attempts = t.attempts + 1, available_at = 9100000000000, \
             reserved_until = 9100000000000, lease_token = :tok FROM picked \
             WHERE t.ctid = picked.row_at AND t.id = picked.id;\n\
             DELETE FROM rkb_bound_jobs WHERE queue = 'default' AND available_at = 9100000000000 \
             AND lease_token = :tok;\n"
        ),
        // The push: insert and NOTIFY in one statement, as rakit-job's PostgreSQL driver does.
        PgWork::Dispatch => {
            "WITH stored AS (INSERT INTO rkb_bound_jobs (id, name, queue, payload, available_at) \
         VALUES ((random() * 9e18)::bigint, 'bench-noop', 'default', '{\"seq\":1,\"sent_us\":1}', 1) RETURNING queue) \
         SELECT pg_notify('rkb_bound_pushed', queue) FROM stored;\n"
        }
    };
    let file = std::env::temp_dir().join(format!("rkb-pgbench-{}.sql", std::process::id()));
    std::fs::write(&file, script)
        .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", file.display())))?;
    let out = Command::new("pgbench")
        .args(["-n", "-h", "127.0.0.1", "-U", "postgres", "-f"])
        .arg(&file)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(&length)
        .arg("test")
        .output()
        .map_err(|e| BenchError::Io(format!("cannot run pgbench (is it installed?): {e}")))?;
    let _ = std::fs::remove_file(&file);
    let _ = psql("DROP TABLE IF EXISTS rkb_bound_jobs");
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l[6..].split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| {
            BenchError::Store(format!(
                "pgbench printed no tps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })?;
    Ok(match work {
        PgWork::Claim => bound(
            Store::Postgres,
            "burn-down: claim (UPDATE … SKIP LOCKED RETURNING) + delete",
            c,
            tps,
            "pgbench",
        ),
        PgWork::ClaimBatch => bound(
            Store::Postgres,
            &format!(
                "burn-down as a busy worker does it: claim {CLAIM_BATCH} in one UPDATE, delete them in one statement, {clients} client(s)"
            ),
            c,
            tps * CLAIM_BATCH as f64,
            "pgbench",
        ),
        PgWork::Dispatch => bound(
            Store::Postgres,
            "dispatch: insert + NOTIFY",
            c,
            tps,
            "pgbench",
        ),
    })
}

/// redis-benchmark's rate for one script call (`EVALSHA`-like round trip) at `c` clients;
/// rakit-job needs 1 per dispatch (the push script) and 2 per burned job (claim + ack).
fn redis(c: u64) -> Result<(Bound, Bound), BenchError> {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "-q",
            "-n",
            "100000",
            "-c",
            &c.to_string(),
        ])
        .args([
            "EVAL",
            "redis.call('HSET', KEYS[1], 'p', ARGV[1]) return redis.call('DEL', KEYS[1])",
            "1",
            "rkb:bound:job",
            "{\"seq\":1}",
        ])
        .output()
        .map_err(|e| {
            BenchError::Io(format!(
                "cannot run redis-benchmark (is it installed?): {e}"
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let rps = text
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|v| v.parse::<f64>().ok())
        .next_back()
        .ok_or_else(|| {
            BenchError::Store(format!("redis-benchmark printed no rate: {}", text.trim()))
        })?;
    Ok((
        bound(
            Store::Redis,
            "dispatch: 1 round trip (the push script)",
            c,
            rps,
            "redis-benchmark, EVAL of HSET+DEL",
        ),
        bound(
            Store::Redis,
            "burn-down: 2 round trips (claim script + ack script)",
            c,
            rps / 2.0,
            "redis-benchmark, EVAL of HSET+DEL",
        ),
    ))
}

/// A fresh bound table for the SQL loops, pre-filled with due jobs when `claim`; returns
/// its connection URL and the connection that made it.
async fn sql_table(store: Store, s: &Settings, claim: bool) -> Result<(String, Conn), BenchError> {
    let sqlite = store == Store::Sqlite;
    let path = s.data.join("rkb-bound.db");
    let url = if sqlite {
        format!("sqlite://{}", path.display())
    } else {
        MYSQL_URL.to_string()
    };
    if sqlite {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let ddl = [
        "DROP TABLE IF EXISTS rkb_bound_jobs",
        "CREATE TABLE rkb_bound_jobs (id VARCHAR(40) PRIMARY KEY, name VARCHAR(100) NOT NULL, queue VARCHAR(100) NOT NULL, \
         payload TEXT NOT NULL, attempts INT NOT NULL DEFAULT 0, available_at BIGINT NOT NULL, reserved_until BIGINT, lease_token BIGINT)",
        "CREATE INDEX rkb_bound_claim ON rkb_bound_jobs (queue, available_at, id)",
    ];
    let mut admin = Conn::open(sqlite, &url).await?;
    for stmt in ddl {
        admin.exec(stmt, &[]).await?;
    }
    if claim {
        let rows = PREFILL / 10;
        let mut first = 0;
        while first < rows {
            let values: Vec<String> = (first..(first + 1000).min(rows))
                .map(|i| {
                    format!(
                        "('j{i:09}', 'bench-noop', 'default', '{{\"seq\":1,\"sent_us\":1}}', {i})"
                    )
                })
                .collect();
            admin
                .exec(&format!("INSERT INTO rkb_bound_jobs (id, name, queue, payload, available_at) VALUES {}", values.join(",")), &[])
                .await?;
            first += 1000;
        }
    }
    Ok((url, admin))
}

/// A loop of the SQL statements one job needs, from `c` connections for [`SECONDS`].
async fn sql_loop(store: Store, s: &Settings, claim: bool, c: u64) -> Result<Bound, BenchError> {
    let sqlite = store == Store::Sqlite;
    let (url, admin) = sql_table(store, s, claim).await?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..c {
        let (url, done) = (url.clone(), done.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(sqlite, &url).await?;
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let id = format!("b{t}_{i}_{}", probe::now_us());
                if claim {
                    if !conn.claim_and_ack(i as i64 + (t as i64) * 1_000_000_000).await? {
                        break;
                    }
                } else {
                    conn.exec(
                        "INSERT INTO rkb_bound_jobs (id, name, queue, payload, available_at) VALUES (?, 'bench-noop', 'default', '{\"seq\":1,\"sent_us\":1}', 1)",
                        &[&id],
                    )
                    .await?;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, BenchError>(())
        });
    }
    let rate = sql_rate(tasks, &done, admin).await?;
    let how = sql_how(sqlite);
    let what = match (claim, sqlite) {
        (false, _) => "dispatch: insert",
        (true, true) => "burn-down: BEGIN IMMEDIATE, select + update (claim), commit; delete",
        (true, false) => {
            "burn-down: BEGIN, select … FOR UPDATE SKIP LOCKED, update, COMMIT; delete"
        }
    };
    Ok(bound(store, what, c, rate, how))
}

/// The SQL claim and delete batched [`CLAIM_BATCH`] jobs a transaction, as a busy worker
/// sends them, from at most 2 connections (a worker has at most two claims in flight;
/// SQLite's single writer takes one) for [`SECONDS`].
async fn sql_batch_loop(store: Store, s: &Settings, c: u64) -> Result<Bound, BenchError> {
    let sqlite = store == Store::Sqlite;
    let clients = if sqlite { 1 } else { c.min(2) };
    let (url, admin) = sql_table(store, s, true).await?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..clients {
        let (url, done) = (url.clone(), done.clone());
        tasks.spawn(async move {
            let mut conn = Conn::open(sqlite, &url).await?;
            let mut i = 0i64;
            while Instant::now() < deadline {
                i += 1;
                let taken = conn
                    .claim_batch_and_ack(i + t as i64 * 1_000_000_000)
                    .await?;
                if taken == 0 {
                    break;
                }
                done.fetch_add(taken, Ordering::Relaxed);
            }
            Ok::<_, BenchError>(())
        });
    }
    let rate = sql_rate(tasks, &done, admin).await?;
    let claim = if sqlite {
        "BEGIN IMMEDIATE, select + update"
    } else {
        "select … FOR UPDATE SKIP LOCKED + update"
    };
    let what = format!(
        "burn-down as a busy worker does it: claim {CLAIM_BATCH} in one transaction ({claim}), delete them in one statement, {clients} client(s)"
    );
    Ok(bound(store, &what, c, rate, sql_how(sqlite)))
}

/// Waits for the loops `tasks`, drops the bound table through `admin`, and returns the
/// rate of the `done` jobs since the loops were started.
async fn sql_rate(
    mut tasks: tokio::task::JoinSet<Result<(), BenchError>>,
    done: &AtomicU64,
    mut admin: Conn,
) -> Result<f64, BenchError> {
    let start = Instant::now();
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| BenchError::Worker(e.to_string()))??;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let _ = admin.exec("DROP TABLE IF EXISTS rkb_bound_jobs", &[]).await;
    Ok(rate)
}

/// How the SQL loops measured.
fn sql_how(sqlite: bool) -> &'static str {
    if sqlite {
        "a loop of the same statements (sqlx, WAL, synchronous=NORMAL)"
    } else {
        "a loop of the same statements (sqlx)"
    }
}

/// One connection of the SQL loops, SQLite or MariaDB.
enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Mysql(sqlx::MySqlConnection),
}

impl Conn {
    async fn open(sqlite: bool, url: &str) -> Result<Conn, BenchError> {
        use std::str::FromStr;
        if sqlite {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(BenchError::store)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            Ok(Conn::Sqlite(
                sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .map_err(BenchError::store)?,
            ))
        } else {
            let mut conn = sqlx::MySqlConnection::connect(url)
                .await
                .map_err(BenchError::store)?;
            // The driver's isolation: at MariaDB's default (repeatable read) two batched
            // claims deadlock on each other's gap locks.
            sqlx::Executor::execute(
                &mut conn,
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            )
            .await
            .map_err(BenchError::store)?;
            Ok(Conn::Mysql(conn))
        }
    }

    async fn exec(&mut self, sql: &str, binds: &[&str]) -> Result<(), BenchError> {
        match self {
            Conn::Sqlite(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(c).await.map_err(BenchError::store)?;
            }
            Conn::Mysql(c) => {
                let mut q = sqlx::query(AssertSqlSafe(sql.to_string()));
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(c).await.map_err(BenchError::store)?;
            }
        }
        Ok(())
    }

    /// Claims the [`CLAIM_BATCH`] oldest due jobs with lease token `tok` in one
    /// transaction, then deletes them in one statement; returns how many it took.
    async fn claim_batch_and_ack(&mut self, tok: i64) -> Result<u64, BenchError> {
        use sqlx::Row;
        let pick = format!(
            "SELECT id, payload FROM rkb_bound_jobs WHERE queue = 'default' AND available_at <= 9000000000000 \
             AND lease_token IS NULL ORDER BY available_at, id LIMIT {CLAIM_BATCH}{}",
            if matches!(self, Conn::Mysql(_)) {
                " FOR UPDATE SKIP LOCKED"
            } else {
                ""
            }
        );
        let in_list = |n: usize| vec!["?"; n].join(", ");
        let lease = |n: usize| {
            format!(
                "UPDATE rkb_bound_jobs SET attempts = attempts + 1, available_at = 9100000000000, \
                 reserved_until = 9100000000000, lease_token = ? WHERE id IN ({})",
                in_list(n)
            )
        };
        let ack = |n: usize| {
            format!(
                "DELETE FROM rkb_bound_jobs WHERE id IN ({}) AND lease_token = ?",
                in_list(n)
            )
        };
        macro_rules! claim_then_ack {
            ($conn:expr, $begin:expr) => {{
                let mut tx = $begin.await.map_err(BenchError::store)?;
                let rows = sqlx::query(AssertSqlSafe(pick))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(BenchError::store)?;
                let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut update = sqlx::query(AssertSqlSafe(lease(ids.len()))).bind(tok);
                for id in &ids {
                    update = update.bind(id);
                }
                update.execute(&mut *tx).await.map_err(BenchError::store)?;
                tx.commit().await.map_err(BenchError::store)?;
                let mut delete = sqlx::query(AssertSqlSafe(ack(ids.len())));
                for id in &ids {
                    delete = delete.bind(id);
                }
                delete
                    .bind(tok)
                    .execute(&mut *$conn)
                    .await
                    .map_err(BenchError::store)?;
                Ok(ids.len() as u64)
            }};
        }
        match self {
            Conn::Sqlite(c) => claim_then_ack!(c, c.begin_with("BEGIN IMMEDIATE")),
            Conn::Mysql(c) => claim_then_ack!(c, c.begin()),
        }
    }

    /// Claims the oldest due job with lease token `tok` and deletes it; false when none is left.
    async fn claim_and_ack(&mut self, tok: i64) -> Result<bool, BenchError> {
        use sqlx::Row;
        const PICK: &str = "SELECT id, payload FROM rkb_bound_jobs WHERE queue = 'default' AND available_at <= 9000000000000 \
                            AND lease_token IS NULL ORDER BY available_at, id LIMIT 1";
        const LEASE: &str = "UPDATE rkb_bound_jobs SET attempts = attempts + 1, available_at = 9100000000000, \
                             reserved_until = 9100000000000, lease_token = ? WHERE id = ?";
        const ACK: &str = "DELETE FROM rkb_bound_jobs WHERE id = ? AND lease_token = ?";
        match self {
            Conn::Sqlite(c) => {
                let mut tx = c
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(BenchError::store)?;
                let row = sqlx::query(PICK)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(BenchError::store)?;
                let Some(row) = row else { return Ok(false) };
                let id: String = row.get(0);
                sqlx::query(LEASE)
                    .bind(tok)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(BenchError::store)?;
                tx.commit().await.map_err(BenchError::store)?;
                sqlx::query(ACK)
                    .bind(&id)
                    .bind(tok)
                    .execute(&mut *c)
                    .await
                    .map_err(BenchError::store)?;
            }
            Conn::Mysql(c) => {
                let mut tx = c.begin().await.map_err(BenchError::store)?;
                let pick = format!("{PICK} FOR UPDATE SKIP LOCKED");
                let row = sqlx::query(AssertSqlSafe(pick))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(BenchError::store)?;
                let Some(row) = row else { return Ok(false) };
                let id: String = row.get(0);
                sqlx::query(LEASE)
                    .bind(tok)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(BenchError::store)?;
                tx.commit().await.map_err(BenchError::store)?;
                sqlx::query(ACK)
                    .bind(&id)
                    .bind(tok)
                    .execute(&mut *c)
                    .await
                    .map_err(BenchError::store)?;
            }
        }
        Ok(true)
    }
}

/// The file store's system calls: dispatch = temp file, write, fsync, rename, fsync the
/// folder; burn-down = rename into `reserved/`, read, delete.
async fn file_loop(s: &Settings, claim: bool, c: u64) -> Result<Bound, BenchError> {
    let root = s
        .data
        .join(format!("rkb-bound-files-{}", std::process::id()));
    let (ready, reserved) = (root.join("ready"), root.join("reserved"));
    let io = |e: std::io::Error| BenchError::Io(format!("file bound: {e}"));
    std::fs::create_dir_all(&ready).map_err(io)?;
    std::fs::create_dir_all(&reserved).map_err(io)?;
    let body =
        br#"{"id":"x","name":"bench-noop","queue":"default","payload":{"seq":1,"sent_us":1}}"#;
    if claim {
        for i in 0..PREFILL / 10 {
            std::fs::write(ready.join(format!("j{i:09}")), body).map_err(io)?;
        }
    }
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..c {
        let (ready, reserved, done) = (ready.clone(), reserved.clone(), done.clone());
        tasks.spawn_blocking(move || {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                if claim {
                    // Each task takes its own slice of names, so no two claim the same file.
                    let n = t + c * (i - 1);
                    if n >= PREFILL / 10 {
                        break;
                    }
                    let name = format!("j{n:09}");
                    let held = reserved.join(&name);
                    std::fs::rename(ready.join(&name), &held)?;
                    std::fs::read(&held)?;
                    std::fs::remove_file(&held)?;
                } else {
                    write_durably(&ready, &format!("d{t}_{i}"), body)?;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, std::io::Error>(())
        });
    }
    let start = Instant::now();
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| BenchError::Worker(e.to_string()))?
            .map_err(io)?;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&root);
    let what = if claim {
        "burn-down: rename into reserved/, read, delete"
    } else {
        "dispatch: write, fsync, rename, fsync folder"
    };
    Ok(bound(
        Store::File,
        what,
        c,
        rate,
        "a loop of the same system calls",
    ))
}

fn write_durably(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temp = dir.join(format!(".tmp-{name}"));
    let mut f = std::fs::File::create(&temp)?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(&temp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// memcached round trips: `set` then `gets` then `delete` on one key per job, from `c`
/// connections; rakit-job's driver needs more round trips than this per job (CAS on the
/// queue index), so this is a generous bound.
async fn memcached(c: u64) -> Result<(Bound, Bound), BenchError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..c {
        let done = done.clone();
        tasks.spawn(async move {
            let stream = tokio::net::TcpStream::connect("127.0.0.1:11211").await?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let mut line = String::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let key = format!("rkb.bound.{t}.{i}");
                let body = r#"{"seq":1,"sent_us":1}"#;
                write
                    .write_all(format!("set {key} 0 60 {}\r\n{body}\r\n", body.len()).as_bytes())
                    .await?;
                line.clear();
                read.read_line(&mut line).await?;
                write
                    .write_all(format!("gets {key}\r\n").as_bytes())
                    .await?;
                loop {
                    line.clear();
                    if read.read_line(&mut line).await? == 0 || line.starts_with("END") {
                        break;
                    }
                }
                write
                    .write_all(format!("delete {key}\r\n").as_bytes())
                    .await?;
                line.clear();
                read.read_line(&mut line).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, std::io::Error>(())
        });
    }
    let start = Instant::now();
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| BenchError::Worker(e.to_string()))?
            .map_err(BenchError::store)?;
    }
    let trips = done.load(Ordering::Relaxed) as f64 * 3.0 / start.elapsed().as_secs_f64();
    Ok((
        bound(
            Store::Memcached,
            "dispatch: 2 round trips (set + CAS of the queue index), at best",
            c,
            trips / 2.0,
            "raw text protocol",
        ),
        bound(
            Store::Memcached,
            "burn-down: 3 round trips (gets + CAS + delete), at best",
            c,
            trips / 3.0,
            "raw text protocol",
        ),
    ))
}
