//! The rules, one async function each; [`worker_suite!`](crate::worker_suite) turns them into tests.

use crate::{Harness, signal, stop_all, wait_until};
use rakit_job::{Batch, BatchId, FailedSelect, JobSpec, Worker};
use rakit_test_jobs::{
    ChainStep, Entry, FailTimes, Gate, NoOverlapSleep, Panics, RecordRun, Sleeps, max_overlap,
    read_log,
};
use std::collections::HashMap;
use std::time::Duration;

/// Expands to one `#[tokio::test]` per worker rule, each on a fresh store from `$config`
/// (an async fn returning a [`rakit_job::Config`]).
#[macro_export]
macro_rules! worker_suite {
    ($config:path) => {
        $crate::worker_suite!(@cases $config;
            queues_are_served_in_strict_priority_order,
            scheduled_job_is_not_run_before_its_time,
            failing_job_is_retried_then_succeeds,
            spent_retries_leave_a_failed_record_with_the_error,
            a_panic_fails_the_job_and_the_worker_carries_on,
            unique_dispatch_is_skipped_while_a_job_is_pending,
            no_overlap_holds_across_worker_processes,
            a_killed_workers_job_runs_again_after_its_lease,
            a_job_longer_than_its_lease_keeps_it_while_running,
            several_worker_processes_run_each_job_exactly_once,
            sigterm_lets_the_running_job_finish,
            an_idle_worker_in_another_process_wakes_on_dispatch,
            a_job_dispatched_in_process_starts_without_waiting_out_the_sleep,
            where_the_wait_ends_when_due_an_idle_worker_runs_a_scheduled_job_on_time,
            failed_jobs_are_listed_retried_forgotten_and_flushed_from_the_cli,
            stats_and_list_commands_describe_the_store_and_the_jobs,
            a_chain_runs_in_order_stops_at_a_failure_and_goes_on_when_retried,
            chains_run_to_the_end_in_order_under_sigkills,
            a_batch_runs_each_callback_once_and_counts_each_job_once,
            batch_callbacks_run_once_under_sigkills
        );
    };
    (@cases $config:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
                $crate::suite::$case(harness).await;
            }
        )*
    };
}

const LONG: Duration = Duration::from_secs(60);

fn worker(h: &Harness) -> Worker {
    Worker::new(&h.queue)
        .sleep(Duration::from_millis(50))
        .quiet()
}

fn events(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| format!("{} {} #{}", e.event, e.label, e.attempt))
        .collect()
}

/// A due job on a higher queue always runs before any on a lower one, FIFO within a queue.
pub async fn queues_are_served_in_strict_priority_order(h: Harness) {
    let log = h.log("order.log");
    for (tag, queue) in [
        ("low-1", "low"),
        ("default-1", "default"),
        ("high-1", "high"),
        ("low-2", "low"),
        ("high-2", "high"),
    ] {
        RecordRun::dispatch(RecordRun {
            log: log.clone(),
            tag: tag.into(),
        })
        .on_queue(queue)
        .via(&h.queue)
        .await
        .unwrap();
    }
    let report = worker(&h)
        .queues(["high", "default", "low"])
        .stop_when_empty()
        .run()
        .await
        .unwrap();
    assert_eq!(report.succeeded, 5);
    let order: Vec<String> = read_log(&log).into_iter().map(|e| e.label).collect();
    assert_eq!(order, ["high-1", "high-2", "default-1", "low-1", "low-2"]);
}

/// A scheduled job is left alone until its time, then runs.
pub async fn scheduled_job_is_not_run_before_its_time(h: Harness) {
    let log = h.log("scheduled.log");
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    RecordRun::dispatch_at(
        due,
        RecordRun {
            log: log.clone(),
            tag: "later".into(),
        },
    )
    .via(&h.queue)
    .await
    .unwrap();
    let early = worker(&h).stop_when_empty().run().await.unwrap();
    assert_eq!(early.processed(), 0, "a scheduled job ran early");
    assert_eq!(h.totals().await, (0, 1, 0, 0));
    let w = worker(&h);
    let stop = w.shutdown_handle();
    let running = tokio::spawn(w.run());
    wait_until("the scheduled job to run", LONG, || async {
        !read_log(&log).is_empty()
    })
    .await;
    stop.shutdown();
    running.await.unwrap().unwrap();
    let ran = &read_log(&log)[0];
    assert!(
        ran.at_ms as i64 >= due.timestamp_millis(),
        "ran {} ms early",
        due.timestamp_millis() - ran.at_ms as i64
    );
}

