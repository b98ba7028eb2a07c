//! The SQL driver on the PostgreSQL server of `RAKIT_TEST_POSTGRES_URL` (default
//! 127.0.0.1:5432): the shared conformance suite, wake-ups across drivers, transactional
//! dispatch, and what a wrong or missing schema says.
//!
//! Each test works on tables of its own, so tests run in parallel; tables of runs that
//! ended over an hour ago are dropped as new tests start.
#![cfg(feature = "postgres")]

mod support;

use rakit_job_core::conformance::Store;
use rakit_job_core::test_support::postgres_url;
use rakit_job_core::{DriverError, NewJob, ReserveRequest, Store as _, StoreExt};
use rakit_job_sql::{SqlDriver, SqlOptions, sqlx};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A pool of the test's own, for what the driver does not do; old leftovers are swept.
async fn admin() -> sqlx::PgPool {
    let url = postgres_url();
    let pool = sqlx::PgPool::connect(&url)
        .await
        .unwrap_or_else(|e| rakit_job_core::test_support::unreachable("postgres", &url, e));
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'rk%'",
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

async fn drop_tables(pool: &sqlx::PgPool, options: &SqlOptions) {
    let drop = support::drop_statement(&support::tables_of(options));
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(pool)
        .await
        .unwrap();
}

async fn driver_on(options: &SqlOptions) -> SqlDriver {
    support::driver_on("postgres", &postgres_url(), options).await
}

async fn installed() -> (SqlDriver, SqlOptions) {
    support::installed("postgres", &postgres_url()).await
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

/// Batches of 2,500 acks, retries and renewals are one statement each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 2_500).await;
}

/// The unique index holds only jobs with a unique key, and a table made by an earlier
/// version, whose index is full, still skips taken keys (alone and in a batch).
#[tokio::test]
async fn the_unique_index_is_partial_and_a_full_one_still_works() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let index = format!("{}_unique", options.table);
    let (def,): (String,) = sqlx::query_as("SELECT indexdef FROM pg_indexes WHERE indexname = $1")
        .bind(&index)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(def.ends_with("WHERE (unique_key IS NOT NULL)"), "{def}");
    let drop = format!("DROP INDEX {index}");
    support::unique_keys_hold_on_a_full_unique_index(&driver, &options, &drop).await;
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn jobs_follow_the_applications_transaction() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    support::jobs_follow_the_applications_transaction(&pool, &driver).await;
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn a_committed_transaction_wakes_a_waiting_driver() {
    let pool = admin().await;
    let (pusher, options) = installed().await;
    let waiter = Arc::new(driver_on(&options).await);
    let queues = vec!["emails".to_string()];
    let claim = ReserveRequest::new(&queues, 1, 60_000, "w");
    // Let the waiter's LISTEN connection come up.
    waiter
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap();
    waiter.reserve(&claim).await.unwrap();

    let started = Instant::now();
    let handle = {
        let (waiter, queues) = (waiter.clone(), queues.clone());
        tokio::spawn(async move { waiter.wait(&queues, Duration::from_secs(20)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut tx = pool.begin().await.unwrap();
    let job = NewJob::now("welcome", "emails", "{}");
    pusher.push_in(&mut tx, job).await.unwrap();
    tx.commit().await.unwrap();
    handle.await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the wake-up took {waited:?}"
    );
    assert_eq!(waiter.reserve(&claim).await.unwrap().len(), 1);
    drop_tables(&pool, &options).await;
}

/// A push to a queue the waiter's process has heard of does not wake it; the first push
/// to a queue it never heard of does, once, so a worker serving every queue learns of it.
#[tokio::test]
async fn a_push_to_another_known_queue_does_not_wake_a_waiter() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let driver = Arc::new(driver);
    let queues = vec!["emails".to_string()];
    driver
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap();
    let claim = ReserveRequest::new(&queues, 1, 60_000, "w");
    driver.reserve(&claim).await.unwrap();
    let started = Instant::now();
    let first = NewJob::now("report", "reports", "{}");
    driver.push_one(first).await.unwrap();
    driver.wait(&queues, Duration::from_secs(20)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "a new queue woke the waiter only after {waited:?}"
    );
    driver.reserve(&claim).await.unwrap();
    let started = Instant::now();
    let handle = {
        let driver = driver.clone();
        tokio::spawn(async move {
            let wait = Duration::from_millis(1500);
            driver.wait(&queues, wait).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = NewJob::now("report", "reports", "{}");
    driver.push_one(other).await.unwrap();
    handle.await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "woke after {waited:?}"
    );
    drop_tables(&pool, &options).await;
}

/// A job due now that the waiter did not take (another claim in flight holds it) ends a
/// wait within seconds.
#[tokio::test]
async fn a_due_job_left_untaken_ends_a_wait() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    rakit_job_core::conformance::a_due_job_left_untaken_ends_a_wait(Arc::new(driver)).await;
    drop_tables(&pool, &options).await;
}

/// Another driver's push to a new queue, and its retry of a job due shortly, end a wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_ends_on_another_drivers_new_queue_and_retry() {
    let pool = admin().await;
    let (other, options) = installed().await;
    let other: Store = Arc::new(other);
    let waiter: Store = Arc::new(driver_on(&options).await);
    rakit_job_core::conformance::a_push_to_a_new_queue_ends_a_wait(waiter.clone(), other.clone())
        .await;
    rakit_job_core::conformance::another_instances_retry_ends_a_wait(waiter, other).await;
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
    drop_tables(&pool, &options).await;
    sqlx::query("DELETE FROM rakit_migrations WHERE name = $1")
        .bind(&name)
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_is_rolled_back_whole() {
    let pool = admin().await;
    let options = support::fresh_tables();
    let driver = driver_on(&options).await;
    let (table, name) = (&options.table, format!("broken_{}", options.table));
    let script =
        format!("CREATE TABLE {table} (x TEXT);\nINSERT INTO {table}_nowhere VALUES (1);\n");
    let err = driver.apply_migration(&name, &script).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!err.to_string().contains("line"), "{err}");
    assert!(!driver.applied_migrations().await.unwrap().contains(&name));
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE tablename = $1")
            .bind(table)
            .fetch_optional(&pool)
            .await
            .unwrap();
    assert!(
        exists.is_none(),
        "the first statement of a failed migration was kept"
    );
}

/// A user who moved from SQLite to PostgreSQL: the SQLite DDL `job:table` wrote before is
/// refused by `migrate`; applied by hand anyway, its `INTEGER` columns cannot hold the
/// times, and the store says so as an error waiting cannot mend.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_tables_on_postgres_are_refused_and_broken() {
    let pool = admin().await;
    let options = support::fresh_tables();
    let dir = rakit_job_core::test_support::temp_dir("sqlite-ddl");
    let sqlite = format!("sqlite://{}/jobs.db", dir.display());
    let ddl = support::driver_on("sqlite", &sqlite, &options)
        .await
        .schema();
    let driver = driver_on(&options).await;

    let err = driver
        .apply_migration("create_jobs", &ddl)
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("for sqlite, but this database is postgres"),
        "{err}"
    );
    let err = driver.check().await.unwrap_err();
    assert!(
        matches!(err, DriverError::MissingSchema { .. }),
        "nothing ran: {err:?}"
    );

    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&pool)
        .await
        .unwrap();
    let err = driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Broken { .. }), "{err:?}");
    assert!(err.is_permanent());
    let text = err.to_string();
    assert!(text.contains("integer out of range"), "{text}");
    assert!(text.contains("job:table"), "{text}");
    drop_tables(&pool, &options).await;
}

