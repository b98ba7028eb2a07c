//! The SQL driver on real SQLite files: the shared conformance suite, plus the rules
//! only a file database has.
#![cfg(feature = "sqlite")]

mod support;

use rakit_job_core::conformance::Store;
use rakit_job_core::test_support::temp_dir;
use rakit_job_core::{DriverError, NewJob, ReserveRequest, Store as _, StoreExt};
use rakit_job_sql::{SqlDriver, SqlOptions};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

fn url(dir: &Path) -> String {
    format!("sqlite://{}/jobs.db", dir.display())
}

async fn open(dir: &Path) -> SqlDriver {
    support::driver_on("sqlite", &url(dir), &SqlOptions::default()).await
}

async fn store() -> Store {
    Arc::new(open(&temp_dir("sqlite")).await)
}

rakit_job_core::conformance_tests!(store);

/// A job due now that the waiter did not take ends a wait within seconds.
#[tokio::test]
async fn a_due_job_left_untaken_ends_a_wait() {
    rakit_job_core::conformance::a_due_job_left_untaken_ends_a_wait(store().await).await;
}

/// Another driver's push to a new queue, and its retry of a job due shortly, are writes
/// to the database, which end a wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_ends_on_another_drivers_new_queue_and_retry() {
    let dir = temp_dir("sqlite-new-queue");
    let waiter: Store = Arc::new(open(&dir).await);
    let other: Store = Arc::new(open(&dir).await);
    rakit_job_core::conformance::a_push_to_a_new_queue_ends_a_wait(waiter.clone(), other.clone())
        .await;
    rakit_job_core::conformance::another_instances_retry_ends_a_wait(waiter, other).await;
}

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
async fn a_new_file_and_its_folder_are_created_with_the_tables() {
    let dir = temp_dir("sqlite").join("nested/deeper");
    let driver = open(&dir).await;
    assert!(dir.join("jobs.db").exists());
    driver.check().await.unwrap();
    assert_eq!(
        driver.describe(),
        format!("sqlite {}/jobs.db", dir.display())
    );
    let caps = driver.capabilities();
    assert!(caps.durable && caps.wakes_across_processes);
    assert_eq!(driver.dialect(), "sqlite");
    assert!(
        driver
            .schema()
            .starts_with("-- rakit-job schema for sqlite\n")
    );
}

/// The unique index holds only jobs with a unique key, and a table made by an earlier
/// version, whose index is full, still skips taken keys.
#[tokio::test]
async fn the_unique_index_is_partial_and_a_full_one_still_works() {
    let dir = temp_dir("sqlite-unique-index");
    let driver = open(&dir).await;
    let pool = rakit_job_sql::sqlx::SqlitePool::connect(&url(&dir))
        .await
        .unwrap();
    let options = SqlOptions::default();
    let index = format!("{}_unique", options.table);
    let (sql,): (String,) =
        rakit_job_sql::sqlx::query_as("SELECT sql FROM sqlite_master WHERE name = ?")
            .bind(&index)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sql.ends_with("WHERE unique_key IS NOT NULL"), "{sql}");
    let drop = format!("DROP INDEX {index}");
    support::unique_keys_hold_on_a_full_unique_index(&driver, &options, &drop).await;
}

