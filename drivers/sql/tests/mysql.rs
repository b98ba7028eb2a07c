//! The SQL driver on the MariaDB/MySQL server of `RAKIT_TEST_MYSQL_URL` (default
//! 127.0.0.1:3306): the shared conformance suite, several drivers draining together,
//! transactional dispatch, and what a wrong or missing schema says.
//!
//! Each test works on tables of its own, so tests run in parallel; tables of runs that
//! ended over an hour ago are dropped as new tests start.
#![cfg(feature = "mysql")]

mod support;

use rakit_job_core::conformance::Store;
use rakit_job_core::test_support::mysql_url;
use rakit_job_core::{Admin, DriverError, NewJob, ReserveRequest, Store as _, StoreExt};
use rakit_job_sql::{SqlDriver, SqlOptions, sqlx};
use std::collections::HashSet;
use std::sync::Arc;

/// A pool of the test's own, for what the driver does not do; old leftovers are swept.
async fn admin() -> sqlx::MySqlPool {
    let url = mysql_url();
    let pool = sqlx::MySqlPool::connect(&url)
        .await
        .unwrap_or_else(|e| rakit_job_core::test_support::unreachable("mysql", &url, e));
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE 'rk%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let old = support::leftovers(names.into_iter().map(|(n,)| n).collect());
    if !old.is_empty() {
        let drop = support::drop_statement(&old);
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
    }
    pool
}

async fn run(pool: &sqlx::MySqlPool, sql: String) {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

async fn drop_tables(pool: &sqlx::MySqlPool, options: &SqlOptions) {
    run(pool, support::drop_statement(&support::tables_of(options))).await;
}

async fn driver_on(options: &SqlOptions) -> SqlDriver {
    support::driver_on("mysql", &mysql_url(), options).await
}

async fn installed() -> (SqlDriver, SqlOptions) {
    support::installed("mysql", &mysql_url()).await
}

async fn store() -> Store {
    admin().await;
    Arc::new(installed().await.0)
}

rakit_job_core::conformance_tests!(store);

/// A batch push is one transaction: refused part-way, it leaves nothing behind.
#[tokio::test]
async fn a_refused_batch_stores_nothing() {
    rakit_job_core::conformance::a_refused_batch_stores_nothing(store().await).await;
}

/// Acks, retries and renewals beyond one statement's worth (1,000 jobs) are cut into several.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 2_500).await;
}

#[tokio::test]
async fn jobs_follow_the_applications_transaction() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    support::jobs_follow_the_applications_transaction(&pool, &driver).await;
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn missing_tables_say_to_run_job_table_and_migrate() {
    let pool = admin().await;
    let options = support::fresh_tables();
    let driver = driver_on(&options).await;
    let err = driver.check().await.unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    let job = NewJob::now("a", "default", "{}");
    let err = driver.push_one(job).await.unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");

    let name = format!("2024_01_01_000000_create_{}", options.table);
    driver
        .apply_migration(&name, &driver.schema())
        .await
        .unwrap();
    driver
        .apply_migration(&name, &driver.schema())
        .await
        .unwrap();
    assert!(driver.applied_migrations().await.unwrap().contains(&name));
    driver.check().await.unwrap();
    let sqlite_tables = driver.schema().replace("for mysql", "for sqlite");
    let err = driver
        .apply_migration("again", &sqlite_tables)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("for sqlite, but this database is mysql"),
        "{err}"
    );
    drop_tables(&pool, &options).await;
    sqlx::query("DELETE FROM rakit_migrations WHERE name = ?")
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
}

/// Columns too small for the times (here `INT`) and a missing column stop a worker with
/// an error saying what is wrong, not one it would retry forever.
#[tokio::test]
async fn tables_of_another_shape_are_broken() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let table = &options.table;
    run(
        &pool,
        format!("ALTER TABLE {table} MODIFY available_at INT NOT NULL"),
    )
    .await;
    let err = driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Broken { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Out of range value") && text.contains("job:table"),
        "{text}"
    );

    run(&pool, format!("ALTER TABLE {table} DROP COLUMN worker")).await;
    let err = driver.check().await.unwrap_err();
    assert!(matches!(err, DriverError::Broken { .. }), "{err:?}");
    assert!(err.is_permanent());
    let text = err.to_string();
    assert!(
        text.contains("Unknown column 'worker'") && !text.contains("at line"),
        "{text}"
    );
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn queue_names_are_compared_exactly() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    driver
        .push_one(NewJob::now("a", "High", "{}"))
        .await
        .unwrap();
    let queues = vec!["high".to_string()];
    let claim = ReserveRequest::new(&queues, 1, 60_000, "w");
    assert!(driver.reserve(&claim).await.unwrap().is_empty());
    drop_tables(&pool, &options).await;
}

