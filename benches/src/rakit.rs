//! rakit-job as a benchmarked [`System`]: a no-op `#[job]`, dispatch through a [`Queue`],
//! and a [`Worker`] in the worker process, configured as an application would.

use crate::store::{Store, Target, memcached_flush, redis_delete_prefix};
use crate::system::{Bulk, Client, Payload, System, WorkerCtx};
use crate::{BenchError, probe};
use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::sync::Arc;
use std::time::Duration;

/// Jobs per bulk dispatch, as the peers' bulk figures use.
const BATCH: u64 = 1_000;

/// The benchmark's job: records that it ran, and nothing else.
#[job(name = "bench-noop")]
pub struct BenchNoop {
    /// Its sequence number.
    pub seq: u64,
    /// When it was dispatched, in microseconds since the Unix epoch.
    pub sent_us: u64,
}

impl Jobable for BenchNoop {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        probe::ran(&Payload {
            seq: self.seq,
            sent_us: self.sent_us,
        });
        Ok(())
    }
}

/// rakit-job, with every driver compiled in.
pub struct Rakit;

impl Rakit {
    /// The configuration a worker and a client on `target` use: the target's own tables or
    /// key prefix, no per-job log lines, no `max_job` limit, poll interval `sleep_ms`.
    pub fn config(target: &Target, sleep_ms: u64) -> Config {
        Config {
            driver: match target.store {
                Store::Sqlite | Store::Postgres | Store::Mysql => "",
                Store::Redis => "redis",
                Store::File => "file",
                Store::Memcached => "memcached",
            }
            .into(),
            url: target.url(),
            table: format!("{}_jobs", target.ns),
            failed_table: format!("{}_failed", target.ns),
            key: target.ns.clone(),
            logging: false,
            max_job: 0,
            sleep_ms,
            ..Config::default()
        }
    }