/// An error is retried (with the job's backoff) and a later success completes the job.
pub async fn failing_job_is_retried_then_succeeds(h: Harness) {
    let log = h.log("retry.log");
    FailTimes::dispatch(FailTimes {
        log: log.clone(),
        fail_first: 1,
    })
    .via(&h.queue)
    .await
    .unwrap();
    let w = worker(&h).retries(3);
    let stop = w.shutdown_handle();
    let running = tokio::spawn(w.run());
    wait_until("the retry to succeed", LONG, || async {
        read_log(&log).iter().any(|e| e.event == "ok")
    })
    .await;
    stop.shutdown();
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.retried, report.succeeded), (1, 1));
    assert_eq!(
        events(&read_log(&log)),
        ["fail fail-times #1", "ok fail-times #2"]
    );
    wait_until("the store to empty", LONG, || async {
        h.totals().await == (0, 0, 0, 0)
    })
    .await;
}

/// `retries = N` runs a failing job N + 1 times, then keeps it in the failed store with its error.
pub async fn spent_retries_leave_a_failed_record_with_the_error(h: Harness) {
    let log = h.log("doomed.log");
    let id = FailTimes::dispatch(FailTimes {
        log: log.clone(),
        fail_first: 99,
    })
    .via(&h.queue)
    .await
    .unwrap();
    let w = worker(&h).retries(1);
    let stop = w.shutdown_handle();
    let running = tokio::spawn(w.run());
    wait_until("the job to fail for good", LONG, || async {
        h.totals().await.3 == 1
    })
    .await;
    stop.shutdown();
    running.await.unwrap().unwrap();
    assert_eq!(
        events(&read_log(&log)),
        ["fail fail-times #1", "fail fail-times #2"]
    );
    let failed = h.failed().await;
    assert_eq!(failed.len(), 1);
    let f = &failed[0];
    assert_eq!(f.id, id);
    assert_eq!(f.name, FailTimes::NAME);
    assert_eq!(f.queue, "default");
    assert_eq!(f.attempts, 2);
    assert_eq!(
        f.error,
        "failing on purpose: attempt 2 of the first 99 that fail"
    );
    assert!(f.payload.contains("\"fail_first\":99"), "{}", f.payload);
    assert_eq!(h.totals().await, (0, 0, 0, 1));
}

