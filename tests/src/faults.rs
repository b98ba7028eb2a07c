//! Fault tests shared by every durable driver: worker processes killed with SIGKILL while
//! jobs are dispatched and drained. What they find is returned so the caller can assert on it
//! and print it (docs/reliability.md records the figures of the last run).

use crate::{Harness, signal, wait_until};
use rakit_job::JobSpec;
use rakit_test_jobs::{NoOverlapSleep, RecordRun, read_log};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Expands to the crash-storm test for one store: 10,000 jobs, at least 20 SIGKILLs.
#[macro_export]
macro_rules! crash_storm_test {
    ($config:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn nothing_is_lost_when_workers_are_killed_mid_drain() {
            let harness =
                $crate::Harness::new($config().await, env!("CARGO_BIN_EXE_test-worker")).await;
            let every = std::time::Duration::from_millis(700);
            let report = $crate::faults::crash_storm(&harness, 10_000, 20, every).await;
            eprintln!("crash storm on {}: {report:?}", harness.queue.describe());
            assert!(report.kills >= 20, "{report:?}");
            assert_eq!(report.lost, 0, "{report:?}");
            assert_eq!(report.locks_held, 0, "{report:?}");
            assert_eq!(report.failed, 0, "{report:?}");
            // Only a job running when its worker died may run again: at most 4 (the concurrency) per kill.
            assert!(report.repeated <= report.kills * 4, "{report:?}");
        }
    };
}

/// What a crash storm found.
#[derive(Debug, Default)]
pub struct StormReport {
    /// Jobs dispatched.
    pub dispatched: usize,
    /// SIGKILLs sent.
    pub kills: usize,
    /// Jobs that never ran.
    pub lost: usize,
    /// Jobs that ran more than once (their worker died between the run and its acknowledgement).
    pub repeated: usize,
    /// No-overlap keys still locked after the storm.
    pub locks_held: usize,
    /// Jobs in the failed store.
    pub failed: u64,
    /// How long the storm took.
    pub elapsed: Duration,
}

/// A tiny xorshift generator, seeded from the clock: which worker to kill next.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// Dispatches `jobs` jobs (one in fifty a no-overlap job over 10 keys) while three worker
/// processes drain them, SIGKILLing a random worker about every `every` and restarting it,
/// at least `kills` times; then lets the workers finish and checks what ran.
pub async fn crash_storm(h: &Harness, jobs: usize, kills: usize, every: Duration) -> StormReport {
    let started = Instant::now();
    let log = h.log("storm.log");
    let overlap_log = h.log("storm-overlap.log");
    let worker_args = ["--concurrency=4", "--sleep=50"];
    let mut workers: Vec<_> = (0..3).map(|_| h.spawn_worker(&worker_args)).collect();

    let dispatcher = {
        let queue = h.queue.clone();
        let (log, overlap_log) = (log.clone(), overlap_log.clone());
        tokio::spawn(async move {
            let mut plain = 0;
            for i in 0..jobs {
                if i % 50 == 49 {
                    let job = NoOverlapSleep {
                        key: format!("k{}", i % 10),
                        ms: 5,
                        log: overlap_log.clone(),
                    };
                    NoOverlapSleep::dispatch(job)
                        .via(&queue)
                        .await
                        .expect("dispatch failed");
                } else {
                    RecordRun::dispatch(RecordRun {
                        log: log.clone(),
                        tag: format!("job-{i}"),
                    })
                    .via(&queue)
                    .await
                    .expect("dispatch failed");
                    plain += 1;
                }
            }
            plain
        })
    };

    let mut dice = Dice(started.elapsed().as_nanos() as u64 | 1);
    let mut sent = 0;
    while sent < kills || !dispatcher.is_finished() {
        tokio::time::sleep(every).await;
        let victim = dice.roll(workers.len());
        signal(&workers[victim], 9);
        let _ = workers[victim].wait().await;
        workers[victim] = h.spawn_worker(&worker_args);
        sent += 1;
    }
    let plain = dispatcher.await.expect("the dispatcher panicked");
    let overlapping = jobs - plain;

    wait_until(
        "every dispatched job to run",
        Duration::from_secs(300),
        || async {
            let ran: std::collections::HashSet<String> =
                read_log(&log).into_iter().map(|e| e.label).collect();
            let ends = read_log(&overlap_log)
                .iter()
                .filter(|e| e.event == "end")
                .count();
            ran.len() >= plain && ends >= overlapping
        },
    )
    .await;
    wait_until("the store to empty", Duration::from_secs(60), || async {
        let t = h.totals().await;
        t.0 + t.1 + t.2 == 0
    })
    .await;
    for w in &workers {
        signal(w, 15);
    }

    let mut runs: HashMap<String, usize> = HashMap::new();
    for e in read_log(&log) {
        *runs.entry(e.label).or_default() += 1;
    }
    // A lock whose holder was killed expires with the lease; after one lease none may be held.
    tokio::time::sleep(Duration::from_millis(h.config.lease_ms + 200)).await;
    let mut locks_held = 0;
    for k in 0..10 {
        let key = format!("{}:k{k}", NoOverlapSleep::NAME);
        if !h
            .queue
            .driver()
            .lock(&key, "probe", 1000)
            .await
            .expect("lock probe failed")
        {
            locks_held += 1;
        }
    }
    StormReport {
        dispatched: jobs,
        kills: sent,
        lost: plain - runs.len(),
        repeated: runs.values().filter(|n| **n > 1).count(),
        locks_held,
        failed: h.totals().await.3,
        elapsed: started.elapsed(),
    }
}