/// Tables of another version (here: without the `worker` column) stop a worker with an
/// error saying what is wrong, not one it would retry forever.
#[tokio::test]
async fn a_jobs_table_missing_a_column_is_broken() {
    let pool = admin().await;
    let (driver, options) = installed().await;
    let alter = format!("ALTER TABLE {} DROP COLUMN worker", options.table);
    sqlx::query(sqlx::AssertSqlSafe(alter))
        .execute(&pool)
        .await
        .unwrap();
    driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap();
    let queues = vec!["default".to_string()];
    for err in [
        driver.check().await.unwrap_err(),
        driver
            .reserve(&ReserveRequest::new(&queues, 1, 1000, "w"))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, DriverError::Broken { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("column \"worker\"") && text.contains("does not exist"),
            "{text}"
        );
        assert!(!text.contains("position"), "{text}");
    }
    drop_tables(&pool, &options).await;
}

#[tokio::test]
async fn an_unreachable_server_is_reported_without_its_password() {
    let url = "postgres://app:s3cret@127.0.0.1:1/test";
    let err = SqlDriver::connect(url, &SqlOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    let expected = "cannot reach the job store postgres postgres://app:***@127.0.0.1:1/test: connection refused";
    assert!(text.starts_with(expected), "{text}");
}

#[tokio::test]
async fn describe_hides_the_password() {
    let driver = driver_on(&support::fresh_tables()).await;
    assert!(driver.describe().starts_with("postgres postgres://"));
    assert!(driver.capabilities().wakes_across_processes);
    assert_eq!(driver.dialect(), "postgres");
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
    // Push from several tasks at once, too.
    let mut pushers = Vec::new();
    for chunk in jobs.chunks(JOBS / 4) {
        let (driver, chunk) = (first.clone(), chunk.to_vec());
        pushers.push(tokio::spawn(async move {
            for job in chunk {
                driver.push_one(job).await.unwrap();
            }
        }));
    }
    for p in pushers {
        p.await.unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let driver = driver_on(&options).await;
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let claim = ReserveRequest::new(&queues, 8, 60_000, &worker);
                let got = driver.reserve(&claim).await.unwrap();
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
    assert_eq!(seen, pushed, "some jobs were never reserved");
    drop_tables(&pool, &options).await;
}

/// A driver whose connections carry a name of their own, installed, with one job pushed:
/// the name, the driver and its tables.
async fn named_driver(prefix: &str) -> (String, SqlDriver, SqlOptions) {
    let options = support::fresh_tables();
    let app = format!("{prefix}_{}", options.table);
    let url = format!("{}?application_name={app}", postgres_url());
    let driver = support::driver_on("postgres", &url, &options).await;
    driver.install().await.unwrap();
    driver
        .push_one(NewJob::now("before", "default", "{}"))
        .await
        .unwrap();
    (app, driver, options)
}

/// Kills, server-side, every connection named `app`; how many there were.
async fn kill_connections(pool: &sqlx::PgPool, app: &str) -> usize {
    let killed: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(app)
    .fetch_all(pool)
    .await
    .unwrap();
    killed.len()
}

/// A pooled connection that died while idle is found by a ping and replaced, so the first
/// push after a quiet second succeeds (busy connections skip the ping, a round trip).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_died_while_idle_is_replaced_before_use() {
    let pool = admin().await;
    let (app, driver, options) = named_driver("ri").await;
    assert!(
        kill_connections(&pool, &app).await > 0,
        "the driver had no connection to kill"
    );

    // Longer than the driver trusts an idle connection without a ping.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    driver
        .push_one(NewJob::now("after", "default", "{}"))
        .await
        .expect("a push after the connections died failed instead of reconnecting");
    let queues = vec!["default".to_string()];
    let got = driver
        .reserve(&ReserveRequest::new(&queues, 5, 60_000, "w"))
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "a job was lost: {got:?}");
    drop_tables(&pool, &options).await;
}