#[tokio::test]
async fn an_existing_file_without_tables_is_a_missing_schema() {
    let dir = temp_dir("sqlite");
    std::fs::File::create(dir.join("jobs.db")).unwrap();
    let driver = open(&dir).await;
    let err = driver.check().await.unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("job:table"), "{err}");
    let err = driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    let queues = vec!["default".to_string()];
    let err = driver
        .reserve(&ReserveRequest::new(&queues, 1, 1000, "w"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");

    // `job:table` + `migrate` fix it.
    let schema = driver.schema();
    assert!(driver.applied_migrations().await.unwrap().is_empty());
    let name = "2024_01_01_000000_create_job_tables";
    driver.apply_migration(name, &schema).await.unwrap();
    driver.apply_migration(name, &schema).await.unwrap();
    assert_eq!(driver.applied_migrations().await.unwrap(), [name]);
    driver.check().await.unwrap();
    driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_leaves_nothing_behind() {
    let driver = open(&temp_dir("sqlite")).await;
    let script = "CREATE TABLE extra (x TEXT);\nINSERT INTO nowhere VALUES (1);\n";
    let err = driver.apply_migration("broken", script).await.unwrap_err();
    assert!(err.to_string().contains("no such table: nowhere"), "{err}");
    assert!(driver.applied_migrations().await.unwrap().is_empty());
    // The first statement was rolled back with the second.
    driver
        .apply_migration("fixed", "CREATE TABLE extra (x TEXT);")
        .await
        .unwrap();
}

/// A user who moved to SQLite from PostgreSQL never gets PostgreSQL's tables applied.
#[tokio::test]
async fn a_migration_for_another_dialect_is_refused_before_it_runs() {
    let driver = open(&temp_dir("sqlite")).await;
    let script = "-- rakit-job schema for postgres\nCREATE TABLE extra (x TEXT);\n";
    let err = driver.apply_migration("jobs", script).await.unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("for postgres, but this database is sqlite"),
        "{err}"
    );
    assert!(driver.applied_migrations().await.unwrap().is_empty());
    driver
        .apply_migration("fixed", "CREATE TABLE extra (x TEXT);")
        .await
        .expect("the refused script created nothing");
}

/// Tables of another version (here: without the `worker` column) stop a worker with an
/// error saying what is wrong, not one it would retry forever.
#[tokio::test]
async fn a_jobs_table_missing_a_column_is_broken() {
    let dir = temp_dir("sqlite");
    std::fs::File::create(dir.join("jobs.db")).unwrap();
    let driver = open(&dir).await;
    let old = driver.schema().replace("    worker TEXT NULL,\n", "");
    assert_ne!(old, driver.schema());
    driver.apply_migration("old_tables", &old).await.unwrap();
    driver
        .push_one(NewJob::now("a", "default", "{}"))
        .await
        .unwrap();
    for err in [
        driver.check().await.unwrap_err(),
        driver
            .reserve(&ReserveRequest::new(&["default".into()], 1, 1000, "w"))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, DriverError::Broken { .. }), "{err:?}");
        assert!(err.is_permanent());
        let text = err.to_string();
        assert!(
            text.contains("worker") && text.contains("job:table"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn invalid_table_names_and_urls_are_refused() {
    let dir = temp_dir("sqlite");
    let long = "j".repeat(49);
    for (table, failed) in [
        ("jobs; DROP TABLE x", "failed"),
        ("jobs", "fa iled"),
        ("1jobs", "failed"),
        ("", "failed"),
        ("jobs", "jobs"),
        ("jobs", "jobs_locks"),
        (long.as_str(), "failed"),
    ] {
        let options = SqlOptions {
            table: table.into(),
            failed_table: failed.into(),
            ..SqlOptions::default()
        };
        let err = SqlDriver::connect(&url(&dir), &options)
            .await
            .err()
            .expect("a bad table name was accepted");
        assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    }
    assert!(
        !dir.join("jobs.db").exists(),
        "a refused connect created the file"
    );
    let defaults = SqlOptions::default();
    let err = SqlDriver::connect("oracle://db/x", &defaults)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("sqlite://"), "{err}");
    let err = SqlDriver::connect("sqlite::memory:", &defaults)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
}

/// `pool_size` is the driver's own url parameter; the rest goes to the database client.
#[tokio::test]
async fn the_pool_size_in_the_url_is_checked() {
    let dir = temp_dir("sqlite");
    let defaults = SqlOptions::default();
    for bad in ["0", "x", "1001"] {
        let url = format!("{}?pool_size={bad}", url(&dir));
        let err = SqlDriver::connect(&url, &defaults).await.err().unwrap();
        assert!(
            err.to_string().contains("use a number from 1 to 1000"),
            "{err}"
        );
    }
    let url = format!("{}?pool_size=2", url(&dir));
    SqlDriver::connect(&url, &defaults)
        .await
        .unwrap()
        .check()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unwritable_location_is_unreachable() {
    let blocker = temp_dir("sqlite").join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let url = format!("sqlite://{}/jobs.db", blocker.display());
    let err = SqlDriver::connect(&url, &SqlOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn the_short_url_form_works() {
    let dir = temp_dir("sqlite");
    let url = format!("sqlite:{}/short.db", dir.display());
    let driver = SqlDriver::connect(&url, &SqlOptions::default())
        .await
        .unwrap();
    driver.check().await.unwrap();
    assert!(dir.join("short.db").exists());
}

/// Several drivers on one file stand for several worker processes: each has its own
/// connections, so they meet only in the file's locks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_drivers_on_one_file_never_share_a_job() {
    const JOBS: usize = 600;
    let dir = temp_dir("sqlite");
    let first = open(&dir).await;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}"))
        .collect();
    let pushed: HashSet<_> = jobs.iter().map(|j| j.id.clone()).collect();
    for job in jobs {
        first.push_one(job).await.unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let driver = open(&dir).await;
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let got = driver
                    .reserve(&ReserveRequest::new(&queues, 5, 60_000, &worker))
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
    assert_eq!(seen, pushed, "some jobs were never reserved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_from_several_drivers_during_claims_are_all_kept() {
    let dir = temp_dir("sqlite");
    let (a, b) = (Arc::new(open(&dir).await), open(&dir).await);
    let pusher = {
        let a = a.clone();
        tokio::spawn(async move {
            for _ in 0..300 {
                a.push_one(NewJob::now("p", "default", "{}")).await.unwrap();
            }
        })
    };
    let queues = vec!["default".to_string()];
    let claim = ReserveRequest::new(&queues, 7, 60_000, "b");
    let mut taken = 0;
    while taken < 300 {
        for r in b.reserve(&claim).await.unwrap() {
            assert!(b.ack(&r.lease).await.unwrap());
            taken += 1;
        }
    }
    pusher.await.unwrap();
    assert!(b.reserve(&claim).await.unwrap().is_empty());
}

/// Set in a child process started by `several_processes_on_one_file_never_share_a_job`.
const CHILD_DB: &str = "RAKIT_SQL_TEST_CHILD_DB";
const CHILD_OUT: &str = "RAKIT_SQL_TEST_CHILD_OUT";

/// In a child process: drains the file named in the environment and writes the ids it
/// took, one per line. In a normal test run it has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process_entry_point() {
    let (Ok(db), Ok(out)) = (std::env::var(CHILD_DB), std::env::var(CHILD_OUT)) else {
        return;
    };
    let driver = SqlDriver::connect(&db, &SqlOptions::default())
        .await
        .unwrap();
    let queues = vec!["high".to_string(), "default".to_string()];
    let claim = ReserveRequest::new(&queues, 3, 60_000, "child");
    let mut mine = Vec::new();
    loop {
        let got = driver.reserve(&claim).await.unwrap();
        if got.is_empty() {
            break;
        }
        for r in got {
            assert!(driver.ack(&r.lease).await.unwrap());
            mine.push(r.job.id.to_string());
        }
    }
    std::fs::write(out, mine.join("\n")).unwrap();
}

/// Real worker processes, each with its own SQLite connections, drain one file together.
#[tokio::test]
async fn several_processes_on_one_file_never_share_a_job() {
    const JOBS: usize = 900;
    const PROCESSES: usize = 4;
    let dir = temp_dir("sqlite");
    let driver = open(&dir).await;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}"))
        .collect();
    let pushed: HashSet<String> = jobs.iter().map(|j| j.id.to_string()).collect();
    driver.push(jobs).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let out = dir.join(format!("taken-{i}.txt"));
            let child = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "worker_process_entry_point",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(CHILD_DB, url(&dir))
                .env(CHILD_OUT, &out)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out)
        })
        .collect();
    let mut seen = HashSet::new();
    for (mut child, out) in children {
        assert!(child.wait().unwrap().success(), "a worker process failed");
        let taken = std::fs::read_to_string(&out).unwrap();
        for id in taken.lines().filter(|l| !l.is_empty()) {
            assert!(
                seen.insert(id.to_string()),
                "job {id} was taken by two processes"
            );
        }
    }
    assert_eq!(seen, pushed, "some jobs were never taken");
    std::fs::remove_dir_all(dir).ok();
}