/// A panicking job is recorded as failed with its message, and the worker goes on to the next job.
pub async fn a_panic_fails_the_job_and_the_worker_carries_on(h: Harness) {
    let log = h.log("panic.log");
    Panics::dispatch(Panics { log: log.clone() })
        .on_queue("high")
        .via(&h.queue)
        .await
        .unwrap();
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "after".into(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    let report = worker(&h)
        .retries(0)
        .queues(["high", "default"])
        .stop_when_empty()
        .run()
        .await
        .unwrap();
    assert_eq!((report.failed, report.succeeded), (1, 1));
    assert_eq!(events(&read_log(&log)), ["panic panics #1", "run after #1"]);
    let failed = &h.failed().await[0];
    assert_eq!(
        failed.error,
        format!("the job panicked: {}", Panics::MESSAGE)
    );
}

/// `.unique()` stores one job per key while it is pending, and another once it is done.
pub async fn unique_dispatch_is_skipped_while_a_job_is_pending(h: Harness) {
    let log = h.log("unique.log");
    let job = || RecordRun {
        log: log.clone(),
        tag: "once".into(),
    };
    let first = RecordRun::dispatch(job())
        .unique()
        .via(&h.queue)
        .await
        .unwrap();
    let second = RecordRun::dispatch(job())
        .unique()
        .via(&h.queue)
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(
        second, None,
        "a second unique dispatch was stored while the first was pending"
    );
    worker(&h).stop_when_empty().run().await.unwrap();
    assert_eq!(read_log(&log).len(), 1);
    assert!(
        RecordRun::dispatch(job())
            .unique()
            .via(&h.queue)
            .await
            .unwrap()
            .is_some()
    );
}

/// Two worker processes never run two jobs with the same no-overlap key at once; other keys still run.
pub async fn no_overlap_holds_across_worker_processes(h: Harness) {
    let log = h.log("overlap.log");
    for i in 0..8 {
        let key = if i % 4 == 3 {
            "other"
        } else {
            "report-2024-12"
        };
        NoOverlapSleep::dispatch(NoOverlapSleep {
            key: key.into(),
            ms: 150,
            log: log.clone(),
        })
        .via(&h.queue)
        .await
        .unwrap();
    }
    let a = h.spawn_worker(&["--concurrency=3", "--sleep=50"]);
    let b = h.spawn_worker(&["--concurrency=3", "--sleep=50"]);
    wait_until("all 8 runs to end", LONG, || async {
        read_log(&log).iter().filter(|e| e.event == "end").count() == 8
    })
    .await;
    signal(&a, 15);
    signal(&b, 15);
    let entries = read_log(&log);
    for key in ["report-2024-12", "other"] {
        let of_key: Vec<Entry> = entries.iter().filter(|e| e.label == key).cloned().collect();
        assert_eq!(
            max_overlap(&of_key),
            1,
            "runs of {key} overlapped: {:?}",
            events(&of_key)
        );
    }
    assert_eq!(
        entries.iter().filter(|e| e.event == "start").count(),
        8,
        "a run was repeated or lost"
    );
}

/// A worker killed with SIGKILL mid-job loses nothing: another worker runs the job once its lease expires.
pub async fn a_killed_workers_job_runs_again_after_its_lease(h: Harness) {
    let log = h.log("killed.log");
    let id = Sleeps::dispatch(Sleeps {
        ms: 2000,
        log: log.clone(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    let mut doomed = h.spawn_worker(&["--sleep=50"]);
    wait_until("the job to start", LONG, || async {
        !read_log(&log).is_empty()
    })
    .await;
    signal(&doomed, 9);
    let _ = doomed.wait().await;
    let _rescuer = h.spawn_worker(&["--sleep=50"]);
    wait_until("the job to end on the second worker", LONG, || async {
        read_log(&log).iter().any(|e| e.event == "end")
    })
    .await;
    let entries = read_log(&log);
    assert_eq!(
        events(&entries),
        ["start sleeps #1", "start sleeps #2", "end sleeps #2"]
    );
    assert!(entries.iter().all(|e| e.id == id.to_string()));
    wait_until("the store to empty", LONG, || async {
        h.totals().await == (0, 0, 0, 0)
    })
    .await;
}

/// A job running three times longer than the lease renews it, so a second worker never takes it.
pub async fn a_job_longer_than_its_lease_keeps_it_while_running(mut h: Harness) {
    // Three seconds: renewals (every second) stay on time even on a loaded machine.
    h.config.lease_ms = 3000;
    let log = h.log("long.log");
    Sleeps::dispatch(Sleeps {
        ms: 3 * h.config.lease_ms,
        log: log.clone(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    let a = h.spawn_worker(&["--sleep=50"]);
    let b = h.spawn_worker(&["--sleep=50"]);
    wait_until("the long job to end", LONG, || async {
        read_log(&log).iter().any(|e| e.event == "end")
    })
    .await;
    signal(&a, 15);
    signal(&b, 15);
    assert_eq!(
        events(&read_log(&log)),
        ["start sleeps #1", "end sleeps #1"]
    );
}

/// Three worker processes sharing a store run each of 300 jobs exactly once.
pub async fn several_worker_processes_run_each_job_exactly_once(mut h: Harness) {
    // Nobody is killed here, so a lease long enough never to lapse under load makes "exactly once" strict.
    h.config.lease_ms = 30_000;
    const JOBS: usize = 300;
    let log = h.log("once.log");
    for i in 0..JOBS {
        let queue = ["high", "default", "low"][i % 3];
        RecordRun::dispatch(RecordRun {
            log: log.clone(),
            tag: format!("job-{i}"),
        })
        .on_queue(queue)
        .via(&h.queue)
        .await
        .unwrap();
    }
    let workers: Vec<_> = (0..3)
        .map(|_| h.spawn_worker(&["--concurrency=4", "--sleep=50"]))
        .collect();
    wait_until("every job to run", LONG * 2, || async {
        read_log(&log).len() >= JOBS
    })
    .await;
    for w in &workers {
        signal(w, 15);
    }
    let mut runs: HashMap<String, usize> = HashMap::new();
    for e in read_log(&log) {
        *runs.entry(e.label).or_default() += 1;
    }
    assert_eq!(runs.len(), JOBS, "some jobs never ran");
    let repeated: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "jobs ran more than once: {repeated:?}");
    wait_until("the store to empty", LONG, || async {
        h.totals().await == (0, 0, 0, 0)
    })
    .await;
}

/// SIGTERM stops taking jobs but lets the running one finish, and the process exits cleanly.
pub async fn sigterm_lets_the_running_job_finish(h: Harness) {
    let log = h.log("graceful.log");
    Sleeps::dispatch(Sleeps {
        ms: 800,
        log: log.clone(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "not-taken".into(),
    })
    .on_queue("low")
    .via(&h.queue)
    .await
    .unwrap();
    let mut child = h.spawn_worker(&["--queue=default,low", "--sleep=50"]);
    wait_until("the job to start", LONG, || async {
        !read_log(&log).is_empty()
    })
    .await;
    signal(&child, 15);
    let status = tokio::time::timeout(LONG, child.wait())
        .await
        .expect("the worker did not stop")
        .unwrap();
    assert!(status.success(), "the worker exited with {status}");
    assert_eq!(
        events(&read_log(&log)),
        ["start sleeps #1", "end sleeps #1"]
    );
    assert_eq!(
        h.totals().await,
        (1, 0, 0, 0),
        "the job not yet taken must stay ready"
    );
}

/// Where the store can signal, a worker in another process waiting with a long sleep starts a new job at once.
pub async fn an_idle_worker_in_another_process_wakes_on_dispatch(h: Harness) {
    let can = h.queue.driver().capabilities().wakes_across_processes;
    if !applies(
        &h,
        can,
        "cannot signal other processes; their workers poll every sleep_ms",
    ) {
        return;
    }
    let log = h.log("wake.log");
    let _idle = h.spawn_worker(&["--sleep=600000"]);
    // Give the worker time to start and go idle; its first poll finds nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "wake".into(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    wait_until(
        "the idle worker to wake",
        Duration::from_secs(20),
        || async { !read_log(&log).is_empty() },
    )
    .await;
}

/// A worker sleeping an hour between polls still starts a job dispatched in its own process at once.
pub async fn a_job_dispatched_in_process_starts_without_waiting_out_the_sleep(h: Harness) {
    an_hour_sleeper_runs_a_job(&h, Duration::ZERO, "the in-process wake-up").await;
}

/// Where the store's wait ends when a job comes due (PostgreSQL, SQLite, the folder), a
/// worker sleeping an hour between looks runs a job scheduled a second ahead when it comes due.
pub async fn where_the_wait_ends_when_due_an_idle_worker_runs_a_scheduled_job_on_time(h: Harness) {
    let can = h.queue.driver().capabilities().wakes_when_due;
    if !applies(
        &h,
        can,
        "does not say when jobs come due; its workers look every sleep_ms",
    ) {
        return;
    }
    let what = "the scheduled job to run when it came due";
    an_hour_sleeper_runs_a_job(&h, Duration::from_secs(1), what).await;
}

/// Whether a rule that needs a capability applies to `h`'s store (`can`); says why not
/// when it does not, so the skip shows in the test's output.
fn applies(h: &Harness, can: bool, why_not: &str) -> bool {
    if !can {
        eprintln!("not applicable: {} {why_not}", h.queue.describe());
    }
    can
}

/// Starts a worker that sleeps an hour between looks, lets it go idle, dispatches a job
/// due after `delay` from this process, and waits (20 s at most) until the job ran.
async fn an_hour_sleeper_runs_a_job(h: &Harness, delay: Duration, what: &str) {
    let log = h.log("idle.log");
    let w = worker(h).sleep(Duration::from_secs(3600));
    let stop = w.shutdown_handle();
    let running = tokio::spawn(w.run());
    // Let the worker find the store empty and go idle.
    tokio::time::sleep(Duration::from_millis(300)).await;
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "idle".into(),
    })
    .delay(delay)
    .via(&h.queue)
    .await
    .unwrap();
    wait_until(what, Duration::from_secs(20), || async {
        !read_log(&log).is_empty()
    })
    .await;
    stop.shutdown();
    assert_eq!(running.await.unwrap().unwrap().succeeded, 1);
}

/// `job:failed`, `job:retry`, `job:forget` and `job:flush` work on this store; bad ids are usage errors.
pub async fn failed_jobs_are_listed_retried_forgotten_and_flushed_from_the_cli(h: Harness) {
    let log = h.log("cli.log");
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            FailTimes::dispatch(FailTimes {
                log: log.clone(),
                fail_first: 1,
            })
            .via(&h.queue)
            .await
            .unwrap(),
        );
    }
    worker(&h).retries(0).stop_when_empty().run().await.unwrap();
    assert_eq!(h.totals().await.3, 3);

    let listed = h.cli_ok(&["job:failed"]).await;
    for id in &ids {
        assert!(
            listed.contains(&id.to_string()),
            "job:failed does not list {id}:\n{listed}"
        );
    }
    assert!(
        listed.contains("fail-times") && listed.contains("failing on purpose"),
        "{listed}"
    );

    h.cli_ok(&["job:retry", &ids[0].to_string()]).await;
    assert_eq!(h.totals().await, (1, 0, 0, 2));
    // Its attempts start afresh, so the retried job fails its first attempt once more.
    worker(&h).retries(0).stop_when_empty().run().await.unwrap();
    let runs_of_first: Vec<u32> = read_log(&log)
        .iter()
        .filter(|e| e.id == ids[0].to_string())
        .map(|e| e.attempt)
        .collect();
    assert_eq!(runs_of_first, [1, 1]);
    assert_eq!(h.totals().await, (0, 0, 0, 3));

    h.cli_ok(&["job:forget", &ids[1].to_string()]).await;
    assert_eq!(h.totals().await, (0, 0, 0, 2));
    let flushed = h.cli_ok(&["job:flush"]).await;
    assert!(flushed.contains("2 failed job"), "{flushed}");
    assert_eq!(h.totals().await, (0, 0, 0, 0));

    let (code, _, err) = h.cli(&["job:forget", &ids[1].to_string()]).await;
    assert_eq!(code, 2, "forgetting an absent job: {err}");
    assert!(err.contains("no failed job has the id"), "{err}");
    let (code, _, err) = h.cli(&["job:retry", "not-an-id"]).await;
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: ") && err.contains("is not a job id"),
        "{err}"
    );
}

/// `job:stats` counts each state per queue without printing secrets; `job:list` shows the linked jobs.
pub async fn stats_and_list_commands_describe_the_store_and_the_jobs(h: Harness) {
    let log = h.log("stats.log");
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "a".into(),
    })
    .on_queue("emails")
    .via(&h.queue)
    .await
    .unwrap();
    RecordRun::dispatch(RecordRun {
        log,
        tag: "b".into(),
    })
    .delay(Duration::from_secs(3600))
    .on_queue("emails")
    .via(&h.queue)
    .await
    .unwrap();
    let stats = h.cli_ok(&["job:stats"]).await;
    let row = stats
        .lines()
        .find(|l| l.starts_with("emails"))
        .unwrap_or_else(|| panic!("no emails row:\n{stats}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["emails", "1", "1", "0", "0", "no", "0", "0"],
        "{stats}"
    );
    let list = h.cli_ok(&["job:list"]).await;
    for needle in [
        "record-run",
        "rakit_test_jobs::RecordRun",
        "no-overlap-sleep",
        "by key",
    ] {
        assert!(list.contains(needle), "job:list lacks {needle}:\n{list}");
    }
}

