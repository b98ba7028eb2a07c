//! Seeing and steering jobs across processes, on every store: strict priority while
//! workers claim ahead, cancel, pause and resume, and worker heartbeats. Each rule runs
//! real worker processes (`test-worker job:runall`) against the store under test, and
//! steers them from this process through the store alone.

use crate::{Harness, signal, wait_until};
use rakit_job::{Cancelled, JobSpec, State, Worker};
use rakit_test_jobs::{RecordRun, UntilStopped, read_log};
use std::time::{Duration, Instant};

/// Expands to one `#[tokio::test]` per rule, each on a fresh store from `$config`.
#[macro_export]
macro_rules! control_suite {
    ($config:path) => {
        $crate::control_suite!(@cases $config;
            claimed_ahead_jobs_never_start_while_a_higher_job_is_due,
            a_running_job_cancelled_from_another_process_stops_and_is_not_retried,
            a_paused_queue_is_held_by_every_worker_process_until_resumed,
            worker_processes_are_listed_and_a_killed_one_disappears
        );
    };
    (@cases $config:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
                $crate::control::$case(harness).await;
            }
        )*
    };
}

const LONG: Duration = Duration::from_secs(60);

/// Jobs the priority rule's worker runs at once.
const CONCURRENCY: usize = 4;

fn now_ms() -> u64 {
    rakit_job::driver::now_ms() as u64
}

/// A worker draining a backlog of `low` jobs with claim-ahead on (its default) never starts
/// a `low` job while a `high` job it could take is due: the high burst dispatched mid-drain
/// runs before any low job that starts after it was stored.
pub async fn claimed_ahead_jobs_never_start_while_a_higher_job_is_due(h: Harness) {
    let log = h.log("priority.log");
    let lows = (0..400).map(|i| RecordRun {
        log: log.clone(),
        tag: format!("low-{i}"),
    });
    RecordRun::dispatch_many(lows)
        .on_queue("low")
        .via(&h.queue)
        .await
        .unwrap();
    let worker = Worker::new(&h.queue)
        .queues(["high", "default", "low"])
        .concurrency(CONCURRENCY)
        .sleep(Duration::from_millis(50))
        .quiet();
    // Stopped once every job ran, not when empty: a fast store can drain the low jobs
    // before the last high ones are dispatched.
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    wait_until("the drain to be under way", LONG, || async {
        read_log(&log).len() >= 40
    })
    .await;
    let mut due = Vec::new();
    for i in 0..20 {
        let tag = format!("high-{i}");
        RecordRun::dispatch(RecordRun {
            log: log.clone(),
            tag: tag.clone(),
        })
        .on_queue("high")
        .via(&h.queue)
        .await
        .unwrap();
        due.push((tag, now_ms()));
    }
    wait_until("every job to run", LONG, || async {
        read_log(&log).len() >= 420
    })
    .await;
    stop.shutdown();
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.succeeded, 420, "{report:?}");
    let entries = read_log(&log);
    let started = |tag: &str| {
        entries
            .iter()
            .find(|e| e.label == tag)
            .map(|e| e.at_ms)
            .unwrap_or_else(|| panic!("{tag} never ran"))
    };
    let mut overtaken_highs = Vec::new();
    for (tag, due_at) in &due {
        let high_start = started(tag);
        let overtaken: Vec<&str> = entries
            .iter()
            .filter(|e| e.label.starts_with("low-"))
            .filter(|e| e.at_ms > *due_at && e.at_ms < high_start)
            .map(|e| e.label.as_str())
            .collect();
        // Low jobs may log their start after the high job was stored though the worker
        // started them before (at most one per slot), and the look at the higher queues
        // before lower jobs start may have begun just before it was stored (it fills the
        // free slots, at most one per slot): more than two per slot breaks priority.
        if overtaken.len() > 2 * CONCURRENCY {
            overtaken_highs.push(format!(
                "{tag} was due at {due_at} but started at {high_start}, after low jobs {overtaken:?}"
            ));
        }
    }
    // A worker that broke priority would let the low jobs it holds (claimed ahead)
    // overtake most of the twenty; one or two is a job's log line held up on a loaded
    // machine.
    assert!(
        overtaken_highs.len() <= 2,
        "{} of 20 high jobs were overtaken: {overtaken_highs:#?}",
        overtaken_highs.len()
    );
}

