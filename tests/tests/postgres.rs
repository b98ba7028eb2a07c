//! The worker suite on postgres: each test gets its own tables.

use rakit_job::Config;
use rakit_job_tests::stores::TestStore;

async fn config() -> Config {
    rakit_job_tests::stores::config(TestStore::Postgres)
}

rakit_job_tests::worker_suite!(config);
rakit_job_tests::control_suite!(config);
rakit_job_tests::limits_suite!(config);
rakit_job_tests::big_drain_test!(config, 20_000, 4, counted_in_a_table);
rakit_job_tests::bad_input_tests!(config);
rakit_job_tests::crash_storm_test!(config);
rakit_job_tests::no_overlap_under_fire_test!(config);

/// A job dispatched inside the application's own transaction appears only if it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_inside_a_transaction_appears_only_if_it_commits() {
    use rakit_job::JobSpec;
    use rakit_test_jobs::RecordRun;
    let h = rakit_job_tests::Harness::new(config().await, env!("CARGO_BIN_EXE_test-worker")).await;
    let pool = rakit_job::sqlx::PgPool::connect(&rakit_job_core::test_support::postgres_url())
        .await
        .unwrap();
    let job = |tag: &str| RecordRun {
        log: h.log("tx.log"),
        tag: tag.into(),
    };

    let mut tx = pool.begin().await.unwrap();
    RecordRun::dispatch(job("committed"))
        .via(&h.queue)
        .with_tx(&mut tx)
        .await
        .unwrap();
    assert_eq!(
        h.totals().await,
        (0, 0, 0, 0),
        "the job was visible before the commit"
    );
    tx.commit().await.unwrap();
    assert_eq!(h.totals().await, (1, 0, 0, 0));

    let mut tx = pool.begin().await.unwrap();
    RecordRun::dispatch(job("rolled-back"))
        .via(&h.queue)
        .with_tx(&mut tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        h.totals().await,
        (1, 0, 0, 0),
        "a rolled-back dispatch left a job"
    );

    let report = rakit_job::Worker::new(&h.queue)
        .quiet()
        .stop_when_empty()
        .run()
        .await
        .unwrap();
    assert_eq!(report.succeeded, 1);
    let ran: Vec<String> = rakit_test_jobs::read_log(&h.log("tx.log"))
        .into_iter()
        .map(|e| e.label)
        .collect();
    assert_eq!(ran, ["committed"]);
}