/// A chain runs its jobs one after another; a link that fails for good stops it, its
/// failed record names the jobs still to come, and retrying it runs them.
pub async fn a_chain_runs_in_order_stops_at_a_failure_and_goes_on_when_retried(h: Harness) {
    let log = h.log("chain.log");
    let gate = h.log("gate.open");
    let run = |tag: &str| RecordRun {
        log: log.clone(),
        tag: tag.into(),
    };
    let first = RecordRun::dispatch(run("a"))
        .then(Gate {
            log: log.clone(),
            gate: gate.clone(),
        })
        .then(run("c"))
        .via(&h.queue)
        .await
        .unwrap();
    let listed = h.queue.job(&first).await.unwrap().unwrap();
    assert_eq!(listed.then, [Gate::NAME, RecordRun::NAME]);
    let report = worker(&h).stop_when_empty().run().await.unwrap();
    assert_eq!((report.succeeded, report.failed), (1, 1));
    assert_eq!(events(&read_log(&log)), ["run a #1", "closed gate #1"]);
    let failed = h.failed().await;
    assert_eq!(failed.len(), 1, "the chain stopped at the gate: {failed:?}");
    let stuck = h.queue.job(&failed[0].id).await.unwrap().unwrap();
    assert_eq!(
        stuck.then,
        [RecordRun::NAME],
        "the failed link names the rest"
    );

    std::fs::write(&gate, "open").unwrap();
    let retried = h
        .queue
        .retry_failed(&rakit_job::FailedSelect::One(failed[0].id.clone()))
        .await
        .unwrap();
    assert_eq!(retried, 1);
    let report = worker(&h).stop_when_empty().run().await.unwrap();
    assert_eq!(report.succeeded, 2);
    assert_eq!(
        events(&read_log(&log)),
        ["run a #1", "closed gate #1", "run gate #1", "run c #1"]
    );
    assert_eq!(
        h.totals().await,
        (0, 0, 0, 0),
        "nothing left, nothing failed"
    );

    // A cancelled link keeps the rest of its chain too.
    let head = RecordRun::dispatch(run("x"))
        .then(run("y"))
        .via(&h.queue)
        .await
        .unwrap();
    h.queue.cancel(&head).await.unwrap();
    let cancelled = h.queue.job(&head).await.unwrap().unwrap();
    assert_eq!(cancelled.state, rakit_job::State::Cancelled);
    assert_eq!(cancelled.then, [RecordRun::NAME]);
}

