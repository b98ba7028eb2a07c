//! The worker's policy (retries, panics, timeouts, unknown names, priority) on the in-memory store.
//! Jobs here are written out by hand, the way `#[job]` expands them, so these tests do not
//! depend on the macro.

use rakit_job::__private::{JOBS, JobEntry, linkme};
use rakit_job::{
    Backoff, JobContext, JobError, JobOptions, JobResult, JobSpec, Jobable, KeyRule, Queue, Worker,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn runs_of(prefix: &str) -> Vec<String> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with(prefix))
        .cloned()
        .collect()
}

#[derive(Serialize, Deserialize)]
struct Flaky {
    tag: String,
    fail_first: u32,
}

impl JobSpec for Flaky {
    const NAME: &'static str = "flaky";
    const QUEUE: &'static str = "default";
    const OPTIONS: JobOptions = JobOptions {
        retries: Some(2),
        backoff: Backoff::Fixed,
        ..JobOptions::DEFAULT
    };
}

impl Jobable for Flaky {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        RUNS.lock()
            .unwrap()
            .push(format!("{}#{}", self.tag, ctx.attempt()));
        if ctx.attempt() <= self.fail_first {
            return Err(JobError::new(format!(
                "attempt {} failed on purpose",
                ctx.attempt()
            )));
        }
        if self.tag.contains("panic") {
            panic!("boom in {}", self.tag);
        }
        Ok(())
    }
}

#[linkme::distributed_slice(JOBS)]
#[linkme(crate = rakit_job::__private::linkme)]
static FLAKY: JobEntry = JobEntry::of::<Flaky>("worker_memory::Flaky");

#[derive(Serialize, Deserialize)]
struct Slow {
    tag: String,
}

impl JobSpec for Slow {
    const NAME: &'static str = "slow";
    const QUEUE: &'static str = "default";
    const OPTIONS: JobOptions = JobOptions {
        retries: Some(0),
        timeout: Some(Duration::from_millis(200)),
        no_overlap: KeyRule::Off,
        ..JobOptions::DEFAULT
    };
}

impl Jobable for Slow {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        tokio::time::sleep(Duration::from_secs(30)).await;
        RUNS.lock().unwrap().push(format!("{} finished", self.tag));
        Ok(())
    }
}

#[linkme::distributed_slice(JOBS)]
#[linkme(crate = rakit_job::__private::linkme)]
static SLOW: JobEntry = JobEntry::of::<Slow>("worker_memory::Slow");

fn worker(queue: &Queue) -> Worker {
    Worker::new(queue)
        .sleep(Duration::from_millis(20))
        .stop_when_empty()
}

#[tokio::test]
async fn failing_job_is_retried_until_it_succeeds() {
    let queue = Queue::memory();
    Flaky::dispatch(Flaky {
        tag: "retry-ok".into(),
        fail_first: 2,
    })
    .via(&queue)
    .await
    .unwrap();
    let mut total = rakit_job::WorkerReport::default();
    // Retries wait out their backoff (the worker's sleep, 20 ms); run until the store is empty.
    while queue
        .driver()
        .stats()
        .await
        .unwrap()
        .iter()
        .any(|s| s.ready + s.scheduled > 0)
    {
        let r = worker(&queue).run().await.unwrap();
        total.succeeded += r.succeeded;
        total.retried += r.retried;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        runs_of("retry-ok"),
        ["retry-ok#1", "retry-ok#2", "retry-ok#3"]
    );
    assert_eq!((total.succeeded, total.retried), (1, 2));
    assert!(failed(&queue).await.is_empty());
}

#[tokio::test]
async fn spent_retries_move_the_job_to_the_failed_store_with_its_error() {
    let queue = Queue::memory();
    Flaky::dispatch(Flaky {
        tag: "doomed".into(),
        fail_first: 99,
    })
    .via(&queue)
    .await
    .unwrap();
    while failed(&queue).await.is_empty() {
        worker(&queue).run().await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        runs_of("doomed").len(),
        3,
        "retries = 2 means at most 3 runs"
    );
    let failed = &failed(&queue).await[0];
    assert_eq!(
        failed.error.as_deref().unwrap_or_default(),
        "attempt 3 failed on purpose"
    );
    assert_eq!(failed.attempt, 3);
    assert_eq!(failed.name, "flaky");
}

#[tokio::test]
async fn a_panicking_job_fails_and_the_worker_lives_on() {
    let queue = Queue::memory();
    for tag in ["panic-a", "then-fine"] {
        Flaky::dispatch(Flaky {
            tag: tag.into(),
            fail_first: 0,
        })
        .via(&queue)
        .on_queue("low")
        .await
        .unwrap();
    }
    let report = Worker::new(&queue)
        .retries(0)
        .queues(["low"])
        .stop_when_empty()
        .run()
        .await
        .unwrap();
    // Flaky's own retries (2) win over the worker's, so the panic is retried, not failed yet.
    assert_eq!(report.succeeded, 1);
    assert_eq!(runs_of("then-fine"), ["then-fine#1"]);
    let stats = queue.driver().stats().await.unwrap();
    assert_eq!(
        stats[0].scheduled, 1,
        "the panicked job waits for its retry"
    );
}

#[tokio::test]
async fn a_job_over_its_timeout_is_stopped_and_failed() {
    let queue = Queue::memory();
    Slow::dispatch(Slow {
        tag: "sleepy".into(),
    })
    .via(&queue)
    .await
    .unwrap();
    let report = worker(&queue).run().await.unwrap();
    assert_eq!(report.failed, 1);
    let failed = &failed(&queue).await[0];
    assert_eq!(
        failed.error.as_deref().unwrap_or_default(),
        "the job timed out after 200ms"
    );
    assert!(
        runs_of("sleepy").is_empty(),
        "the timed-out job kept running"
    );
}

