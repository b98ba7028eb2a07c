//! The SQL driver on real SQLite files: the shared conformance suite, plus the rules
//! only a file database has.
#![cfg(feature = "sqlite")]

use rakit_job_core::conformance::Store;
use rakit_job_core::{Driver, DriverError, JobId, NewJob, ReserveRequest};
use rakit_job_sql::SqlDriver;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

/// A new, empty folder under the system temp dir.
fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rakit-sql-test-{}", JobId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn url(dir: &std::path::Path) -> String {
    format!("sqlite://{}/jobs.db", dir.display())
}

async fn store() -> Store {
    let dir = fresh_dir();
    Arc::new(
        SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
            .await
            .unwrap(),
    )
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
async fn a_new_file_and_its_folder_are_created_with_the_tables() {
    let dir = fresh_dir().join("nested/deeper");
    let driver = SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    assert!(dir.join("jobs.db").exists());
    driver.check().await.unwrap();
    assert_eq!(
        driver.describe(),
        format!("sqlite {}/jobs.db", dir.display())
    );
    let caps = driver.capabilities();
    assert!(caps.durable && caps.has_schema && !caps.wakes_across_processes);
    let schema = driver.schema().unwrap();
    assert!(schema.contains("CREATE TABLE IF NOT EXISTS rakit_jobs"));
}

#[tokio::test]
async fn an_existing_file_without_tables_is_a_missing_schema() {
    let dir = fresh_dir();
    std::fs::File::create(dir.join("jobs.db")).unwrap();
    let driver = SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    let err = driver.check().await.unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("job:table"), "{err}");
    let err = driver
        .push(NewJob::now("a", "default", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");
    let queues = vec!["default".to_string()];
    let err = driver
        .reserve(&ReserveRequest::new(&queues, 1, 1000))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::MissingSchema { .. }), "{err:?}");

    // `job:table` + `migrate` fix it.
    let schema = driver.schema().unwrap();
    assert!(driver.applied_migrations().await.unwrap().is_empty());
    driver
        .apply_migration("2024_01_01_000000_create_job_tables", &schema)
        .await
        .unwrap();
    driver
        .apply_migration("2024_01_01_000000_create_job_tables", &schema)
        .await
        .unwrap();
    assert_eq!(
        driver.applied_migrations().await.unwrap(),
        ["2024_01_01_000000_create_job_tables"]
    );
    driver.check().await.unwrap();
    driver
        .push(NewJob::now("a", "default", "{}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failing_migration_leaves_nothing_behind() {
    let dir = fresh_dir();
    let driver = SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    let script = "CREATE TABLE extra (x TEXT);\nINSERT INTO nowhere VALUES (1);\n";
    assert!(driver.apply_migration("broken", script).await.is_err());
    assert!(driver.applied_migrations().await.unwrap().is_empty());
    // The first statement was rolled back with the second.
    driver
        .apply_migration("fixed", "CREATE TABLE extra (x TEXT);")
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_table_names_and_urls_are_refused() {
    let dir = fresh_dir();
    for (table, failed) in [
        ("jobs; DROP TABLE x", "failed"),
        ("jobs", "fa iled"),
        ("1jobs", "failed"),
        ("", "failed"),
    ] {
        let err = SqlDriver::connect(&url(&dir), table, failed)
            .await
            .err()
            .expect("a bad table name was accepted");
        assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
    }
    assert!(
        !dir.join("jobs.db").exists(),
        "a refused connect created the file"
    );
    let err = SqlDriver::connect("oracle://db/x", "jobs", "failed")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("sqlite://"), "{err}");
    let err = SqlDriver::connect("sqlite::memory:", "jobs", "failed")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_unwritable_location_is_unreachable() {
    let dir = fresh_dir();
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    let err = SqlDriver::connect(
        &format!("sqlite://{}/jobs.db", blocker.display()),
        "jobs",
        "failed",
    )
    .await
    .err()
    .unwrap();
    assert!(err.is_unreachable(), "{err:?}");
}

#[tokio::test]
async fn the_short_url_form_works() {
    let dir = fresh_dir();
    let driver = SqlDriver::connect(
        &format!("sqlite:{}/short.db", dir.display()),
        "jobs",
        "failed",
    )
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
    let dir = fresh_dir();
    let first = SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    let mut pushed = HashSet::new();
    for i in 0..JOBS {
        let job = NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}");
        pushed.insert(job.id.clone());
        first.push(job).await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let driver = SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
            .await
            .unwrap();
        workers.push(tokio::spawn(async move {
            let queues = vec!["high".to_string(), "default".to_string()];
            let mut mine = Vec::new();
            loop {
                let got = driver
                    .reserve(&ReserveRequest::new(&queues, 5, 60_000))
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
    let stats = first.stats().await.unwrap();
    assert!(
        stats
            .iter()
            .all(|s| s.ready + s.reserved + s.scheduled == 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_from_several_drivers_during_claims_are_all_kept() {
    let dir = fresh_dir();
    let a = Arc::new(
        SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
            .await
            .unwrap(),
    );
    let b = Arc::new(
        SqlDriver::connect(&url(&dir), "rakit_jobs", "rakit_failed_jobs")
            .await
            .unwrap(),
    );
    let pusher = {
        let a = a.clone();
        tokio::spawn(async move {
            for _ in 0..300 {
                a.push(NewJob::now("p", "default", "{}")).await.unwrap();
            }
        })
    };
    let queues = vec!["default".to_string()];
    let mut taken = 0;
    while taken < 300 {
        for r in b
            .reserve(&ReserveRequest::new(&queues, 7, 60_000))
            .await
            .unwrap()
        {
            assert!(b.ack(&r.lease).await.unwrap());
            taken += 1;
        }
    }
    pusher.await.unwrap();
    assert!(
        b.reserve(&ReserveRequest::new(&queues, 7, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
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
    let driver = SqlDriver::connect(&db, "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    let queues = vec!["high".to_string(), "default".to_string()];
    let mut mine = Vec::new();
    loop {
        let got = driver
            .reserve(&ReserveRequest::new(&queues, 3, 60_000))
            .await
            .unwrap();
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
    let dir = fresh_dir();
    let db = url(&dir);
    let driver = SqlDriver::connect(&db, "rakit_jobs", "rakit_failed_jobs")
        .await
        .unwrap();
    let mut pushed = HashSet::new();
    for i in 0..JOBS {
        let job = NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}");
        pushed.insert(job.id.to_string());
        driver.push(job).await.unwrap();
    }
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
                .env(CHILD_DB, &db)
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
