//! How a worker stops jobs and itself: an embedded worker never stops on its own, a job's
//! cancellation fires first (at shutdown, timeout, a lost lease, a cancel) so it can stop
//! cleanly, and a job that will not stop keeps its lease and locks until it returns.
//!
//! Each test waits on what the jobs record, with a generous guard instead of timings.

use rakit_job::driver::{Hooks, Lease, LeaseState, MemoryDriver, Watched};
use rakit_job::prelude::*;
use rakit_job::{Config, Queue, State};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the jobs of these tests saw, by tag.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn saw(event: String) {
    SEEN.lock().unwrap().push(event);
}

fn seen(tag: &str) -> Vec<String> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with(tag))
        .cloned()
        .collect()
}

/// A guard against a hang, not a timing: each of these tests ends in a second or two.
const GUARD: Duration = Duration::from_secs(20);

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < GUARD, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A queue on the in-memory store with a 1-second lease (renewed every third of a second).
fn queue() -> Queue {
    let config = Config {
        driver: "memory".into(),
        lease_ms: 1000,
        ..Config::default()
    };
    Queue::with_driver(Arc::new(MemoryDriver::new()), config)
}

/// Records that it ran.
#[job]
pub struct Quick {
    /// Names this test's runs.
    pub tag: String,
}

impl Jobable for Quick {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        saw(format!("{} ran", self.tag));
        Ok(())
    }
}

/// Waits for its cancellation, says so, and stops cleanly (with an error).
#[job(timeout = "300ms")]
pub struct Patient {
    /// Names this test's runs.
    pub tag: String,
}

/// As [`Patient`], without a timeout.
#[job]
pub struct Waiter {
    /// Names this test's runs.
    pub tag: String,
}

impl Jobable for Waiter {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        Patient {
            tag: self.tag.clone(),
        }
        .run(ctx)
        .await
    }
}

impl Jobable for Patient {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        saw(format!("{} started", self.tag));
        ctx.cancelled().await;
        saw(format!("{} saw the cancel", self.tag));
        Err("stopped on request".into())
    }
}

/// Blocks its thread past its timeout, without ever yielding, and records when.
#[job(timeout = "100ms", no_overlap)]
pub struct Stubborn {
    /// Names this run.
    pub tag: String,
}

static STUBBORN: Mutex<Vec<(String, Instant, Instant)>> = Mutex::new(Vec::new());

