//! The SQL driver on the PostgreSQL server at 127.0.0.1:5432 (or `RAKIT_TEST_POSTGRES_URL`):
//! the shared conformance suite, wake-ups across drivers, and transactional dispatch.
//!
//! Each test works on its own tables, `rk<seconds>_<random>`, so tests run in parallel;
//! tables of runs older than an hour are dropped as new tests start.
#![cfg(feature = "postgres")]

use rakit_job_core::conformance::Store;
use rakit_job_core::{Driver, DriverError, JobId, NewJob, PushOutcome, ReserveRequest};
use rakit_job_sql::{SqlDriver, sqlx};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("RAKIT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Fresh table names for one test.
fn tables() -> (String, String) {
    let secs = rakit_job_core::now_ms() / 1000;
    let id = JobId::generate().to_string().replace('-', "");
    let base = format!("rk{secs}_{}", &id[id.len() - 10..]);
    (base.clone(), format!("{base}_f"))
}

async fn admin() -> sqlx::PgPool {
    sqlx::PgPool::connect(&url()).await.unwrap_or_else(|e| {
        panic!(
            "the PostgreSQL server at {} is needed for these tests and is unreachable: {e}",
            url()
        )
    })
}

/// Drops the tables of test runs that started more than an hour ago.
async fn sweep_old_tables(pool: &sqlx::PgPool) {
    let cutoff = rakit_job_core::now_ms() / 1000 - 3600;
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^rk[0-9]+_'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (name,) in names {
        let secs: i64 = name[2..]
            .split('_')
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(i64::MAX);
        if secs < cutoff {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {name}")))
                .execute(pool)
                .await;
        }
    }
}

async fn drop_tables(pool: &sqlx::PgPool, table: &str, failed: &str) {
    for t in [
        table.to_string(),
        failed.to_string(),
        format!("{table}_locks"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {t}")))
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn driver_on(table: &str, failed: &str) -> SqlDriver {
    SqlDriver::connect(&url(), table, failed)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL server at {} is needed for these tests and is unreachable: {e}",
                url()
            )
        })
}

async fn store() -> Store {
    let pool = admin().await;
    sweep_old_tables(&pool).await;
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    driver.install().await.unwrap();
    Arc::new(driver)
}

rakit_job_core::conformance_tests!(store);

/// A batch push is one transaction: refused part-way, it leaves nothing behind.
#[tokio::test]
async fn a_refused_batch_stores_nothing() {
    rakit_job_core::conformance::a_refused_batch_stores_nothing(store().await).await;
}

/// Acks and retries beyond one statement's worth (1,000 jobs) are cut into several statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 2_500).await;
}