    /// Creates the SQL tables the way a user does: `job:table`, then `migrate`, run by this
    /// very binary (its `cli` subcommand is rakit-job's CLI) with `RAKIT_JOB_*` set.
    async fn migrate(target: &Target, config: &Config) -> Result<(), BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::Io(format!("cannot find this program: {e}")))?;
        let path = target
            .dir
            .join(format!("{}-migrations", target.ns))
            .display()
            .to_string();
        for command in ["job:table", "migrate"] {
            let out = tokio::process::Command::new(&exe)
                .args(["cli", command, "--path", &path])
                .env("RAKIT_JOB_CONFIG", target.dir.join("no-such-config.toml"))
                .env("RAKIT_JOB_DRIVER", &config.driver)
                .env("RAKIT_JOB_URL", &config.url)
                .env("RAKIT_JOB_TABLE", &config.table)
                .env("RAKIT_JOB_FAILED_TABLE", &config.failed_table)
                .output()
                .await
                .map_err(|e| BenchError::Io(format!("cannot run `{command}`: {e}")))?;
            if !out.status.success() {
                return Err(BenchError::Store(format!(
                    "`{command}` failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl System for Rakit {
    fn name(&self) -> &'static str {
        "rakit-job"
    }

    fn supports(&self, _store: Store) -> bool {
        true
    }

    fn wakeup(&self, store: Store) -> String {
        match store {
            Store::Postgres => "LISTEN/NOTIFY".into(),
            Store::Redis => "blocking pop on a signal list".into(),
            Store::File => "inotify on the queue folders".into(),
            Store::Sqlite => "inotify on the database's write-ahead log".into(),
            _ => "polls, sooner while jobs flow".into(),
        }
    }

    async fn client(&self, target: &Target) -> Result<Arc<dyn Client>, BenchError> {
        std::fs::create_dir_all(&target.dir)
            .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", target.dir.display())))?;
        let config = Rakit::config(target, 1000);
        if config.store_kind() == rakit_job::StoreKind::Sql {
            Rakit::migrate(target, &config).await?;
        }
        let queue = Queue::connect(&config).await.map_err(BenchError::store)?;
        Ok(Arc::new(RakitClient {
            queue,
            target: target.clone(),
        }))
    }

    async fn work(&self, target: &Target, ctx: WorkerCtx) -> Result<(), BenchError> {
        let config = Rakit::config(target, ctx.sleep_ms);
        let queue = Queue::connect(&config).await.map_err(BenchError::store)?;
        ctx.ready();
        ctx.go().await;
        let worker = Worker::new(&queue)
            .queues(["default"])
            .concurrency(ctx.concurrency)
            .grace(Duration::from_secs(20))
            .quiet();
        let stop = worker.shutdown_handle();
        let running = tokio::spawn(worker.run());
        ctx.stop().await;
        stop.shutdown();
        running
            .await
            .map_err(|e| BenchError::Worker(format!("the worker task failed: {e}")))?
            .map_err(BenchError::store)?;
        Ok(())
    }
}

/// Dispatches through a connected [`Queue`].
struct RakitClient {
    queue: Queue,
    target: Target,
}

#[async_trait::async_trait]
impl Client for RakitClient {
    async fn dispatch(&self, seq: u64) -> Result<(), BenchError> {
        let p = Payload::now(seq);
        BenchNoop::dispatch(BenchNoop {
            seq: p.seq,
            sent_us: p.sent_us,
        })
        .via(&self.queue)
        .await
        .map_err(BenchError::store)?;
        Ok(())
    }

    fn bulk(&self) -> Bulk {
        Bulk::Native(BATCH as usize)
    }

    async fn dispatch_batch(&self, first: u64, count: u64) -> Result<(), BenchError> {
        let jobs = (first..first + count).map(|seq| {
            let p = Payload::now(seq);
            BenchNoop {
                seq: p.seq,
                sent_us: p.sent_us,
            }
        });
        BenchNoop::dispatch_many(jobs)
            .via(&self.queue)
            .await
            .map_err(BenchError::store)?;
        Ok(())
    }

    async fn pending(&self) -> Result<u64, BenchError> {
        let stats = self
            .queue
            .driver()
            .stats()
            .await
            .map_err(BenchError::store)?;
        Ok(stats
            .iter()
            .map(|s| s.ready + s.scheduled + s.reserved)
            .sum())
    }

    async fn cleanup(&self) -> Result<(), BenchError> {
        let t = &self.target;
        let _ = std::fs::remove_dir_all(t.dir.join(format!("{}-migrations", t.ns)));
        match t.store {
            Store::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", t.sqlite_path().display()));
                }
                Ok(())
            }
            Store::Postgres | Store::Mysql => drop_tables(t).await,
            Store::Redis => redis_delete_prefix(&t.ns).await,
            Store::File => {
                let _ = std::fs::remove_dir_all(t.folder());
                Ok(())
            }
            Store::Memcached => memcached_flush().await,
        }
    }
}

/// Drops every table of the namespace (the store's tables are all named after it).
async fn drop_tables(t: &Target) -> Result<(), BenchError> {
    use rakit_job::sqlx::{self, AssertSqlSafe, Connection};
    let ns = &t.ns;
    let like = format!("{ns}\\_%");
    if t.store == Store::Postgres {
        let mut conn = sqlx::PgConnection::connect(&t.url())
            .await
            .map_err(BenchError::store)?;
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE $1",
        )
        .bind(&like)
        .fetch_all(&mut conn)
        .await
        .map_err(BenchError::store)?;
        for (name,) in names {
            sqlx::query(AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {name} CASCADE"
            )))
            .execute(&mut conn)
            .await
            .map_err(BenchError::store)?;
        }
    } else {
        let mut conn = sqlx::MySqlConnection::connect(&t.url())
            .await
            .map_err(BenchError::store)?;
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?",
        )
        .bind(&like)
        .fetch_all(&mut conn)
        .await
        .map_err(BenchError::store)?;
        for (name,) in names {
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                .execute(&mut conn)
                .await
                .map_err(BenchError::store)?;
        }
    }
    Ok(())
}