/// Stands in for a server restart: every connection of the driver is killed server-side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_recovers_when_its_connections_are_killed() {
    let pool = admin().await;
    let (app, driver, options) = named_driver("rk").await;
    let driver = Arc::new(driver);
    let queues = vec!["default".to_string()];
    let claim = ReserveRequest::new(&queues, 5, 60_000, "w");
    // Opens the LISTEN connection.
    driver
        .wait(&queues, Duration::from_millis(300))
        .await
        .unwrap();

    let killed = kill_connections(&pool, &app).await;
    assert!(
        killed >= 2,
        "expected the pool and the LISTEN connection, killed {killed}"
    );

    // The next operations work again (a dead pooled connection is replaced on acquire).
    let started = Instant::now();
    let got = loop {
        match driver.reserve(&claim).await {
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
    let other = driver_on(&options).await;
    let waiter = {
        let (driver, queues) = (driver.clone(), queues.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                driver.wait(&queues, Duration::from_secs(20)).await.unwrap();
                let claim = ReserveRequest::new(&queues, 1, 60_000, "w");
                if !driver.reserve(&claim).await.unwrap().is_empty() {
                    return started.elapsed();
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    other
        .push_one(NewJob::now("after", "default", "{}"))
        .await
        .unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "the wake-up after the outage took {waited:?}"
    );
    drop_tables(&pool, &options).await;
}
