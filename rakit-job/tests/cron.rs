//! A cron schedule on the in-memory store: every worker runs the scheduler, each tick runs
//! once. (Its own test binary: every long-running worker of a process runs the schedules
//! linked into it, which would add ticks to other tests' stores.)

use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Dispatched every second by every worker's scheduler.
#[derive(Default)]
#[job(cron = "* * * * * *")]
pub struct Heartbeat {}

static TICKS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

impl Jobable for Heartbeat {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        let tick = ctx
            .dispatched_at()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        TICKS.lock().unwrap().push(tick);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cron_tick_runs_once_whatever_the_number_of_workers() {
    let q = queue();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let worker = Worker::new(&q).quiet();
            (worker.shutdown_handle(), tokio::spawn(worker.run()))
        })
        .collect();
    let started = Instant::now();
    while TICKS.lock().unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the schedule never ticked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (stop, running) in workers {
        stop.shutdown();
        running.await.unwrap().unwrap();
    }
    let ticks = TICKS.lock().unwrap().clone();
    let mut distinct = ticks.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    assert!(
        ticks.iter().all(|t| t % 1000 == 0),
        "a tick is not on a second: {ticks:?}"
    );
    let schedules = rakit_job::schedules().unwrap();
    let heartbeat = schedules.iter().find(|s| s.name() == "heartbeat").unwrap();
    assert_eq!(
        (heartbeat.expression(), heartbeat.time_zone()),
        ("* * * * * *", "UTC")
    );
    assert_eq!(heartbeat.upcoming(3).len(), 3);
}