/// Twelve chains of eight links run on three worker processes, one of them SIGKILLed five
/// times: every link runs, each after the one before it ended, and no link is stored
/// twice (each run of a link is a new reservation of the one job stored for it).
pub async fn chains_run_to_the_end_in_order_under_sigkills(h: Harness) {
    const CHAINS: usize = 12;
    const LINKS: usize = 8;
    let log = h.log("chains.log");
    let step = |c: usize, l: usize| ChainStep {
        log: log.clone(),
        tag: format!("c{c}-{l}"),
    };
    for c in 0..CHAINS {
        let mut chain = ChainStep::dispatch(step(c, 0)).via(&h.queue);
        for l in 1..LINKS {
            chain = chain.then(step(c, l));
        }
        chain.await.unwrap();
    }
    let mut workers: Vec<_> = (0..3)
        .map(|_| h.spawn_worker(&["--concurrency=4", "--sleep=50"]))
        .collect();
    for round in 1..=5 {
        wait_until("more links to end", LONG, || async {
            let ends = read_log(&log).iter().filter(|e| e.event == "end").count();
            ends >= round * CHAINS * LINKS / 6
        })
        .await;
        signal(&workers[0], 9);
        workers[0].wait().await.unwrap();
        workers[0] = h.spawn_worker(&["--concurrency=4", "--sleep=50"]);
    }
    // Every link ended once: what the test is about. (Counts alone could say "empty" for
    // an instant on memcached, where an ack's follow-up is invisible until published.)
    // Slow stores under a full test run need more than LONG.
    let all_ended = || async {
        let ended: std::collections::HashSet<String> = read_log(&log)
            .into_iter()
            .filter(|e| e.event == "end")
            .map(|e| e.label)
            .collect();
        ended.len() == CHAINS * LINKS
    };
    wait_until("every link of every chain to end", 3 * LONG, all_ended).await;
    wait_until("the last acks to be written", LONG, || async {
        let (ready, scheduled, running, _) = h.totals().await;
        ready + scheduled + running == 0
    })
    .await;
    assert_eq!(
        h.totals().await.3,
        0,
        "a link failed: {:?}",
        h.failed().await
    );
    stop_all(&mut workers).await;
    let entries = read_log(&log);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut reservations = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| e.event == "start") {
        let id = ids.entry(e.label.clone()).or_insert_with(|| e.id.clone());
        assert_eq!(*id, e.id, "link {} was stored twice", e.label);
        assert!(
            reservations.insert((e.id.clone(), e.attempt)),
            "{} ran twice in attempt {}",
            e.label,
            e.attempt
        );
    }
    for c in 0..CHAINS {
        for l in 1..LINKS {
            let first_start = entries
                .iter()
                .position(|e| e.event == "start" && e.label == format!("c{c}-{l}"))
                .unwrap_or_else(|| panic!("link c{c}-{l} never ran"));
            let before_ended = entries
                .iter()
                .position(|e| e.event == "end" && e.label == format!("c{c}-{}", l - 1))
                .unwrap_or_else(|| panic!("link c{c}-{} never ended", l - 1));
            assert!(
                before_ended < first_start,
                "link c{c}-{l} started before c{c}-{} ended",
                l - 1
            );
        }
    }
}

