//! The SQL driver on the MariaDB/MySQL server at 127.0.0.1:3306 (or `RAKIT_TEST_MYSQL_URL`):
//! the shared conformance suite, several drivers draining together, and transactional dispatch.
//!
//! Each test works on its own tables, `rk<seconds>_<random>`, so tests run in parallel;
//! tables of runs older than an hour are dropped as new tests start.
#![cfg(feature = "mysql")]

use rakit_job_core::conformance::Store;
use rakit_job_core::{Driver, DriverError, JobId, NewJob, PushOutcome, ReserveRequest};
use rakit_job_sql::{SqlDriver, sqlx};
use std::collections::HashSet;
use std::sync::Arc;

fn url() -> String {
    std::env::var("RAKIT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// Fresh table names for one test.
fn tables() -> (String, String) {
    let secs = rakit_job_core::now_ms() / 1000;
    let id = JobId::generate().to_string().replace('-', "");
    let base = format!("rk{secs}_{}", &id[id.len() - 10..]);
    (base.clone(), format!("{base}_f"))
}

async fn admin() -> sqlx::MySqlPool {
    sqlx::MySqlPool::connect(&url()).await.unwrap_or_else(|e| {
        panic!(
            "the MySQL/MariaDB server at {} is needed for these tests and is unreachable: {e}",
            url()
        )
    })
}

/// Drops the tables of test runs that started more than an hour ago.
async fn sweep_old_tables(pool: &sqlx::MySqlPool) {
    let cutoff = rakit_job_core::now_ms() / 1000 - 3600;
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name REGEXP '^rk[0-9]+_'",
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

async fn drop_tables(pool: &sqlx::MySqlPool, table: &str, failed: &str) {
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
                "the MySQL/MariaDB server at {} is needed for these tests and is unreachable: {e}",
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
    sqlx::query("DELETE FROM rakit_migrations WHERE name = ?")
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn queue_names_are_compared_exactly() {
    let pool = admin().await;
    let (table, failed) = tables();
    let driver = driver_on(&table, &failed).await;
    driver.install().await.unwrap();
    driver.push(NewJob::now("a", "High", "{}")).await.unwrap();
    let queues = vec!["high".to_string()];
    assert!(
        driver
            .reserve(&ReserveRequest::new(&queues, 1, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    drop_tables(&pool, &table, &failed).await;
}

#[tokio::test]
async fn an_unreachable_server_is_reported_without_its_password() {
    let err = SqlDriver::connect("mysql://app:s3cret@127.0.0.1:1/test", "jobs", "failed")
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("mysql://app:***@127.0.0.1:1/test"), "{text}");
}

/// Several drivers stand for several worker machines, each with its own pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_drivers_draining_together_take_every_job_once() {
    const JOBS: usize = 2_000;
    let pool = admin().await;
    let (table, failed) = tables();
    let first = Arc::new(driver_on(&table, &failed).await);
    first.install().await.unwrap();
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        jobs.push(NewJob::now(
            "race",
            if i % 4 == 0 { "high" } else { "default" },
            "{}",
        ));
    }
    let pushed: HashSet<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    let mut pushers = Vec::new();
    for chunk in jobs.chunks(JOBS / 4) {
        let driver = first.clone();
        let chunk = chunk.to_vec();
        pushers.push(tokio::spawn(async move {
            for job in chunk {
                driver.push(job).await.unwrap();
            }
        }));
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let driver = driver_on(&table, &failed).await;
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let mut mine = Vec::new();
            let mut empty = 0;
            // Pushers are still running: stop after a few empty rounds in a row.
            while empty < 20 {
                let got = driver
                    .reserve(&ReserveRequest::new(&queues, 8, 60_000))
                    .await
                    .unwrap();
                if got.is_empty() {
                    empty += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                    continue;
                }
                empty = 0;
                for r in got {
                    assert!(driver.ack(&r.lease).await.unwrap());
                    mine.push(r.job.id);
                }
            }
            mine
        }));
    }
    for p in pushers {
        p.await.unwrap();
    }
    let mut seen = HashSet::new();
    for w in workers {
        for id in w.await.unwrap() {
            assert!(seen.insert(id.clone()), "job {id} was reserved twice");
        }
    }
    assert_eq!(seen, pushed, "some jobs were never reserved");
    drop_tables(&pool, &table, &failed).await;
}
