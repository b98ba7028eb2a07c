//! The `metrics` feature: what a dispatch and a worker count, measured with a recorder
//! that keeps every value (run with `--features metrics`).
#![cfg(feature = "metrics")]

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use rakit_job::observe::{DISPATCHED, FAILED, QUEUE_DEPTH, RETRIED, RUN_SECONDS, SUCCEEDED};
use rakit_job::prelude::*;
use rakit_job::{Queue, Worker};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[job(queue = "high", retries = 1, backoff = "1s")]
struct Charge {
    cents: u64,
}

impl Jobable for Charge {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        match self.cents {
            0 => Err(JobError::permanent("nothing to charge")),
            1 => Err(JobError::new("the bank is down")),
            _ => Ok(()),
        }
    }
}

/// One metric's values: a counter's total, a gauge's value, or a histogram's samples.
#[derive(Default)]
struct Cell {
    total: Mutex<f64>,
    samples: Mutex<Vec<f64>>,
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        *self.total.lock().unwrap() += value as f64;
    }
    fn absolute(&self, value: u64) {
        *self.total.lock().unwrap() = value as f64;
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        *self.total.lock().unwrap() += value;
    }
    fn decrement(&self, value: f64) {
        *self.total.lock().unwrap() -= value;
    }
    fn set(&self, value: f64) {
        *self.total.lock().unwrap() = value;
    }
}

impl HistogramFn for Cell {
    fn record(&self, value: f64) {
        self.samples.lock().unwrap().push(value);
    }
}

/// Every metric by `name{label=value,...}`, labels sorted.
#[derive(Default)]
struct Memory {
    cells: Mutex<BTreeMap<String, Arc<Cell>>>,
    described: Mutex<Vec<String>>,
}

impl Memory {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.cells.lock().unwrap().entry(name).or_default().clone()
    }

    fn total(&self, name: &str) -> f64 {
        self.cells
            .lock()
            .unwrap()
            .get(name)
            .map_or(0.0, |c| *c.total.lock().unwrap())
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        self.cells
            .lock()
            .unwrap()
            .get(name)
            .map_or(Vec::new(), |c| c.samples.lock().unwrap().clone())
    }
}

impl Recorder for Memory {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, _description: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push(key.as_str().to_string());
    }
    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, _description: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push(key.as_str().to_string());
    }
    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, _description: SharedString) {
        self.described
            .lock()
            .unwrap()
            .push(key.as_str().to_string());
    }
    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

#[test]
fn dispatches_and_runs_are_counted_and_timed_and_queue_depth_is_gauged() {
    let memory = Memory::default();
    metrics::with_local_recorder(&memory, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let queue = Queue::memory();
            for cents in [500, 700, 0, 1] {
                Charge::dispatch(Charge { cents })
                    .via(&queue)
                    .await
                    .unwrap();
            }
            Charge::dispatch(Charge { cents: 900 })
                .via(&queue)
                .on_queue("low")
                .delay(Duration::from_secs(60))
                .await
                .unwrap();
            let report = Worker::new(&queue)
                .quiet()
                .stop_when_empty()
                .run()
                .await
                .unwrap();
            assert_eq!((report.succeeded, report.failed, report.retried), (2, 1, 1));
            let watcher = rakit_job::observe::watch_queue_depth(&queue, Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(50)).await;
            watcher.abort();
        });
    });

    assert_eq!(
        memory.total(&format!("{DISPATCHED}{{job=charge,queue=high}}")),
        4.0
    );
    assert_eq!(
        memory.total(&format!("{DISPATCHED}{{job=charge,queue=low}}")),
        1.0
    );
    assert_eq!(
        memory.total(&format!("{SUCCEEDED}{{job=charge,queue=high}}")),
        2.0
    );
    assert_eq!(
        memory.total(&format!("{FAILED}{{job=charge,queue=high}}")),
        1.0
    );
    assert_eq!(
        memory.total(&format!("{RETRIED}{{job=charge,queue=high}}")),
        1.0
    );
    let times = memory.samples(&format!(
        "{RUN_SECONDS}{{job=charge,outcome=succeeded,queue=high}}"
    ));
    assert_eq!(times.len(), 2, "one run-time sample per successful run");
    assert!(times.iter().all(|t| (0.0..5.0).contains(t)), "{times:?}");
    // The retried job waits for its backoff; the delayed one for its time.
    assert_eq!(
        memory.total(&format!("{QUEUE_DEPTH}{{queue=high,state=scheduled}}")),
        1.0
    );
    assert_eq!(
        memory.total(&format!("{QUEUE_DEPTH}{{queue=low,state=scheduled}}")),
        1.0
    );
    assert_eq!(
        memory.total(&format!("{QUEUE_DEPTH}{{queue=high,state=failed}}")),
        1.0
    );
    assert_eq!(
        memory.total(&format!("{QUEUE_DEPTH}{{queue=high,state=ready}}")),
        0.0
    );
    let described = memory.described.lock().unwrap().clone();
    for name in [
        DISPATCHED,
        SUCCEEDED,
        RETRIED,
        FAILED,
        RUN_SECONDS,
        QUEUE_DEPTH,
    ] {
        assert!(
            described.iter().any(|d| d == name),
            "{name} has no description: {described:?}"
        );
    }
}
