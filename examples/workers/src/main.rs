//! Running workers: this program is also its own `rakit` command line
//! (`fn main() { rakit_job::cli::main() }` when given arguments), and without arguments it
//! demonstrates each option of the guide's "Running Workers" section by starting itself
//! as worker processes on a temporary SQLite store:
//!
//! ```text
//! job:runall --queue=default,high --stop-when-empty
//! job:runall --queue=high --retries=3 --sleep=200 --max-jobs=3
//! job:runall --queue=low --concurrency=4 --max-jobs=5
//! job:run send-report
//! Worker::new(&queue).queues(["default"]).stop_when_empty().run()   (from code)
//! ```
//!
//! Run it with `cargo run -p example-workers`.

use rakit_job::prelude::*;
use rakit_job::{Config, Queue};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Appends `start` and `end` lines to `log`, `ms` milliseconds apart.
#[job]
pub struct Work {
    /// The label of its lines.
    pub label: String,
    /// How long it works, in milliseconds.
    pub ms: u64,
    /// The file it appends to.
    pub log: String,
}

impl Jobable for Work {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", &self.label, ctx)?;
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        append(&self.log, "end", &self.label, ctx)?;
        Ok(())
    }
}

/// Fails its first `fail_first` attempts; `backoff = "fixed"` retries after the worker's `--sleep`.
#[job(queue = "high", backoff = "fixed")]
pub struct Flaky {
    /// How many attempts fail.
    pub fail_first: u32,
    /// The file it appends to.
    pub log: String,
}

impl Jobable for Flaky {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        if ctx.attempt() <= self.fail_first {
            append(&self.log, "fail", "flaky", ctx)?;
            return Err(JobError::new(format!(
                "attempt {} fails on purpose",
                ctx.attempt()
            )));
        }
        append(&self.log, "ok", "flaky", ctx)?;
        Ok(())
    }
}

/// The job `job:run send-report` picks out by name.
#[job]
pub struct SendReport {
    /// The file it appends to.
    pub log: String,
}

impl Jobable for SendReport {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "run", "send-report", ctx)?;
        Ok(())
    }
}

/// One line per event: `<event> <label> <queue> <attempt> <unix ms>`.
fn append(log: &str, event: &str, label: &str, ctx: &JobContext) -> std::io::Result<()> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let line = format!("{event} {label} {} {} {ms}\n", ctx.queue(), ctx.attempt());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(line.as_bytes())
}

/// The log's lines from line `from` on, as `(event, label, queue, attempt, ms)`.
fn lines(log: &Path, from: usize) -> Vec<(String, String, String, u32, u128)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .skip(from)
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            Some((
                w[0].into(),
                w[1].into(),
                w[2].into(),
                w[3].parse().ok()?,
                w[4].parse().ok()?,
            ))
        })
        .collect()
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

