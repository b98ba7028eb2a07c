//! The worker suite on SQLite files, plus SQLite's own set-up rules.

use rakit_job::Config;
use rakit_job_tests::stores::TestStore;
use rakit_job_tests::{Harness, temp_dir};

async fn config() -> Config {
    rakit_job_tests::stores::config(TestStore::Sqlite)
}

rakit_job_tests::worker_suite!(config);
rakit_job_tests::control_suite!(config);
rakit_job_tests::limits_suite!(config);
rakit_job_tests::big_drain_test!(config, 10_000, 4);
rakit_job_tests::bad_input_tests!(config);
rakit_job_tests::crash_storm_test!(config);
rakit_job_tests::no_overlap_under_fire_test!(config);

#[tokio::test]
async fn a_new_database_file_is_created_with_its_tables_on_first_use() {
    let config = config().await;
    let queue = rakit_job::Queue::connect(&config).await.unwrap();
    assert!(queue.driver().stats().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_worker_on_a_database_without_the_tables_says_to_run_job_table_and_migrate() {
    let dir = temp_dir("sqlite-empty");
    let path = dir.join("app.db");
    // An application database that exists but has no job tables.
    let mut config = config().await;
    config.url = format!("sqlite://{}", path.display());
    config.table = "other_table".into();
    rakit_job::Queue::connect(&config).await.unwrap();
    config.table = "rakit_jobs".into();
    config.failed_table = "rakit_failed_jobs_x".into();
    let harness_env = [
        (
            "RAKIT_JOB_CONFIG",
            dir.join("none.toml").display().to_string(),
        ),
        ("RAKIT_JOB_URL", config.url.clone()),
        ("RAKIT_JOB_FAILED_TABLE", config.failed_table.clone()),
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_test-worker"))
        .args(["job:runall", "--stop-when-empty"])
        .envs(harness_env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("run `job:table` and then `migrate`"), "{err}");

    // After job:table and migrate, the same command works.
    let migrations = dir.join("migrations").display().to_string();
    for args in [
        vec!["job:table", "--path", &migrations],
        vec!["migrate", "--path", &migrations],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_test-worker"))
            .args(&args)
            .envs(harness_env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_test-worker"))
        .args(["job:runall", "--stop-when-empty"])
        .envs(harness_env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Harness::new;
}

/// A store error that waiting cannot mend (here: a column the claim needs is gone) stops
/// the worker with one sentence instead of retrying it every 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_a_broken_table_stops_with_the_reason_instead_of_looping() {
    use rakit_job::sqlx::{self, Connection};
    let config = config().await;
    let h = Harness::new(config.clone(), env!("CARGO_BIN_EXE_test-worker")).await;
    rakit_job::Job::dispatch("record-run", serde_json::json!({"log": "x", "tag": "y"}))
        .via(&h.queue)
        .await
        .unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&config.url).await.unwrap();
    let drop = format!("ALTER TABLE {} DROP COLUMN payload", config.table);
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&mut conn)
        .await
        .unwrap();
    let run = rakit_job::Worker::new(&h.queue)
        .quiet()
        .stop_when_empty()
        .run();
    let result = tokio::time::timeout(std::time::Duration::from_secs(20), run)
        .await
        .expect("the worker kept retrying a broken table");
    let error = result.expect_err("a broken table is an error").to_string();
    assert!(error.contains("cannot be used as it is"), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
}