#[tokio::test]
async fn committed_transaction_makes_its_job_visible_and_rollback_drops_it() {
    let pool = admin().await;
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    driver.install().await.unwrap();
    let queues = vec!["default".to_string()];

    let mut tx = pool.begin().await.unwrap();
    let job = NewJob::now("committed", "default", "{}");
    let id = job.id.clone();
    assert_eq!(
        driver.push_in(&mut tx, job).await.unwrap(),
        PushOutcome::Stored
    );
    assert!(
        driver
            .reserve(&ReserveRequest::new(&queues, 1, 60_000))
            .await
            .unwrap()
            .is_empty(),
        "a job was visible before its transaction committed"
    );
    tx.commit().await.unwrap();
    let got = driver
        .reserve(&ReserveRequest::new(&queues, 1, 60_000))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.id, id);

    let mut tx = pool.begin().await.unwrap();
    driver
        .push_in(&mut tx, NewJob::now("rolled-back", "default", "{}"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        driver
            .reserve(&ReserveRequest::new(&queues, 1, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(driver.stats().await.unwrap().iter().all(|s| s.ready == 0));

    drop_tables(&pool, &table, &failed).await;
}

#[tokio::test]
async fn a_committed_transaction_wakes_a_waiting_driver() {
    let pool = admin().await;
    let (table, failed) = tables();
    let pusher = driver_on(&table, &failed).await;
    pusher.install().await.unwrap();
    let waiter = Arc::new(driver_on(&table, &failed).await);
    let queues = vec!["emails".to_string()];
    // Let the waiter's LISTEN connection come up.
    waiter
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap();
    waiter
        .reserve(&ReserveRequest::new(&queues, 1, 60_000))
        .await
        .unwrap();

    let started = Instant::now();
    let handle = {
        let waiter = waiter.clone();
        let queues = queues.clone();
        tokio::spawn(async move { waiter.wait(&queues, Duration::from_secs(20)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tx = pool.begin().await.unwrap();
    pusher
        .push_in(&mut tx, NewJob::now("welcome", "emails", "{}"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    handle.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the wake-up took {:?}",
        started.elapsed()
    );
    assert_eq!(
        waiter
            .reserve(&ReserveRequest::new(&queues, 1, 60_000))
            .await
            .unwrap()
            .len(),
        1
    );
    drop_tables(&pool, &table, &failed).await;
}

#[tokio::test]
async fn a_push_to_another_queue_does_not_wake_a_waiter() {
    let pool = admin().await;
    let (table, failed) = tables();
    let driver = Arc::new(driver_on(&table, &failed).await);
    driver.install().await.unwrap();
    let queues = vec!["emails".to_string()];
    driver
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap();
    driver
        .reserve(&ReserveRequest::new(&queues, 1, 60_000))
        .await
        .unwrap();
    let started = Instant::now();
    let handle = {
        let driver = driver.clone();
        tokio::spawn(async move {
            driver
                .wait(&queues, Duration::from_millis(1500))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    driver
        .push(NewJob::now("report", "reports", "{}"))
        .await
        .unwrap();
    handle.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "woke after {:?}",
        started.elapsed()
    );
    drop_tables(&pool, &table, &failed).await;
}

#[tokio::test]
async fn missing_tables_say_to_run_job_table_and_migrate() {
    let pool = admin().await;
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    let err = driver.check().await.unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    let err = driver
        .push(NewJob::now("a", "default", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");

    let name = format!("2024_01_01_000000_create_{table}");
    driver
        .apply_migration(&name, &driver.schema().unwrap())
        .await
        .unwrap();
    driver
        .apply_migration(&name, &driver.schema().unwrap())
        .await
        .unwrap();
    assert!(driver.applied_migrations().await.unwrap().contains(&name));
    driver.check().await.unwrap();
    drop_tables(&pool, &table, &failed).await;
    sqlx::query("DELETE FROM rakit_migrations WHERE name = $1")
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_is_rolled_back_whole() {
    let pool = admin().await;
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    let name = format!("broken_{table}");
    let script =
        format!("CREATE TABLE {table} (x TEXT);\nINSERT INTO {table}_nowhere VALUES (1);\n");
    assert!(driver.apply_migration(&name, &script).await.is_err());
    assert!(!driver.applied_migrations().await.unwrap().contains(&name));
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE tablename = $1")
            .bind(&table)
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert!(
        exists.is_none(),
        "the first statement of a failed migration was kept"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_reported_without_its_password() {
    let err = SqlDriver::connect("postgres://app:s3cret@127.0.0.1:1/test", "jobs", "failed")
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains("postgres://app:***@127.0.0.1:1/test"),
        "{text}"
    );
}

#[tokio::test]
async fn describe_hides_the_password() {
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    assert!(driver.describe().starts_with("postgres postgres://"));
    assert!(driver.capabilities().wakes_across_processes);
}

/// Several drivers stand for several worker machines, each with its own pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_drivers_draining_together_take_every_job_once() {
    const JOBS: usize = 2_000;
    let pool = admin().await;
    let (table, failed) = tables();
    let first = driver_on(&table, &failed).await;
    first.install().await.unwrap();
    let mut pushed = HashSet::new();
    let mut values = Vec::new();
    for i in 0..JOBS {
        let job = NewJob::now("race", if i % 4 == 0 { "high" } else { "default" }, "{}");
        pushed.insert(job.id.clone());
        values.push(job);
    }
    // Push from several tasks at once, too.
    let first = Arc::new(first);
    let mut pushers = Vec::new();
    for chunk in values.chunks(JOBS / 4) {
        let driver = first.clone();
        let chunk = chunk.to_vec();
        pushers.push(tokio::spawn(async move {
            for job in chunk {
                driver.push(job).await.unwrap();
            }
        }));
    }
    for p in pushers {
        p.await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let driver = driver_on(&table, &failed).await;
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let mut mine = Vec::new();
            loop {
                let got = driver
                    .reserve(&ReserveRequest::new(&queues, 8, 60_000))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                for r in got {
                    assert!(driver.ack(&r.lease).await.unwrap());
                    mine.push(r.job.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    for w in workers {
        for id in w.await.unwrap() {
            assert!(seen.insert(id.clone()), "job {id} was reserved twice");
        }
    }
    assert_eq!(seen.len(), pushed.len());
    assert_eq!(seen, pushed, "some jobs were never reserved");
    drop_tables(&pool, &table, &failed).await;
}

/// Stands in for a server restart: every connection of the driver is killed server-side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_recovers_when_its_connections_are_killed() {
    let pool = admin().await;
    let (table, failed) = tables();
    let app = format!("rk_{table}");
    let url = format!("{}?application_name={app}", url());
    let driver = Arc::new(SqlDriver::connect(&url, &table, &failed).await.unwrap());
    driver.install().await.unwrap();
    let queues = vec!["default".to_string()];
    driver
        .push(NewJob::now("before", "default", "{}"))
        .await
        .unwrap();
    driver
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap(); // opens the LISTEN connection

    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        killed.len() >= 2,
        "expected the pool and the LISTEN connection, killed {}",
        killed.len()
    );

    // The next operations work again (a dead pooled connection is replaced on acquire).
    let started = Instant::now();
    let got = loop {
        match driver
            .reserve(&ReserveRequest::new(&queues, 5, 60_000))
            .await
        {
            Ok(got) => break got,
            Err(e) => {
                assert!(e.is_unreachable(), "{e:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the driver did not recover: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(got.len(), 1, "the job pushed before the outage was lost");

    // And the LISTEN connection came back: a push from another driver still wakes it.
    let other = driver_on(&table, &failed).await;
    let waiter = {
        let driver = driver.clone();
        let queues = queues.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                driver.wait(&queues, Duration::from_secs(20)).await.unwrap();
                let got = driver
                    .reserve(&ReserveRequest::new(&queues, 1, 60_000))
                    .await
                    .unwrap();
                if !got.is_empty() {
                    return started.elapsed();
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    other
        .push(NewJob::now("after", "default", "{}"))
        .await
        .unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "the wake-up after the outage took {waited:?}"
    );
    drop_tables(&pool, &table, &failed).await;
}