/// A batch's jobs each run once; `then` and `finally` run once when all succeeded, `catch`
/// and `finally` once when one failed for good; a failed job retried from the failed store
/// runs but counts nothing twice and runs no callback again; a cancelled batch runs
/// neither its waiting jobs nor its callbacks.
pub async fn a_batch_runs_each_callback_once_and_counts_each_job_once(h: Harness) {
    let log = h.log("batch.log");
    let gate = h.log("gate.open");
    let run = |tag: String| RecordRun {
        log: log.clone(),
        tag,
    };
    let with_callbacks = |batch: Batch, tag: &str| {
        batch
            .then(run(format!("then-{tag}")))
            .catch(run(format!("catch-{tag}")))
            .finally(run(format!("finally-{tag}")))
            .via(&h.queue)
    };
    let good = Batch::new("all-good").add_all((0..20).map(|i| run(format!("good-{i}"))));
    let good = with_callbacks(good, "good").dispatch().await.unwrap();
    let waiting = h.queue.batch(&good).await.unwrap().unwrap();
    assert_eq!((waiting.total, waiting.pending, waiting.done), (20, 20, 0));
    let bad = Batch::new("one-fails")
        .add_all((0..5).map(|i| run(format!("bad-{i}"))))
        .add(Gate {
            log: log.clone(),
            gate: gate.clone(),
        });
    let bad = with_callbacks(bad, "bad").dispatch().await.unwrap();
    worker(&h).stop_when_empty().run().await.unwrap();

    let runs = |label: &str| {
        read_log(&log)
            .iter()
            .filter(|e| e.event == "run" && e.label == label)
            .count()
    };
    let callbacks =
        |tag: &str| ["then", "catch", "finally"].map(|kind| runs(&format!("{kind}-{tag}")));
    for i in 0..20 {
        assert_eq!(runs(&format!("good-{i}")), 1, "job good-{i}");
    }
    assert_eq!(
        callbacks("good"),
        [1, 0, 1],
        "then, catch, finally of a good batch"
    );
    assert_eq!(
        callbacks("bad"),
        [0, 1, 1],
        "then, catch, finally of a bad batch"
    );
    let counts = |info: rakit_job::BatchInfo| (info.done, info.failed, info.pending);
    let good_info = h.queue.batch(&good).await.unwrap().unwrap();
    assert!(good_info.finished_at.is_some());
    assert_eq!(counts(good_info), (20, 0, 0));
    assert_eq!(
        counts(h.queue.batch(&bad).await.unwrap().unwrap()),
        (5, 1, 0)
    );

    std::fs::write(&gate, "open").unwrap();
    let retried = h.queue.retry_failed(&FailedSelect::All).await.unwrap();
    assert_eq!(retried, 1);
    worker(&h).stop_when_empty().run().await.unwrap();
    assert_eq!(runs("gate"), 1, "the retried job ran");
    assert_eq!(
        callbacks("bad"),
        [0, 1, 1],
        "a retried job ran a callback again"
    );
    assert_eq!(
        counts(h.queue.batch(&bad).await.unwrap().unwrap()),
        (5, 1, 0)
    );
    let names: Vec<String> = h
        .queue
        .batches()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["one-fails", "all-good"], "newest first");

    let doomed = Batch::new("cancel-me").add_all((0..10).map(|i| run(format!("doomed-{i}"))));
    let doomed = with_callbacks(doomed, "doomed").dispatch().await.unwrap();
    assert!(h.queue.cancel_batch(&doomed).await.unwrap());
    worker(&h).stop_when_empty().run().await.unwrap();
    assert!(
        read_log(&log).iter().all(|e| !e.label.contains("doomed")),
        "a job or callback of a cancelled batch ran"
    );
    let info = h.queue.batch(&doomed).await.unwrap().unwrap();
    assert!(info.cancelled);
    assert_eq!(
        h.totals().await,
        (0, 0, 0, 10),
        "the ten jobs wait as cancelled"
    );
    let unknown = BatchId::parse(&rakit_job::JobId::generate().to_string()).unwrap();
    assert!(!h.queue.cancel_batch(&unknown).await.unwrap());
    assert!(h.queue.batch(&unknown).await.unwrap().is_none());
}

