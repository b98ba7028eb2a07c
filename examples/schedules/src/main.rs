//! Schedules and rate limits: a `#[job(cron = "* * * * * *")]` job ticking every second,
//! and nine dispatches of a `#[job(rate_limit = "3/1s")]` job, run by two workers sharing
//! one SQLite file as two processes on two hosts would.
//!
//! Proves: both workers run the scheduler, yet every tick ran once, at its second; no
//! second saw more than 3 starts of the limited job; all 9 ran, each on its first attempt
//! (a job over the limit is handed back until the window has room, not failed).
//!
//! Run it with `cargo run -p example-schedules`.

use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The tick (ms since the epoch) of each run of [`Heartbeat`].
static TICKS: Mutex<Vec<u128>> = Mutex::new(Vec::new());
/// When each run of [`CallPartner`] started (ms since the epoch) and its attempt.
static CALLS: Mutex<Vec<(u128, u32)>> = Mutex::new(Vec::new());
/// When the workers started, for the printed times.
static STARTED: OnceLock<Instant> = OnceLock::new();

fn ms(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn elapsed() -> f64 {
    STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64())
}

/// Dispatched by every worker's scheduler at the start of each second.
#[derive(Default)]
#[job(cron = "* * * * * *")]
pub struct Heartbeat {}

impl Jobable for Heartbeat {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        let tick = ms(ctx.dispatched_at());
        println!(
            "  +{:.3}s  heartbeat for the tick at second {:02}",
            elapsed(),
            tick / 1000 % 60
        );
        TICKS.lock().unwrap_or_else(|p| p.into_inner()).push(tick);
        Ok(())
    }
}

/// Calls a partner's API, which allows 3 calls a second.
#[job(rate_limit = "3/1s")]
pub struct CallPartner {
    /// Which call this is.
    pub n: u32,
}

impl Jobable for CallPartner {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        let start = ms(SystemTime::now());
        println!("  +{:.3}s  call {}", elapsed(), self.n);
        CALLS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((start, ctx.attempt()));
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

/// The most starts in any one second: a start is noted as its run begins, a moment after
/// the store counted it, so the window is taken `slack` ms short of a second.
fn most_in_a_second(starts: &[u128], slack: u128) -> usize {
    starts
        .iter()
        .map(|first| {
            starts
                .iter()
                .filter(|s| **s >= *first && **s < first + 1000 - slack)
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn demo(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        url: format!("sqlite://{}", dir.join("jobs.db").display()),
        // This example prints its own lines.
        logging: false,
        ..Config::default()
    };
    let first = Queue::connect(&config).await?;
    // A second connection to the same file, as a second worker process has.
    let second = Queue::connect(&config).await?;
    println!("\nJobs go to {}", first.describe());

    CallPartner::dispatch_many((1..=9).map(|n| CallPartner { n }))
        .via(&first)
        .await?;
    println!("dispatched 9 calls; two workers run for 3.5 seconds:");

    STARTED.get_or_init(Instant::now);
    let workers: Vec<_> = [first, second]
        .iter()
        .map(|queue| {
            let worker = Worker::new(queue)
                .concurrency(4)
                .sleep(Duration::from_millis(50))
                .quiet();
            (worker.shutdown_handle(), tokio::spawn(worker.run()))
        })
        .collect();
    // 3.5 s, or longer on a machine too busy to run the 9 calls and 3 ticks by then.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let calls = CALLS.lock().unwrap_or_else(|p| p.into_inner()).len();
        let ticks = TICKS.lock().unwrap_or_else(|p| p.into_inner()).len();
        let enough = calls >= 9 && ticks >= 3;
        if (enough && elapsed() >= 3.5) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut succeeded, mut handed_back, mut failed) = (0, 0, 0);
    for (stop, running) in workers {
        stop.shutdown();
        let report = running.await??;
        succeeded += report.succeeded;
        handed_back += report.released;
        failed += report.failed + report.retried;
    }
    println!();

    let ticks = TICKS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut distinct = ticks.clone();
    distinct.sort_unstable();
    distinct.dedup();
    proves(
        ticks.len() >= 3 && distinct.len() == ticks.len(),
        &format!(
            "{} ticks ran, each once, though both workers dispatch every tick",
            ticks.len()
        ),
    )?;
    proves(
        ticks.iter().all(|t| t % 1000 == 0),
        "each tick is dispatched at its second, whichever worker stored it",
    )?;

    let calls = CALLS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let starts: Vec<u128> = calls.iter().map(|(start, _)| *start).collect();
    proves(calls.len() == 9, "all 9 limited calls ran")?;
    proves(
        most_in_a_second(&starts, 20) <= 3,
        "no second saw more than 3 starts of the limited call",
    )?;
    proves(
        calls.iter().all(|(_, attempt)| *attempt == 1) && handed_back > 0,
        &format!(
            "a call over the limit was handed back ({handed_back} times in all) and waited, its attempt not spent"
        ),
    )?;
    proves(
        failed == 0 && succeeded == (ticks.len() + calls.len()) as u64,
        "nothing failed or was retried",
    )?;
    Ok(())
}

fn main() -> ExitCode {
    // `job:schedule` lists the schedules linked into this program; it needs no store.
    println!("$ example-schedules job:schedule");
    if rakit_job::cli::run_with(vec!["job:schedule".into()]) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }

    let dir = std::env::temp_dir().join(format!("rakit-example-schedules-{}", std::process::id()));
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
