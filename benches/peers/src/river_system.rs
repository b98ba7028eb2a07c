//! riverqueue 0.5 (River's Rust client) as a benchmarked system, on PostgreSQL and SQLite,
//! isolated by queue name (the target's namespace) and, on SQLite, by file.

use crate::apalis_system::sqlite_pool;
use rakit_job_benches::store::{POSTGRES_URL, Store, Target};
use rakit_job_benches::system::{Bulk, Client, Payload, System, WorkerCtx};
use rakit_job_benches::{BenchError, probe};
use riverqueue::migrate::{PostgresMigrator, SqliteMigrator};
use riverqueue::{
    BoxError, InsertOpts, Job, JobArgs, QueueConfig, WorkContext, WorkOutcome, Workers,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Jobs per `insert_many` call for the bulk figure.
const BATCH: usize = 1000;

/// riverqueue 0.5.
pub struct River;

/// The job's arguments: the same fields as every system's payload.
#[derive(Clone, Debug, Deserialize, JobArgs, Serialize)]
#[river(kind = "bench_noop")]
struct RiverNoop {
    seq: u64,
    sent_us: u64,
}

impl From<Payload> for RiverNoop {
    fn from(p: Payload) -> Self {
        RiverNoop {
            seq: p.seq,
            sent_us: p.sent_us,
        }
    }
}

async fn noop(_ctx: WorkContext, job: Job<RiverNoop>) -> Result<WorkOutcome, BoxError> {
    probe::ran(&Payload {
        seq: job.args.seq,
        sent_us: job.args.sent_us,
    });
    Ok(WorkOutcome::Complete)
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Store(format!("riverqueue: {e}"))
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    async fn open(target: &Target) -> Result<Pool, BenchError> {
        match target.store {
            Store::Sqlite => Ok(Pool::Sqlite(sqlite_pool(target).await?)),
            Store::Postgres => Ok(Pool::Postgres(
                sqlx::PgPool::connect(POSTGRES_URL)
                    .await
                    .map_err(BenchError::store)?,
            )),
            other => Err(BenchError::Usage(format!(
                "riverqueue has no {} backend",
                other.name()
            ))),
        }
    }

    fn builder(&self) -> riverqueue::ClientBuilder {
        match self {
            Pool::Sqlite(p) => riverqueue::Client::builder(p.clone()),
            Pool::Postgres(p) => riverqueue::Client::builder(p.clone()),
        }
    }
}

struct RiverClient {
    client: riverqueue::Client,
    pool: Pool,
    target: Target,
}

#[async_trait::async_trait]
impl System for River {
    fn name(&self) -> &'static str {
        "riverqueue"
    }

    fn supports(&self, store: Store) -> bool {
        matches!(store, Store::Sqlite | Store::Postgres)
    }

    fn wakeup(&self, store: Store) -> String {
        match store {
            Store::Postgres => {
                "LISTEN/NOTIFY, 1 s fallback poll (default), fetch cooldown set to 1 ms".into()
            }
            _ => "polls every 1 s (default), fetch cooldown set to 1 ms".into(),
        }
    }

    async fn client(&self, target: &Target) -> Result<Arc<dyn Client>, BenchError> {
        std::fs::create_dir_all(&target.dir).map_err(|e| BenchError::Io(e.to_string()))?;
        let pool = Pool::open(target).await?;
        match &pool {
            Pool::Sqlite(p) => SqliteMigrator::new(p.clone())
                .migrate_up()
                .await
                .map(|_| ())
                .map_err(err)?,
            Pool::Postgres(p) => PostgresMigrator::new(p.clone())
                .migrate_up()
                .await
                .map(|_| ())
                .map_err(err)?,
        }
        let client = pool.builder().build().map_err(err)?;
        Ok(Arc::new(RiverClient {
            client,
            pool,
            target: target.clone(),
        }))
    }

    async fn work(&self, target: &Target, ctx: WorkerCtx) -> Result<(), BenchError> {
        let pool = Pool::open(target).await?;
        let mut workers = Workers::new();
        workers.add_fn(noop).map_err(err)?;
        let client = pool
            .builder()
            .workers(workers)
            // River paces fetches by a cooldown (100 ms by default), which caps a queue at
            // max_workers jobs per cooldown; the bench gives it the minimum, 1 ms, so that
            // River is measured at its fastest rather than at its default pacing.
            .fetch_cooldown(Duration::from_millis(1))
            .queue(target.ns.clone(), QueueConfig::new(ctx.concurrency))
            .build()
            .map_err(err)?;
        ctx.ready();
        ctx.go().await;
        let mut run = client.start().map_err(err)?;
        ctx.stop().await;
        run.stop().await.map_err(err)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Client for RiverClient {
    async fn dispatch(&self, seq: u64) -> Result<(), BenchError> {
        let args = RiverNoop::from(Payload::now(seq));
        self.client
            .insert(args)
            .opts(InsertOpts::default().with_queue(self.target.ns.clone()))
            .await
            .map_err(err)?;
        Ok(())
    }

    fn bulk(&self) -> Bulk {
        Bulk::Native(BATCH)
    }

    async fn dispatch_batch(&self, first: u64, count: u64) -> Result<(), BenchError> {
        let opts = InsertOpts::default().with_queue(self.target.ns.clone());
        let jobs: Vec<(RiverNoop, InsertOpts)> = (first..first + count)
            .map(|seq| (RiverNoop::from(Payload::now(seq)), opts.clone()))
            .collect();
        self.client.insert_many(jobs).await.map_err(err)?;
        Ok(())
    }

    async fn pending(&self) -> Result<u64, BenchError> {
        const LEFT: &str = "state NOT IN ('completed', 'cancelled', 'discarded')";
        let ns = &self.target.ns;
        let n: i64 = match &self.pool {
            Pool::Sqlite(p) => {
                let sql = format!("SELECT COUNT(*) FROM river_job WHERE queue = ? AND {LEFT}");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(ns)
                    .fetch_one(p)
                    .await
                    .map_err(BenchError::store)?
            }
            Pool::Postgres(p) => {
                let sql = format!("SELECT COUNT(*) FROM river_job WHERE queue = $1 AND {LEFT}");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(ns)
                    .fetch_one(p)
                    .await
                    .map_err(BenchError::store)?
            }
        };
        Ok(n as u64)
    }

    async fn cleanup(&self) -> Result<(), BenchError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                p.close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!(
                        "{}{suffix}",
                        self.target.sqlite_path().display()
                    ));
                }
            }
            Pool::Postgres(p) => {
                sqlx::query("DELETE FROM river_job WHERE queue = $1")
                    .bind(&self.target.ns)
                    .execute(p)
                    .await
                    .map_err(BenchError::store)?;
            }
        }
        Ok(())
    }
}
