//! apalis 1.0 as a benchmarked system: apalis-sqlite, apalis-postgres and apalis-redis,
//! each isolated by queue name (the target's namespace) and, on SQLite, by file.

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use rakit_job_benches::store::{POSTGRES_URL, REDIS_URL, Store, Target, redis_delete_prefix};
use rakit_job_benches::system::{Bulk, Client, Payload, System, WorkerCtx};
use rakit_job_benches::{BenchError, probe};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Jobs per `push_bulk` call for the bulk figure.
const BATCH: usize = 1000;

/// apalis 1.0.
pub struct Apalis;

/// The no-op job: records that it ran.
async fn noop(payload: Payload) -> Result<(), BoxDynError> {
    probe::ran(&payload);
    Ok(())
}

/// A pool on the target's SQLite file with the same settings rakit-job uses (WAL,
/// synchronous = NORMAL, a busy timeout).
pub async fn sqlite_pool(target: &Target) -> Result<sqlx::SqlitePool, BenchError> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&target.url())
        .map_err(BenchError::store)?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .map_err(BenchError::store)
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Store(format!("apalis: {e}"))
}

enum Sink {
    Sqlite(SqliteStorage<Payload>, sqlx::SqlitePool),
    Postgres(PostgresStorage<Payload>, sqlx::PgPool),
    Redis(
        RedisStorage<Payload>,
        apalis_redis::ConnectionManager,
        String,
    ),
}

struct ApalisClient {
    sink: Mutex<Sink>,
    target: Target,
}

