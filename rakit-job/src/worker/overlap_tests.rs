//! How a worker overlaps its claims with running jobs: a claim the store is slow to answer
//! neither holds up the jobs already claimed nor loses its own jobs at shutdown.
//!
//! The store is a [`Spy`] holding one chosen claim until the test (or a job) opens its
//! gate, so each test waits on signals, not on time. The jobs are listeners (the legacy
//! API), so each test has its own job name and handler.

use super::spy::{Gate, Spy};
use crate::{Job, Queue, Worker};
use std::sync::atomic::Ordering;
use std::time::Duration;

const JOBS_QUEUED: usize = 300;

/// A queue on a store holding its `hold`-th claim, with `JOBS_QUEUED` jobs named `name`.
///
/// The second job to run while the held claim waits opens the gate. With one slot, at most
/// one job started before the claim can run during it, so the second was started while
/// the claim was in flight: had the worker waited for the claim before running the jobs it
/// already had, nothing would ever open the gate.
async fn gated_queue(name: &str, hold: usize) -> (Queue, Spy) {
    let spy = Spy::gated(Gate::new(hold));
    let seen = spy.clone();
    crate::listen(name, move |_| {
        let spy = seen.clone();
        async move {
            let gate = spy.gate();
            if gate.holding.load(Ordering::SeqCst)
                && gate.ran_while_held.fetch_add(1, Ordering::SeqCst) + 1 == 2
            {
                gate.open();
            }
            Ok(())
        }
    });
    let queue = spy.queue();
    for _ in 0..JOBS_QUEUED {
        Job::dispatch(name, serde_json::json!({}))
            .via(&queue)
            .await
            .unwrap();
    }
    (queue, spy)
}

/// A deadlock guard, not a timing: a correct worker finishes in well under a second.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn jobs_already_claimed_keep_running_while_the_next_claim_waits() {
    // One slot: the first claim takes 1 job, the second a batch; the third starts while
    // about half of that batch is still waiting, and is held until two of those jobs ran.
    let (queue, spy) = gated_queue("overlap-tick", 3).await;
    let worker = Worker::new(&queue)
        .queues(["default"])
        .concurrency(1)
        .stop_when_empty()
        .run();
    let report = tokio::time::timeout(GUARD, worker)
        .await
        .expect("the worker stalled behind a claim in flight instead of running the jobs it had")
        .unwrap();
    assert_eq!(report.succeeded, JOBS_QUEUED as u64);
    assert!(spy.gate().ran_while_held.load(Ordering::SeqCst) >= 2);
    assert!(spy.gate().claims.load(Ordering::SeqCst) >= 3);
    let stats = queue.driver().stats().await.unwrap();
    let left: u64 = stats.iter().map(|s| s.ready + s.reserved).sum();
    assert_eq!(left, 0, "{stats:?}");
}

#[tokio::test]
async fn a_claim_in_flight_at_shutdown_hands_its_jobs_back() {
    // The second claim (a batch) is held; the worker is told to stop while it waits, then
    // the store answers: every job it claimed must go back to the queue, ready at once.
    let (queue, spy) = gated_queue("shutdown-tick", 2).await;
    let worker = Worker::new(&queue).queues(["default"]).concurrency(1);
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    tokio::time::timeout(GUARD, spy.gate().started.notified())
        .await
        .expect("the worker never started a second claim");
    stop.shutdown();
    spy.gate().open();
    let report = tokio::time::timeout(GUARD, running)
        .await
        .expect("the worker did not stop")
        .unwrap()
        .unwrap();
    assert_eq!(report.succeeded, 1, "{report:?}");
    let stats = queue.driver().stats().await.unwrap();
    assert_eq!(
        stats[0].reserved, 0,
        "claimed jobs were left leased: {stats:?}"
    );
    assert_eq!(stats[0].ready, JOBS_QUEUED as u64 - 1, "{stats:?}");
}