impl Jobable for Stubborn {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        STUBBORN
            .lock()
            .unwrap()
            .push((self.tag.clone(), started, Instant::now()));
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_built_in_code_runs_past_the_configs_max_job() {
    let q = queue();
    assert_eq!(q.config().max_job, 100, "the config's default limit is 100");
    let jobs = (0..150).map(|_| Quick {
        tag: "unlimited".into(),
    });
    Quick::dispatch_many(jobs).via(&q).await.unwrap();
    let report = Worker::new(&q)
        .stop_when_empty()
        .quiet()
        .run()
        .await
        .unwrap();
    assert_eq!(report.succeeded, 150, "the worker stopped on its own");
    let limited = (0..5).map(|_| Quick {
        tag: "limited".into(),
    });
    Quick::dispatch_many(limited).via(&q).await.unwrap();
    let report = Worker::new(&q).max_jobs(2).quiet().run().await.unwrap();
    assert_eq!(
        report.succeeded, 2,
        "max_jobs stops it when it is asked for"
    );
}

#[tokio::test]
async fn shutdown_fires_the_cancellation_at_once_so_a_job_can_stop_cleanly() {
    let q = queue();
    Patient::dispatch(Patient {
        tag: "at-shutdown".into(),
    })
    .via(&q)
    .await
    .unwrap();
    // A grace far longer than the guard: only a cancellation fired at the start of
    // shutdown lets the worker stop in time.
    let worker = Worker::new(&q).grace(Duration::from_secs(600)).quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    wait_until("the job to start", || {
        !seen("at-shutdown started").is_empty()
    })
    .await;
    stop.shutdown();
    let report = tokio::time::timeout(GUARD, running)
        .await
        .expect("the worker waited out its grace instead of cancelling the job")
        .unwrap()
        .unwrap();
    assert_eq!(seen("at-shutdown saw"), ["at-shutdown saw the cancel"]);
    assert_eq!(
        report.released, 1,
        "a job stopped by shutdown is handed back"
    );
    let stats = q.stats().await.unwrap();
    assert_eq!(stats[0].ready, 1, "it waits for the next worker: {stats:?}");
}

#[tokio::test]
async fn a_timeout_fires_the_cancellation_before_the_job_is_aborted() {
    let q = queue();
    let id = Patient::dispatch(Patient {
        tag: "timed-out".into(),
    })
    .via(&q)
    .await
    .unwrap();
    let report = tokio::time::timeout(
        GUARD,
        Worker::new(&q).retries(0).stop_when_empty().quiet().run(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(seen("timed-out saw"), ["timed-out saw the cancel"]);
    let job = q.job(&id).await.unwrap().unwrap();
    assert_eq!(job.error.as_deref(), Some("the job timed out after 300ms"));
}

/// Plays a lost lease: every renewal after `lose` is set answers `Lost`.
#[derive(Default)]
struct LoseLeases(AtomicBool);

impl Hooks for LoseLeases {
    fn renewed(&self, _leases: &[Lease], states: &mut [LeaseState]) {
        if self.0.load(Ordering::SeqCst) {
            states.iter_mut().for_each(|s| *s = LeaseState::Lost);
        }
    }
}

#[tokio::test]
async fn a_lost_lease_fires_the_cancellation() {
    let store = Arc::new(Watched::new(
        Arc::new(MemoryDriver::new()),
        LoseLeases::default(),
    ));
    let config = Config {
        driver: "memory".into(),
        lease_ms: 1000,
        ..Config::default()
    };
    let q = Queue::with_driver(store.clone(), config);
    Waiter::dispatch(Waiter {
        tag: "lease-lost".into(),
    })
    .via(&q)
    .await
    .unwrap();
    store.hooks().0.store(true, Ordering::SeqCst);
    let worker = Worker::new(&q).quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    wait_until("the job to see its lease lost", || {
        !seen("lease-lost saw").is_empty()
    })
    .await;
    stop.shutdown();
    let report = running.await.unwrap().unwrap();
    assert_eq!(
        report.released, 1,
        "a job whose lease was lost writes nothing: {report:?}"
    );
}

#[tokio::test]
async fn a_cancelled_running_job_is_stopped_and_kept_as_cancelled() {
    let q = queue();
    let id = Waiter::dispatch(Waiter {
        tag: "cancelled".into(),
    })
    .via(&q)
    .await
    .unwrap();
    let worker = Worker::new(&q).quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    wait_until("the job to start", || !seen("cancelled started").is_empty()).await;
    assert_eq!(
        q.cancel(&id).await.unwrap(),
        rakit_job::Cancelled::Requested
    );
    wait_until("the job to see the cancel", || {
        !seen("cancelled saw").is_empty()
    })
    .await;
    let mut state = None;
    for _ in 0..200 {
        state = q.job(&id).await.unwrap().map(|j| j.state);
        if state == Some(State::Cancelled) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        state,
        Some(State::Cancelled),
        "the job was not kept as cancelled"
    );
    stop.shutdown();
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.cancelled, report.retried), (1, 0), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_blocks_past_its_timeout_keeps_its_lock_until_it_returns() {
    let q = queue();
    for tag in ["first", "second"] {
        Stubborn::dispatch(Stubborn { tag: tag.into() })
            .via(&q)
            .await
            .unwrap();
    }
    // A worker that runs until stopped: the second job, turned away while the first holds
    // the key, is tried again on its own and must wait for the first to return.
    let worker = Worker::new(&q).concurrency(2).retries(0).quiet();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    wait_until("both runs to end", || STUBBORN.lock().unwrap().len() == 2).await;
    stop.shutdown();
    running.await.unwrap().unwrap();
    let runs: HashMap<String, (Instant, Instant)> = STUBBORN
        .lock()
        .unwrap()
        .iter()
        .map(|(tag, start, end)| (tag.clone(), (*start, *end)))
        .collect();
    let (a, b) = (runs["first"], runs["second"]);
    let overlap = a.0 < b.1 && b.0 < a.1;
    assert!(
        !overlap,
        "two runs of one no-overlap key ran at once after the first timed out"
    );
}