/// A batch of 2,000 jobs and one of 200 with a job that fails for good run on three worker
/// processes, one of them SIGKILLed ten times: every job ends, each batch counts each job
/// once, and each callback due is stored and run by one job only (a run cut by a kill is
/// that job's next attempt), the ones not due never.
pub async fn batch_callbacks_run_once_under_sigkills(h: Harness) {
    const BIG: usize = 2_000;
    const SMALL: usize = 200;
    const KILLS: usize = 10;
    let log = h.log("batches.log");
    let gate = h.log("gate.closed");
    let step = |tag: String| ChainStep {
        log: log.clone(),
        tag,
    };
    let with_callbacks = |batch: Batch, tag: &str| {
        batch
            .then(step(format!("then-{tag}")))
            .catch(step(format!("catch-{tag}")))
            .finally(step(format!("finally-{tag}")))
            .via(&h.queue)
    };
    let big = Batch::new("big").add_all((0..BIG).map(|i| step(format!("big-{i}"))));
    let big = with_callbacks(big, "big").dispatch().await.unwrap();
    let small = Batch::new("small")
        .add_all((0..SMALL).map(|i| step(format!("small-{i}"))))
        .add(Gate {
            log: log.clone(),
            gate: gate.clone(),
        });
    let small = with_callbacks(small, "small").dispatch().await.unwrap();

    let args = ["--concurrency=4", "--sleep=50"];
    let mut workers: Vec<_> = (0..3).map(|_| h.spawn_worker(&args)).collect();
    let ended = || {
        read_log(&log)
            .into_iter()
            .filter(|e| e.event == "end")
            .map(|e| e.label)
            .collect::<std::collections::HashSet<String>>()
    };
    for round in 1..=KILLS {
        wait_until("more batch jobs to end", 3 * LONG, || async {
            ended().len() >= round * (BIG + SMALL) / (KILLS + 1)
        })
        .await;
        signal(&workers[0], 9);
        workers[0].wait().await.unwrap();
        workers[0] = h.spawn_worker(&args);
    }
    let due = ["then-big", "finally-big", "catch-small", "finally-small"];
    wait_until(
        "every job and every callback due to end",
        3 * LONG,
        || async {
            let ended = ended();
            ended.len() == BIG + SMALL + due.len()
        },
    )
    .await;
    wait_until("both batches to count every job", LONG, || async {
        let big = h.queue.batch(&big).await.unwrap().unwrap();
        let small = h.queue.batch(&small).await.unwrap().unwrap();
        big.pending == 0 && small.pending == 0
    })
    .await;
    stop_all(&mut workers).await;
    let big = h.queue.batch(&big).await.unwrap().unwrap();
    assert_eq!((big.done, big.failed), (BIG as u64, 0));
    let small = h.queue.batch(&small).await.unwrap().unwrap();
    assert_eq!((small.done, small.failed), (SMALL as u64, 1));
    let entries = read_log(&log);
    for callback in ["then", "catch", "finally"]
        .iter()
        .flat_map(|k| [format!("{k}-big"), format!("{k}-small")])
    {
        let ids: std::collections::HashSet<&str> = entries
            .iter()
            .filter(|e| e.label == callback && e.event == "start")
            .map(|e| e.id.as_str())
            .collect();
        let expected = usize::from(due.contains(&callback.as_str()));
        assert_eq!(
            ids.len(),
            expected,
            "{callback} was run by {} jobs",
            ids.len()
        );
    }
}
