//! Unique windows, running caps and rate limits on the in-memory store (the
//! cross-process tests on every store are in `tests/src/limits.rs`).

use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Runs, each with when it started and ended (ms), by tag.
static RUNS: Mutex<Vec<(String, u64, u64)>> = Mutex::new(Vec::new());
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);

fn now() -> u64 {
    rakit_job::driver::now_ms() as u64
}

fn runs(tag: &str) -> Vec<(u64, u64)> {
    RUNS.lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| t == tag)
        .map(|(_, a, b)| (*a, *b))
        .collect()
}

fn queue() -> Queue {
    let config = Config {
        driver: "memory".into(),
        lease_ms: 1000,
        ..Config::default()
    };
    Queue::with_driver(
        std::sync::Arc::new(rakit_job::driver::MemoryDriver::new()),
        config,
    )
}

/// At most two run at once, each for 100 ms.
#[job(max_running = 2)]
pub struct Transcode {
    /// Names the test's runs.
    pub tag: String,
}

impl Jobable for Transcode {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let start = now();
        let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        MOST_RUNNING.fetch_max(running, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        RUNS.lock().unwrap().push((self.tag.clone(), start, now()));
        Ok(())
    }
}

/// At most five starts per second.
#[job(rate_limit = "5/1s")]
pub struct CallPartner {
    /// Names the test's runs.
    pub tag: String,
}

impl Jobable for CallPartner {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        assert_eq!(
            ctx.attempt(),
            1,
            "a job held back by the rate limit spent an attempt"
        );
        let at = now();
        RUNS.lock().unwrap().push((self.tag.clone(), at, at));
        Ok(())
    }
}

/// Refused for ten minutes after an accepted dispatch.
#[job(unique_for = "10m", unique = "account")]
pub struct SyncAccount {
    /// The account to sync.
    pub account: u64,
}

impl Jobable for SyncAccount {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_cap_holds_across_workers_sharing_a_store() {
    let q = queue();
    let jobs = (0..12).map(|_| Transcode { tag: "cap".into() });
    Transcode::dispatch_many(jobs).via(&q).await.unwrap();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let worker = Worker::new(&q).concurrency(4).stop_when_empty().quiet();
            tokio::spawn(worker.run())
        })
        .collect();
    let mut done = 0;
    for worker in workers {
        done += worker.await.unwrap().unwrap().succeeded;
    }
    // Workers that stopped on an empty look may leave released jobs behind: run them out.
    while done < 12 {
        done += Worker::new(&q)
            .stop_when_empty()
            .quiet()
            .run()
            .await
            .unwrap()
            .succeeded;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs("cap").len(), 12);
    assert_eq!(
        MOST_RUNNING.load(Ordering::SeqCst),
        2,
        "the cap of 2 was not held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_jobs_back_without_spending_attempts() {
    let q = queue();
    let jobs = (0..15).map(|_| CallPartner { tag: "rate".into() });
    CallPartner::dispatch_many(jobs).via(&q).await.unwrap();
    let started = Instant::now();
    let worker = Worker::new(&q).concurrency(8).quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    while runs("rate").len() < 15 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the limited jobs never all ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.shutdown();
    let report = running.await.unwrap().unwrap();
    assert_eq!(
        (report.succeeded, report.failed, report.retried),
        (15, 0, 0)
    );
    let mut starts: Vec<u64> = runs("rate").iter().map(|(a, _)| *a).collect();
    starts.sort();
    for (i, first) in starts.iter().enumerate() {
        let in_window = starts[i..].iter().filter(|s| **s < first + 1000).count();
        assert!(
            in_window <= 5,
            "{in_window} starts within one second: {starts:?}"
        );
    }
}

#[tokio::test]
async fn a_unique_window_turns_a_dispatch_away_whatever_became_of_the_first() {
    let q = queue();
    let first = SyncAccount::dispatch(SyncAccount { account: 7 })
        .via(&q)
        .unique()
        .await
        .unwrap();
    assert!(first.is_some());
    Worker::new(&q)
        .stop_when_empty()
        .quiet()
        .run()
        .await
        .unwrap();
    let again = SyncAccount::dispatch(SyncAccount { account: 7 })
        .via(&q)
        .unique()
        .await
        .unwrap();
    assert_eq!(
        again, None,
        "a key accepted within its window was accepted again"
    );
    let other = SyncAccount::dispatch(SyncAccount { account: 8 })
        .via(&q)
        .unique()
        .await
        .unwrap();
    assert!(other.is_some(), "the window is per account");
    let plain = Job::dispatch("report", serde_json::json!({}))
        .via(&q)
        .unique_for(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(plain.is_some());
    let twice = Job::dispatch("report", serde_json::json!({}))
        .via(&q)
        .unique_for(Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(twice, None);
}
