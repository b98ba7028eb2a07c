//! Bad input, per store: each case gets its clear error, and every other stored job is left intact.

use crate::Harness;
use rakit_job::driver::NewJob;
use rakit_job::{JobSpec, Worker};
use rakit_test_jobs::{Hangs, RecordRun, read_log};
use std::time::Duration;

/// Expands to one `#[tokio::test]` per bad-input case, each on a fresh store from `$config`.
#[macro_export]
macro_rules! bad_input_tests {
    ($config:path) => {
        $crate::bad_input_tests!(@cases $config;
            stored_records_that_do_not_decode_fail_with_the_reason_and_spare_the_rest,
            bad_dispatches_are_refused_and_store_nothing,
            a_job_that_never_returns_is_stopped_by_its_timeout,
            times_far_in_the_past_or_future_are_handled_without_panic
        );
    };
    (@cases $config:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
                $crate::bad_input::$case(harness).await;
            }
        )*
    };
}

fn worker(h: &Harness) -> Worker {
    Worker::new(&h.queue)
        .sleep(Duration::from_millis(50))
        .retries(0)
        .quiet()
        .stop_when_empty()
}

/// Records written by another program — not JSON, the wrong shape, an unknown name — each
/// go to the failed store with their reason; a good job stored beside them still runs.
pub async fn stored_records_that_do_not_decode_fail_with_the_reason_and_spare_the_rest(h: Harness) {
    let log = h.log("bad.log");
    let driver = h.queue.driver();
    let cases = [
        (
            RecordRun::NAME,
            "not json {",
            "does not fit the `record-run` job",
        ),
        (
            RecordRun::NAME,
            r#"{"log": 5, "tag": []}"#,
            "does not fit the `record-run` job",
        ),
        (
            "no-such-job",
            r#"{"x": 1}"#,
            "no job named `no-such-job` is registered",
        ),
    ];
    for (name, payload, _) in &cases {
        driver
            .push(vec![NewJob::now(name, "default", payload)])
            .await
            .unwrap();
    }
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "good".into(),
    })
    .on_queue("low")
    .via(&h.queue)
    .await
    .unwrap();
    let report = worker(&h).run().await.unwrap();
    assert_eq!((report.failed, report.succeeded), (3, 1));
    assert_eq!(read_log(&log).len(), 1, "the good job did not run");
    let failed = h.failed().await;
    for (name, payload, reason) in &cases {
        let f = failed
            .iter()
            .find(|f| f.payload == *payload)
            .unwrap_or_else(|| panic!("{payload} was lost"));
        assert_eq!(f.name, *name);
        assert!(f.error.contains(reason), "{payload}: {}", f.error);
        assert_eq!(
            f.attempts, 1,
            "a record that cannot decode must not be retried"
        );
    }
}

/// Bad queue names, dates and payloads are refused at dispatch with one sentence, and nothing is stored.
pub async fn bad_dispatches_are_refused_and_store_nothing(h: Harness) {
    let log = h.log("refused.log");
    let job = || RecordRun {
        log: log.clone(),
        tag: "x".into(),
    };
    let long = "q".repeat(65);
    for queue in [
        "",
        "..",
        "a/b",
        "a:b",
        "a*",
        "{tag}",
        "a b",
        "../../etc",
        long.as_str(),
    ] {
        let err = RecordRun::dispatch(job())
            .on_queue(queue)
            .via(&h.queue)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("queue name") && err.contains("is invalid"),
            "{queue:?}: {err}"
        );
    }
    for date in [
        "",
        "yesterday",
        "2024-02-30 10:00:00",
        "2024-13-01 00:00:00",
        "31/12/2024 10:00",
        "2024-12-31 25:61:00",
    ] {
        let err = RecordRun::dispatch_at(date, job())
            .via(&h.queue)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the date"), "{date:?}: {err}");
    }
    let huge = RecordRun {
        log: log.clone(),
        tag: "x".repeat(300 * 1024),
    };
    let err = RecordRun::dispatch(huge)
        .via(&h.queue)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("byte limit"), "{err}");
    let err = rakit_job::Job::dispatch("record-run", serde_json::json!({"tag": 1}))
        .via(&h.queue)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not fit the `record-run` job"),
        "{err}"
    );
    assert_eq!(
        h.totals().await,
        (0, 0, 0, 0),
        "a refused dispatch stored something"
    );
}

/// A job that never returns is stopped at its timeout and recorded as failed; the worker goes on.
pub async fn a_job_that_never_returns_is_stopped_by_its_timeout(h: Harness) {
    let log = h.log("hang.log");
    Hangs::dispatch(Hangs { log: log.clone() })
        .on_queue("high")
        .via(&h.queue)
        .await
        .unwrap();
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "next".into(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        worker(&h).queues(["high", "default"]).run(),
    )
    .await
    .expect("the worker hung with the job")
    .unwrap();
    assert_eq!((report.failed, report.succeeded), (1, 1));
    let f = &h.failed().await[0];
    assert_eq!(f.error, "the job timed out after 300ms");
    assert!(
        !read_log(&log).iter().any(|e| e.event == "end"),
        "the timed-out job kept running"
    );
}

/// Times a clock jump could produce — the epoch, the far future, a lease of years — are stored
/// and handled without a panic: the past is due, the future waits.
pub async fn times_far_in_the_past_or_future_are_handled_without_panic(h: Harness) {
    let log = h.log("clock.log");
    let payload = |tag: &str| {
        serde_json::to_string(&RecordRun {
            log: log.clone(),
            tag: tag.into(),
        })
        .unwrap()
    };
    let driver = h.queue.driver();
    let mut past = NewJob::now(RecordRun::NAME, "default", &payload("epoch"));
    past.available_at = 0;
    past.created_at = 0;
    driver.push(vec![past]).await.unwrap();
    let mut future = NewJob::now(RecordRun::NAME, "default", &payload("year-9999"));
    future.available_at = 253_402_300_799_000;
    driver.push(vec![future]).await.unwrap();
    let report = worker(&h).run().await.unwrap();
    assert_eq!(report.succeeded, 1);
    let ran: Vec<String> = read_log(&log).into_iter().map(|e| e.label).collect();
    assert_eq!(ran, ["epoch"]);
    assert_eq!(h.totals().await, (0, 1, 0, 0));
    let far = RecordRun::dispatch_at(
        "9999-12-31 23:59:59",
        RecordRun {
            log,
            tag: "far".into(),
        },
    )
    .via(&h.queue)
    .await;
    assert!(far.is_ok(), "{far:?}");
}