/// Runs this program as `my-app <args>` on the example's store, printing its output.
fn cli(dir: &Path, args: &[&str]) -> Result<(), String> {
    println!("\n$ my-app {}", args.join(" "));
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(args)
        .env("RAKIT_JOB_CONFIG", dir.join("none.toml"))
        .env(
            "RAKIT_JOB_URL",
            format!("sqlite://{}", dir.join("jobs.db").display()),
        )
        .env("RAKIT_JOB_MAX_JOB", "0")
        .env("RUST_LOG", "rakit_job=info")
        .output()
        .map_err(|e| format!("cannot start the worker process: {e}"))?;
    for line in String::from_utf8_lossy(&out.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
    {
        println!("  | {line}");
    }
    if !out.status.success() {
        return Err(format!(
            "`my-app {}` exited with {}",
            args.join(" "),
            out.status
        ));
    }
    Ok(())
}

async fn demo(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        url: format!("sqlite://{}", dir.join("jobs.db").display()),
        ..Config::default()
    };
    let queue = Queue::connect(&config).await?;
    let log_path = dir.join("runs.log");
    let log = log_path.display().to_string();
    let work = |label: &str, ms: u64| Work {
        label: label.into(),
        ms,
        log: log.clone(),
    };

    println!("Run specific queues, in the order given (the guide's --queue=default,high):");
    Work::dispatch(work("high-1", 0))
        .on_queue("high")
        .via(&queue)
        .await?;
    Work::dispatch(work("default-1", 0)).via(&queue).await?;
    Work::dispatch(work("default-2", 0)).via(&queue).await?;
    Work::dispatch(work("low-1", 0))
        .on_queue("low")
        .via(&queue)
        .await?;
    cli(
        dir,
        &["job:runall", "--queue=default,high", "--stop-when-empty"],
    )?;
    let order: Vec<String> = lines(&log_path, 0)
        .into_iter()
        .filter(|l| l.0 == "end")
        .map(|l| l.1)
        .collect();
    proves(
        order == ["default-1", "default-2", "high-1"],
        "default ran before high, as --queue ordered them, and low was left alone",
    )?;

    println!("\nWith retry and sleep (the guide's --queue=high --retries=3 --sleep=1000, faster):");
    let seen = lines(&log_path, 0).len();
    Flaky::dispatch(Flaky {
        fail_first: 2,
        log: log.clone(),
    })
    .via(&queue)
    .await?;
    cli(
        dir,
        &[
            "job:runall",
            "--queue=high",
            "--retries=3",
            "--sleep=200",
            "--max-jobs=3",
        ],
    )?;
    let events: Vec<String> = lines(&log_path, seen)
        .into_iter()
        .map(|l| format!("{} #{}", l.0, l.3))
        .collect();
    proves(
        events == ["fail #1", "fail #2", "ok #3"],
        "the failing job was retried after --sleep until it succeeded",
    )?;

    println!(
        "\nSeveral jobs at a time, exiting after N jobs (4 slow ones, and low-1 from the first step):"
    );
    let seen = lines(&log_path, 0).len();
    for i in 1..=4 {
        Work::dispatch(work(&format!("slow-{i}"), 400))
            .on_queue("low")
            .via(&queue)
            .await?;
    }
    let started = Instant::now();
    cli(
        dir,
        &[
            "job:runall",
            "--queue=low",
            "--concurrency=4",
            "--max-jobs=5",
        ],
    )?;
    let mut running = 0;
    let mut most = 0;
    for (event, ..) in lines(&log_path, seen) {
        running += i32::from(event == "start") - i32::from(event == "end");
        most = most.max(running);
    }
    proves(
        most >= 2,
        &format!(
            "--concurrency=4 ran the 400 ms jobs side by side (up to {most} at once, {} ms in all)",
            started.elapsed().as_millis()
        ),
    )?;

    println!("\nRun one job by name (the guide's job:run send-report):");
    let seen = lines(&log_path, 0).len();
    SendReport::dispatch(SendReport { log: log.clone() })
        .via(&queue)
        .await?;
    Work::dispatch(work("default-3", 0)).via(&queue).await?;
    cli(dir, &["job:run", "send-report"])?;
    let ran: Vec<String> = lines(&log_path, seen).into_iter().map(|l| l.1).collect();
    proves(
        ran == ["send-report"],
        "job:run ran the send-report job and left the other default job",
    )?;

    println!("\nFrom code, in this process:");
    let report = Worker::new(&queue)
        .queues(["default"])
        .retries(3)
        .sleep(Duration::from_millis(100))
        .stop_when_empty()
        .run()
        .await?;
    println!("  Worker::new(&queue).queues([\"default\"]).stop_when_empty().run() -> {report:?}");
    proves(
        report.succeeded == 1,
        "the worker from code ran the job job:run left behind",
    )?;

    cli(dir, &["job:stats"])?;
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        return rakit_job::cli::main();
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("rakit-example-workers-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the async runtime");
    let result = runtime.block_on(demo(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