#[async_trait::async_trait]
impl System for Apalis {
    fn name(&self) -> &'static str {
        "apalis"
    }

    fn supports(&self, store: Store) -> bool {
        matches!(store, Store::Sqlite | Store::Postgres | Store::Redis)
    }

    fn wakeup(&self, store: Store) -> String {
        match store {
            Store::Postgres => "LISTEN/NOTIFY (with_pubsub)".into(),
            Store::Sqlite => "polls every sleep_ms (poll_with_interval)".into(),
            _ => "apalis-redis default polling".into(),
        }
    }

    async fn client(&self, target: &Target) -> Result<Arc<dyn Client>, BenchError> {
        std::fs::create_dir_all(&target.dir).map_err(|e| BenchError::Io(e.to_string()))?;
        let ns = target.ns.clone();
        let sink = match target.store {
            Store::Sqlite => {
                let pool = sqlite_pool(target).await?;
                SqliteStorage::<()>::setup(&pool).await.map_err(err)?;
                let storage = SqliteStorage::new(&pool)
                    .with_config(apalis_sqlite::Config::default().queue(&ns));
                Sink::Sqlite(storage, pool)
            }
            Store::Postgres => {
                let pool = sqlx::PgPool::connect(POSTGRES_URL)
                    .await
                    .map_err(BenchError::store)?;
                PostgresStorage::<()>::setup(&pool).await.map_err(err)?;
                let storage = PostgresStorage::new(&pool)
                    .with_config(apalis_postgres::Config::default().queue(&ns));
                Sink::Postgres(storage, pool)
            }
            Store::Redis => {
                let conn = apalis_redis::connect(REDIS_URL).await.map_err(err)?;
                let config = apalis_redis::Config::default().queue(&ns);
                let active = config.active_jobs_list();
                Sink::Redis(
                    RedisStorage::new(conn.clone()).with_config(config),
                    conn,
                    active,
                )
            }
            other => {
                return Err(BenchError::Usage(format!(
                    "apalis has no {} backend",
                    other.name()
                )));
            }
        };
        Ok(Arc::new(ApalisClient {
            sink: Mutex::new(sink),
            target: target.clone(),
        }))
    }

    async fn work(&self, target: &Target, ctx: WorkerCtx) -> Result<(), BenchError> {
        let name = format!("bench-{}", std::process::id());
        let ns = target.ns.clone();
        // Fetch at least one job per slot at a time (apalis's default is 10 per fetch).
        let batch = ctx.concurrency.max(10);
        let stop = ctx.stopped();
        let signal = async move {
            stop.await;
            Ok::<(), WorkerError>(())
        };
        match target.store {
            Store::Sqlite => {
                let pool = sqlite_pool(target).await?;
                let storage = SqliteStorage::new(&pool)
                    .with_config(
                        apalis_sqlite::Config::default()
                            .queue(&ns)
                            .batch_size(batch),
                    )
                    .poll_with_interval(Duration::from_millis(ctx.sleep_ms));
                ctx.ready();
                ctx.go().await;
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(storage)
                    .concurrency(ctx.concurrency)
                    .build(noop);
                worker.run_until(signal).await.map_err(err)?;
            }
            Store::Postgres => {
                let pool = sqlx::PgPool::connect(POSTGRES_URL)
                    .await
                    .map_err(BenchError::store)?;
                let storage = PostgresStorage::new(&pool)
                    .with_config(
                        apalis_postgres::Config::default()
                            .queue(&ns)
                            .batch_size(batch),
                    )
                    .with_pubsub();
                ctx.ready();
                ctx.go().await;
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(storage)
                    .concurrency(ctx.concurrency)
                    .build(noop);
                worker.run_until(signal).await.map_err(err)?;
            }
            Store::Redis => {
                let conn = apalis_redis::connect(REDIS_URL).await.map_err(err)?;
                let config = apalis_redis::Config::default().queue(&ns).batch_size(batch);
                let storage = RedisStorage::new(conn).with_config(config);
                ctx.ready();
                ctx.go().await;
                let worker = WorkerBuilder::new(name.as_str())
                    .backend(storage)
                    .concurrency(ctx.concurrency)
                    .build(noop);
                worker.run_until(signal).await.map_err(err)?;
            }
            other => {
                return Err(BenchError::Usage(format!(
                    "apalis has no {} backend",
                    other.name()
                )));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Client for ApalisClient {
    async fn dispatch(&self, seq: u64) -> Result<(), BenchError> {
        let p = Payload::now(seq);
        match &mut *self.sink.lock().await {
            Sink::Sqlite(s, _) => s.push(p).await.map_err(err),
            Sink::Postgres(s, _) => s.push(p).await.map_err(err),
            Sink::Redis(s, _, _) => s.push(p).await.map_err(err),
        }
    }

    fn bulk(&self) -> Bulk {
        Bulk::Native(BATCH)
    }

    async fn dispatch_batch(&self, first: u64, count: u64) -> Result<(), BenchError> {
        let batch: Vec<Payload> = (first..first + count).map(Payload::now).collect();
        match &mut *self.sink.lock().await {
            Sink::Sqlite(s, _) => s.push_bulk(batch).await.map_err(err),
            Sink::Postgres(s, _) => s.push_bulk(batch).await.map_err(err),
            Sink::Redis(s, _, _) => s.push_bulk(batch).await.map_err(err),
        }
    }

    async fn pending(&self) -> Result<u64, BenchError> {
        const LEFT: &str = "status IN ('Pending', 'Queued', 'Running')";
        let ns = &self.target.ns;
        match &mut *self.sink.lock().await {
            Sink::Sqlite(_, pool) => {
                let sql = format!("SELECT COUNT(*) FROM Jobs WHERE job_type = ? AND {LEFT}");
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(ns)
                    .fetch_one(&*pool)
                    .await
                    .map_err(BenchError::store)?;
                Ok(n as u64)
            }
            Sink::Postgres(_, pool) => {
                let sql =
                    format!("SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1 AND {LEFT}");
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(ns)
                    .fetch_one(&*pool)
                    .await
                    .map_err(BenchError::store)?;
                Ok(n as u64)
            }
            Sink::Redis(_, conn, active) => {
                let n: u64 = redis::cmd("LLEN")
                    .arg(&*active)
                    .query_async(conn)
                    .await
                    .map_err(BenchError::store)?;
                Ok(n)
            }
        }
    }

    async fn cleanup(&self) -> Result<(), BenchError> {
        let ns = self.target.ns.clone();
        match &mut *self.sink.lock().await {
            Sink::Sqlite(_, pool) => {
                pool.close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!(
                        "{}{suffix}",
                        self.target.sqlite_path().display()
                    ));
                }
                Ok(())
            }
            Sink::Postgres(_, pool) => {
                sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
                    .bind(&ns)
                    .execute(&*pool)
                    .await
                    .map_err(BenchError::store)?;
                Ok(())
            }
            Sink::Redis(..) => redis_delete_prefix(&ns).await,
        }
    }
}