/// A job running in a worker process, cancelled from here through the store, sees its
/// cancellation within a lease renewal, stops, and is kept as cancelled, not retried.
pub async fn a_running_job_cancelled_from_another_process_stops_and_is_not_retried(h: Harness) {
    let log = h.log("cancel.log");
    let id = UntilStopped::dispatch(UntilStopped { log: log.clone() })
        .via(&h.queue)
        .await
        .unwrap();
    let mut worker = h.spawn_worker(&["--queue=default"]);
    wait_until("the job to start", LONG, || async {
        !read_log(&log).is_empty()
    })
    .await;
    assert_eq!(h.queue.cancel(&id).await.unwrap(), Cancelled::Requested);
    let asked = Instant::now();
    wait_until("the job to stop", LONG, || async {
        read_log(&log).iter().any(|e| e.event == "stopped")
    })
    .await;
    let lease = Duration::from_millis(h.config.lease_ms);
    assert!(
        asked.elapsed() < lease * 2,
        "the cancel took {:?} to reach the job",
        asked.elapsed()
    );
    wait_until("the job to be kept as cancelled", LONG, || async {
        h.queue.job(&id).await.unwrap().map(|j| j.state) == Some(State::Cancelled)
    })
    .await;
    // Give a retry the time it would need, then check there was none.
    tokio::time::sleep(lease).await;
    let starts = read_log(&log).iter().filter(|e| e.event == "start").count();
    assert_eq!(starts, 1, "a cancelled job ran again");
    signal(&worker, 15);
    worker.wait().await.unwrap();
}

/// A paused queue is held by every worker process (also one started while it is paused),
/// while the others run; dispatch to it still works; resume releases it.
pub async fn a_paused_queue_is_held_by_every_worker_process_until_resumed(h: Harness) {
    let log = h.log("pause.log");
    h.queue.pause("low").await.unwrap();
    let dispatch = |tag: String, queue: &'static str| {
        let log = log.clone();
        let q = h.queue.clone();
        async move {
            RecordRun::dispatch(RecordRun { log, tag })
                .on_queue(queue)
                .via(&q)
                .await
                .unwrap();
        }
    };
    for i in 0..10 {
        dispatch(format!("low-{i}"), "low").await;
        dispatch(format!("default-{i}"), "default").await;
    }
    let mut first = h.spawn_worker(&["--queue=default,low"]);
    let mut second = h.spawn_worker(&["--queue=low,default"]);
    wait_until("the default jobs to run", LONG, || async {
        read_log(&log).len() >= 10
    })
    .await;
    // A worker restarted while the queue is paused holds it too.
    signal(&first, 9);
    first.wait().await.unwrap();
    let mut third = h.spawn_worker(&["--queue=low"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ran_low = read_log(&log)
        .iter()
        .filter(|e| e.label.starts_with("low-"))
        .count();
    assert_eq!(ran_low, 0, "a paused queue's jobs ran");
    assert_eq!(h.queue.paused().await.unwrap(), ["low"]);
    h.queue.resume("low").await.unwrap();
    wait_until("the low jobs to run after resume", LONG, || async {
        read_log(&log).len() >= 20
    })
    .await;
    for worker in [&mut second, &mut third] {
        signal(worker, 15);
        worker.wait().await.unwrap();
    }
}

/// Each worker process announces itself; one killed without a word disappears within two leases.
pub async fn worker_processes_are_listed_and_a_killed_one_disappears(h: Harness) {
    let mut a = h.spawn_worker(&["--queue=default", "--concurrency=3"]);
    let mut b = h.spawn_worker(&["--queue=high,low"]);
    let pids = [a.id().unwrap(), b.id().unwrap()];
    wait_until("both workers to announce themselves", LONG, || async {
        let workers = h.queue.workers().await.unwrap();
        pids.iter().all(|p| workers.iter().any(|w| w.pid == *p))
    })
    .await;
    let workers = h.queue.workers().await.unwrap();
    let first = workers.iter().find(|w| w.pid == pids[0]).unwrap();
    assert_eq!(
        (first.concurrency, first.queues.as_slice()),
        (3, &["default".to_string()][..])
    );
    signal(&a, 9);
    a.wait().await.unwrap();
    let killed = Instant::now();
    wait_until("the killed worker to disappear", LONG, || async {
        let workers = h.queue.workers().await.unwrap();
        !workers.iter().any(|w| w.pid == pids[0])
    })
    .await;
    let lease = Duration::from_millis(h.config.lease_ms);
    assert!(
        killed.elapsed() <= lease * 2 + Duration::from_secs(2),
        "the killed worker stayed listed for {:?}",
        killed.elapsed()
    );
    assert!(
        h.queue
            .workers()
            .await
            .unwrap()
            .iter()
            .any(|w| w.pid == pids[1]),
        "the live worker disappeared too"
    );
    signal(&b, 15);
    b.wait().await.unwrap();
}
