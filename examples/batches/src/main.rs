//! An import split into a batch: one `ImportRow` job per row of a CSV file, run in
//! parallel by two workers sharing one SQLite file (as two processes on two hosts would),
//! and an `ImportReport` job once every row is in. A second file holds a bad row: its
//! batch runs `ImportFailed` and `ImportFinished` instead of the report.
//!
//! Proves: every row was imported once; the report ran once, after the last row, and saw
//! every row; both files' `finally` ran once; the bad file's batch ran its `catch` once
//! and never its `then`; `q.batches()` (what `job:batches` prints) counts each batch.
//!
//! Run it with `cargo run -p example-batches`.

use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The rows imported so far, by file: the "database" of this example.
static IMPORTED: Mutex<BTreeMap<String, Vec<u64>>> = Mutex::new(BTreeMap::new());
/// The callbacks that ran, in order, each with the rows its file had then.
static CALLBACKS: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());

fn imported(file: &str) -> usize {
    let rows = IMPORTED.lock().unwrap_or_else(|p| p.into_inner());
    rows.get(file).map_or(0, Vec::len)
}

fn note(callback: String, file: &str) {
    let rows = imported(file);
    println!("  {callback} ({rows} rows in)");
    CALLBACKS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((callback, rows));
}

/// Imports one row of a file; a row holding `bad` fails for good.
#[job(queue = "imports", retries = 1)]
pub struct ImportRow {
    /// The file the row is from.
    pub file: String,
    /// The row's number.
    pub row: u64,
    /// The row's text.
    pub text: String,
}

impl Jobable for ImportRow {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        if self.text.contains("bad") {
            return Err(JobError::permanent(format!(
                "row {} of {} cannot be read: {:?}",
                self.row, self.file, self.text
            )));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        IMPORTED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(self.file.clone())
            .or_default()
            .push(self.row);
        Ok(())
    }
}

/// The report, once every row of a file is in (the batch's `then`).
#[job]
pub struct ImportReport {
    /// The file imported.
    pub file: String,
}

impl Jobable for ImportReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        note(format!("report: {} imported", self.file), &self.file);
        Ok(())
    }
}

/// Tells someone a file could not be imported whole (the batch's `catch`).
#[job]
pub struct ImportFailed {
    /// The file.
    pub file: String,
}

impl Jobable for ImportFailed {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        note(format!("failed: {} has a bad row", self.file), &self.file);
        Ok(())
    }
}

/// Runs once the import of a file ended, whatever became of it (the batch's `finally`).
#[job]
pub struct ImportFinished {
    /// The file.
    pub file: String,
}

impl Jobable for ImportFinished {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        note(format!("finished: {}", self.file), &self.file);
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

/// Splits a file's text into a batch of row jobs with its callbacks.
fn import(file: &str, csv: &str) -> Batch {
    let rows = csv.lines().enumerate().map(|(row, text)| ImportRow {
        file: file.to_string(),
        row: row as u64,
        text: text.to_string(),
    });
    let file = file.to_string();
    Batch::new(&format!("import {file}"))
        .add_all(rows)
        .then(ImportReport { file: file.clone() })
        .catch(ImportFailed { file: file.clone() })
        .finally(ImportFinished { file })
}

async fn demo(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        url: format!("sqlite://{}", dir.join("jobs.db").display()),
        logging: false,
        ..Config::default()
    };
    let first = Queue::connect(&config).await?;
    // A second connection to the same file, as a second worker process has.
    let second = Queue::connect(&config).await?;
    println!("\nJobs go to {}", first.describe());

    let good: String = (0..500).map(|n| format!("customer-{n},ok\n")).collect();
    let bad: String = (0..50)
        .map(|n| match n {
            17 => "customer-17,bad\n".to_string(),
            n => format!("customer-{n},ok\n"),
        })
        .collect();
    let good_id = import("customers.csv", &good)
        .via(&first)
        .dispatch()
        .await?;
    let bad_id = import("broken.csv", &bad).via(&first).dispatch().await?;
    println!("dispatched two batches (500 and 50 rows); two workers run them:");

    let workers: Vec<_> = [first.clone(), second]
        .iter()
        .map(|queue| {
            let worker = Worker::new(queue)
                .queues(["imports", "default"])
                .concurrency(8)
                .sleep(Duration::from_millis(50))
                .quiet();
            (worker.shutdown_handle(), tokio::spawn(worker.run()))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while CALLBACKS.lock().unwrap_or_else(|p| p.into_inner()).len() < 4 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A moment more: a callback that must not run would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (stop, running) in workers {
        stop.shutdown();
        running.await??;
    }
    println!();

    // What `job:batches` shows, from the same call.
    for batch in first.batches().await? {
        println!(
            "  {:<22} total {:>3}  done {:>3}  failed {}  pending {}",
            batch.name, batch.total, batch.done, batch.failed, batch.pending
        );
    }

    let rows = IMPORTED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut good_rows = rows.get("customers.csv").cloned().unwrap_or_default();
    good_rows.sort_unstable();
    proves(
        good_rows == (0..500).collect::<Vec<u64>>(),
        "every row of customers.csv was imported once",
    )?;
    let callbacks = CALLBACKS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ran = |name: &str| callbacks.iter().filter(|(c, _)| c == name).count();
    proves(
        callbacks.contains(&("report: customers.csv imported".to_string(), 500)),
        "the report ran after the last row was in",
    )?;
    proves(
        ran("report: customers.csv imported") == 1
            && ran("finished: customers.csv") == 1
            && ran("failed: broken.csv has a bad row") == 1
            && ran("finished: broken.csv") == 1
            && callbacks.len() == 4,
        "each callback due ran once (the report and finally of customers.csv, catch and finally of broken.csv), and no other",
    )?;
    let good = first.batch(&good_id).await?.ok_or("the batch is gone")?;
    let bad = first.batch(&bad_id).await?.ok_or("the batch is gone")?;
    proves(
        (good.done, good.failed, good.pending) == (500, 0, 0)
            && (bad.done, bad.failed, bad.pending) == (49, 1, 0),
        "the batches counted 500 done, and 49 done with 1 failed",
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("rakit-example-batches-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir)
        .map_err(Into::into)
        .and_then(|()| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(demo(&dir))
        });
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