/// Pushes `n` jobs due now to `default` and returns their ids.
async fn push_due(driver: &SqlDriver, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let job = NewJob::now("Work", "default", "{}");
        ids.push(job.id.to_string());
        driver.push_one(job).await.unwrap();
    }
    ids
}

/// Pushes a job that was due a minute ago, behind where any claim so far stopped.
async fn push_overdue(driver: &SqlDriver) -> String {
    let mut late = NewJob::now("Late", "default", "{}");
    late.available_at -= 60_000;
    let id = late.id.to_string();
    driver.push_one(late).await.unwrap();
    id
}

async fn claim_ids(driver: &SqlDriver, limit: usize) -> Vec<String> {
    let queues = vec!["default".to_string()];
    let claim = ReserveRequest::new(&queues, limit, 60_000, "w");
    let taken = driver.reserve(&claim).await.unwrap();
    taken.into_iter().map(|r| r.job.id.to_string()).collect()
}

/// Claims start where the last full claim stopped; a job stored behind that point is
/// taken as soon as a claim from there comes up short.
#[tokio::test]
async fn a_job_behind_the_last_claim_is_taken_once_the_queue_ahead_runs_short() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let ids = push_due(&driver, 4).await;
    let first = claim_ids(&driver, 2).await;
    let late = push_overdue(&driver).await;
    let next = claim_ids(&driver, 3).await;
    assert_eq!(
        next.first(),
        Some(&late),
        "the late job comes first: {next:?}"
    );
    let taken: HashSet<&String> = first.iter().chain(&next[1..]).collect();
    assert_eq!(taken, ids.iter().collect(), "and the rest after it");
    drop_tables(&pool, &options).await;
}

/// While the queue ahead stays full, a job behind the last claim is taken by the walk from
/// the queue's start that a claim makes at least every second (`WALK_EVERY`).
#[tokio::test]
async fn a_job_behind_the_last_claim_is_taken_by_the_walk_each_second_while_the_queue_is_full() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    // Claims of one job, 10 ms apart: 400 jobs keep the queue ahead full for over 4 s.
    let total = 400;
    push_due(&driver, total).await;
    assert_eq!(claim_ids(&driver, 1).await.len(), 1);
    let late = push_overdue(&driver).await;
    let pushed = std::time::Instant::now();
    let mut claims = 0;
    while claim_ids(&driver, 1).await != [late.clone()] {
        claims += 1;
        assert!(
            claims <= total,
            "the job behind the last claim was never taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let waited = pushed.elapsed();
    assert_eq!(
        claim_ids(&driver, 1).await.len(),
        1,
        "the late job was taken only once the queue ahead ran out, not by the walk each second"
    );
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "claims from the cursor should have kept to the jobs ahead of it for a second, \
         but the late job was taken after {waited:?}"
    );
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn keys_longer_than_the_columns_are_refused() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let mut job = NewJob::now("a", "default", "{}");
    job.unique_key = Some("k".repeat(256));
    let err = driver.push_one(job).await.unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    assert!(
        driver.stats().await.unwrap().is_empty(),
        "nothing was stored"
    );
    let err = driver
        .lock_one(&"k".repeat(300), "me", 1_000)
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn an_unreachable_server_is_reported_without_its_password() {
    let url = "mysql://app:s3cret@127.0.0.1:1/test";
    let err = SqlDriver::connect(url, &SqlOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    let expected =
        "cannot reach the job store mysql mysql://app:***@127.0.0.1:1/test: connection refused";
    assert!(text.starts_with(expected), "{text}");
}

/// Several drivers stand for several worker machines, each with its own pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_drivers_draining_together_take_every_job_once() {
    const JOBS: usize = 2_000;
    let pool = admin().await;
    let (first, options) = installed().await;
    let first = Arc::new(first);
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob::now("race", if i % 4 == 0 { "high" } else { "default" }, "{}"))
        .collect();
    let pushed: HashSet<_> = jobs.iter().map(|j| j.id.clone()).collect();
    let mut pushers = Vec::new();
    for chunk in jobs.chunks(JOBS / 4) {
        let (driver, chunk) = (first.clone(), chunk.to_vec());
        pushers.push(tokio::spawn(async move {
            for job in chunk {
                driver.push_one(job).await.unwrap();
            }
        }));
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let driver = driver_on(&options).await;
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let worker = format!("w{w}");
            let (mut mine, mut empty) = (Vec::new(), 0);
            // Pushers are still running: stop after a few empty rounds in a row.
            while empty < 20 {
                let claim = ReserveRequest::new(&queues, 8, 60_000, &worker);
                let got = driver.reserve(&claim).await.unwrap();
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
    drop_tables(&pool, &options).await;
}
