//! Without overlapping: `GenerateReport::dispatch(...).without_overlapping()` as in the
//! guide, and `#[job(no_overlap = "month")]`, which keys the rule on one field.
//!
//! Three monthly reports are dispatched, two for the same month, and a worker runs up to
//! four jobs at once. Proves: the two same-month reports never run at the same time (the
//! second is handed back and tried again shortly, not failed), while another month's
//! report runs alongside. Also shows `.unique()`, the original Rakit meaning of the word:
//! a dispatch skipped while the same job is still pending.
//!
//! Run it with `cargo run -p example-without-overlapping`.

use rakit_job::Queue;
use rakit_job::prelude::*;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// (month, started, ended) of each run, relative to the start of the example.
static RUNS: Mutex<Vec<(String, Duration, Duration)>> = Mutex::new(Vec::new());
static EPOCH: Mutex<Option<Instant>> = Mutex::new(None);

fn since_start() -> Duration {
    EPOCH
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(Instant::now)
        .elapsed()
}

/// Builds a monthly report; two reports of the same month never run at the same time.
#[job(no_overlap = "month")]
pub struct GenerateReport {
    /// `monthly`, `daily`, ...
    pub r#type: String,
    /// The month, e.g. `2024-12`.
    pub month: String,
}

impl Jobable for GenerateReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let started = since_start();
        println!(
            "  {:>5} ms  start {} {}",
            started.as_millis(),
            self.r#type,
            self.month
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ended = since_start();
        println!(
            "  {:>5} ms  end   {} {}",
            ended.as_millis(),
            self.r#type,
            self.month
        );
        RUNS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.month.clone(), started, ended));
        Ok(())
    }
}

/// Syncs external data; only one sync runs at a time, whoever dispatched it.
#[job]
pub struct SyncExternalData {
    /// Where from.
    pub source: String,
}

impl Jobable for SyncExternalData {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

fn proves(ok: bool, claim: &str) -> Result<(), String> {
    if ok {
        println!("ok: {claim}");
        Ok(())
    } else {
        Err(format!(
            "this example expected that {claim}, but it did not hold"
        ))
    }
}

fn overlap(a: &(String, Duration, Duration), b: &(String, Duration, Duration)) -> bool {
    a.1 < b.2 && b.1 < a.2
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    since_start();
    let queue = Queue::memory();
    let report = |month: &str| GenerateReport {
        r#type: "monthly".into(),
        month: month.into(),
    };
    GenerateReport::dispatch(report("2024-12"))
        .without_overlapping()
        .via(&queue)
        .await?;
    GenerateReport::dispatch(report("2024-12"))
        .without_overlapping()
        .via(&queue)
        .await?;
    GenerateReport::dispatch(report("2024-11"))
        .without_overlapping()
        .via(&queue)
        .await?;
    println!("3 reports dispatched (two for 2024-12), a worker running up to 4 at once:");
    let done = Worker::new(&queue)
        .concurrency(4)
        .sleep(Duration::from_millis(50))
        .stop_when_empty()
        .run()
        .await?;
    // A report handed back waits a moment before it is tried again: run until all three are done.
    let mut released = done.released;
    while RUNS.lock().unwrap_or_else(|p| p.into_inner()).len() < 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        released += Worker::new(&queue)
            .concurrency(4)
            .stop_when_empty()
            .run()
            .await?
            .released;
    }

    let runs = RUNS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let december: Vec<_> = runs.iter().filter(|r| r.0 == "2024-12").collect();
    let november = runs
        .iter()
        .find(|r| r.0 == "2024-11")
        .ok_or("the November report did not run")?;
    proves(
        december.len() == 2 && !overlap(december[0], december[1]),
        "the two 2024-12 reports ran one after the other",
    )?;
    proves(
        december.iter().any(|d| overlap(d, november)),
        "the 2024-11 report ran alongside a 2024-12 one",
    )?;
    proves(
        released >= 1
            && queue
                .jobs()
                .state(rakit_job::State::Failed)
                .await?
                .jobs
                .is_empty(),
        "the waiting report was handed back, not failed",
    )?;

    println!("\nUnique dispatches (Rakit's original `without_overlapping`):");
    let first = SyncExternalData::dispatch(SyncExternalData {
        source: "crm".into(),
    })
    .unique()
    .via(&queue)
    .await?;
    let second = SyncExternalData::dispatch(SyncExternalData {
        source: "crm".into(),
    })
    .unique()
    .via(&queue)
    .await?;
    println!("  first: {first:?}\n  second: {second:?}");
    proves(
        first.is_some() && second.is_none(),
        "a second unique dispatch is skipped while the first is pending",
    )?;
    Worker::new(&queue).stop_when_empty().run().await?;
    let third = SyncExternalData::dispatch(SyncExternalData {
        source: "crm".into(),
    })
    .unique()
    .via(&queue)
    .await?;
    proves(
        third.is_some(),
        "once the first has run, the same dispatch is accepted again",
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