#[tokio::test]
async fn unknown_job_names_go_straight_to_the_failed_store() {
    let queue = Queue::memory();
    rakit_job::Job::dispatch("nobody-knows-me", json!({"x": 1}))
        .via(&queue)
        .await
        .unwrap();
    let report = worker(&queue).run().await.unwrap();
    assert_eq!(report.failed, 1);
    let failed = &failed(&queue).await[0];
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no job named `nobody-knows-me` is registered"),
        "{:?}",
        failed.error
    );
    assert_eq!(failed.attempt, 1);
}

#[tokio::test]
async fn undecodable_payloads_go_straight_to_the_failed_store() {
    let queue = Queue::memory();
    // Bypass dispatch validation by writing the record as another program might.
    queue
        .driver()
        .push(vec![rakit_job::driver::NewJob::now(
            "flaky",
            "default",
            r#"{"tag": 5}"#,
        )])
        .await
        .unwrap();
    let report = worker(&queue).run().await.unwrap();
    assert_eq!(report.failed, 1);
    let failed = &failed(&queue).await[0];
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("does not fit the `flaky` job"),
        "{:?}",
        failed.error
    );
}

#[tokio::test]
async fn by_name_dispatch_checks_the_payload_against_the_registered_type() {
    let queue = Queue::memory();
    let err = rakit_job::Job::dispatch("Flaky", json!({"tag": 1}))
        .via(&queue)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not fit the `flaky` job"),
        "{err}"
    );
    assert!(
        queue.driver().stats().await.unwrap().is_empty(),
        "a refused dispatch stored something"
    );
    rakit_job::Job::dispatch("Flaky", json!({"tag": "ok", "fail_first": 0}))
        .via(&queue)
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_dispatch_input_is_refused_and_nothing_is_stored() {
    let queue = Queue::memory();
    let job = || Flaky {
        tag: "x".into(),
        fail_first: 0,
    };
    let bad_queue = Flaky::dispatch(job())
        .via(&queue)
        .on_queue("../etc")
        .await
        .unwrap_err();
    assert!(bad_queue.to_string().contains("queue name"), "{bad_queue}");
    let bad_date = Flaky::dispatch_at("31/12/2024", job())
        .via(&queue)
        .await
        .unwrap_err();
    assert!(
        bad_date.to_string().contains("cannot read the date"),
        "{bad_date}"
    );
    let big = Flaky {
        tag: "x".repeat(300 * 1024),
        fail_first: 0,
    };
    let too_big = Flaky::dispatch(big).via(&queue).await.unwrap_err();
    assert!(too_big.to_string().contains("byte limit"), "{too_big}");
    assert!(queue.driver().stats().await.unwrap().is_empty());
}

#[tokio::test]
async fn queues_are_served_in_strict_priority_order() {
    let queue = Queue::memory();
    for (tag, q) in [
        ("prio-low", "low"),
        ("prio-default", "default"),
        ("prio-high", "high"),
    ] {
        Flaky::dispatch(Flaky {
            tag: tag.into(),
            fail_first: 0,
        })
        .on_queue(q)
        .via(&queue)
        .await
        .unwrap();
    }
    worker(&queue)
        .queues(["high", "default", "low"])
        .run()
        .await
        .unwrap();
    assert_eq!(
        runs_of("prio-"),
        ["prio-high#1", "prio-default#1", "prio-low#1"]
    );
}

#[tokio::test]
async fn a_job_dispatched_in_process_starts_without_waiting_out_the_sleep() {
    let queue = Queue::memory();
    let worker = Worker::new(&queue).sleep(Duration::from_secs(3600));
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    tokio::time::sleep(Duration::from_millis(50)).await;
    Flaky::dispatch(Flaky {
        tag: "instant".into(),
        fail_first: 0,
    })
    .via(&queue)
    .await
    .unwrap();
    // With a one-hour sleep, only the in-process wake-up can start the job within the test's time.
    let started = std::time::Instant::now();
    while runs_of("instant").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the job did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.shutdown();
    assert_eq!(running.await.unwrap().unwrap().succeeded, 1);
}

#[tokio::test]
async fn max_jobs_stops_the_worker_after_that_many() {
    let queue = Queue::memory();
    for i in 0..5 {
        Flaky::dispatch(Flaky {
            tag: format!("max-{i}"),
            fail_first: 0,
        })
        .via(&queue)
        .await
        .unwrap();
    }
    let report = Worker::new(&queue).max_jobs(2).run().await.unwrap();
    assert_eq!(report.succeeded, 2);
    assert_eq!(queue.driver().stats().await.unwrap()[0].ready, 3);
}

#[tokio::test]
async fn legacy_listeners_run_jobs_by_name() {
    let queue = Queue::memory();
    rakit_job::listen(
        "Send Notification",
        |payload: serde_json::Value| async move {
            RUNS.lock()
                .unwrap()
                .push(format!("legacy {}", payload["to"].as_str().unwrap_or("?")));
            Ok(())
        },
    );
    rakit_job::Job::dispatch("send-notification", json!({"to": "user@example.com"}))
        .via(&queue)
        .await
        .unwrap();
    worker(&queue).run().await.unwrap();
    assert_eq!(runs_of("legacy"), ["legacy user@example.com"]);
}

/// The failed jobs of `queue`.
async fn failed(queue: &Queue) -> Vec<rakit_job::JobInfo> {
    use rakit_job::State;
    queue.jobs().state(State::Failed).await.unwrap().jobs
}
