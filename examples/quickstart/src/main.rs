//! Quickstart: the guide's SendEmail, ProcessUpload and GenerateReport jobs, dispatched on
//! the high, default and low queues (one scheduled a few seconds ahead, two reports that
//! must not overlap), then drained by a worker running two jobs at a time on the embedded
//! SQLite store `storage/jobs.db`. No server is needed. It ends by checking what it claims:
//! the two reports never ran at once, the scheduled e-mail did not run before its time.
//!
//! Run it with `cargo run -p example-quickstart`.

use chrono::{Local, NaiveDateTime};
use rakit_job::prelude::*;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// When each job started (and each report finished), in that order, printed at the end.
static RAN: Mutex<Vec<(NaiveDateTime, String)>> = Mutex::new(Vec::new());

fn ran(line: String) {
    println!("  ran  {line}");
    log().push((Local::now().naive_local(), line));
}

fn log() -> MutexGuard<'static, Vec<(NaiveDateTime, String)>> {
    RAN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends an e-mail; here it appends the message to `storage/mail.log` instead.
#[job(queue = "high", retries = 3, timeout = "30s")]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The template, `emails.notification` unless given.
    #[serde(default = "default_view")]
    pub view: String,
}

fn default_view() -> String {
    "emails.notification".into()
}

impl Jobable for SendEmail {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        ran(format!(
            "send-email       on {:<7} to {} ({:?})",
            ctx.queue(),
            self.to,
            self.subject
        ));
        std::fs::create_dir_all("storage")?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("storage/mail.log")?;
        writeln!(
            log,
            "to={} subject={:?} view={}",
            self.to, self.subject, self.view
        )?;
        Ok(())
    }
}

/// Processes an uploaded file (resize, optimize, ...).
#[job]
pub struct ProcessUpload {
    /// The uploaded file's path.
    pub file: String,
    /// Who uploaded it.
    pub user_id: u64,
}

impl Jobable for ProcessUpload {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        ran(format!(
            "process-upload   on {:<7} {} for user {}",
            ctx.queue(),
            self.file,
            self.user_id
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }
}

/// Builds a report; two reports of the same month never run at the same time.
#[job(queue = "low", no_overlap = "month")]
pub struct GenerateReport {
    /// `daily` unless given.
    #[serde(default = "daily")]
    pub kind: String,
    /// The month, e.g. `2024-12`.
    pub month: String,
}

fn daily() -> String {
    "daily".into()
}

impl Jobable for GenerateReport {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        ran(format!(
            "generate-report  on {:<7} {} {} started",
            ctx.queue(),
            self.kind,
            self.month
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        ran(format!(
            "generate-report  on {:<7} {} {} finished",
            ctx.queue(),
            self.kind,
            self.month
        ));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    rakit_job::cli::init_logging();
    match quickstart().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Prints a claim that held, or fails with the one that did not.
fn proves(ok: bool, claim: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        println!("ok: {claim}");
        Ok(())
    } else {
        Err(format!("this example expected that {claim}, but it did not hold").into())
    }
}

/// Where the first line containing `text` is in the log.
fn position(text: &str) -> Option<usize> {
    log().iter().position(|(_, line)| line.contains(text))
}

async fn quickstart() -> Result<(), Box<dyn std::error::Error>> {
    let queue = rakit_job::init().await?;
    println!(
        "rakit-job quickstart, storing jobs in {}\n",
        queue.describe()
    );

    println!("dispatching:");
    let month = Local::now().format("%Y-%m").to_string();
    let in_three_seconds = (Local::now() + chrono::Duration::seconds(3))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    GenerateReport::dispatch(GenerateReport {
        kind: "monthly".into(),
        month: month.clone(),
    })
    .await?;
    GenerateReport::dispatch(GenerateReport {
        kind: "monthly (again)".into(),
        month: month.clone(),
    })
    .await?;
    ProcessUpload::dispatch(ProcessUpload {
        file: "storage/uploads/1700000000.jpg".into(),
        user_id: 42,
    })
    .await?;
    SendEmail::dispatch_at(
        in_three_seconds.as_str(),
        SendEmail {
            to: "user@example.com".into(),
            subject: "Your report is ready".into(),
            view: default_view(),
        },
    )
    .await?;
    SendEmail::dispatch(SendEmail {
        to: "user@example.com".into(),
        subject: "Welcome!".into(),
        view: "emails.welcome".into(),
    })
    .await?;
    println!(
        "  2 reports on low (no overlap by month), 1 upload on default, 2 e-mails on high (one due at {in_three_seconds})\n"
    );

    println!(
        "working, two jobs at a time; a free slot takes the most urgent due job (high, default, low):"
    );
    println!(
        "the e-mail and the upload start together, the two reports follow one after the other,"
    );
    println!("and the e-mail scheduled for later runs at its time\n");
    let report = Worker::new(&queue)
        .concurrency(2)
        .sleep(Duration::from_millis(200))
        .max_jobs(5)
        .progress(true)
        .run()
        .await?;

    println!("\nin the order they started (two at a time: the first two started together):");
    for (i, (at, line)) in log().iter().enumerate() {
        println!("  {:>2}. {} {line}", i + 1, at.format("%H:%M:%S%.3f"));
    }
    println!(
        "\n{} jobs succeeded, {} retried, {} failed; mail written to storage/mail.log\n",
        report.succeeded, report.retried, report.failed
    );

    let (first, second) = (
        position(&format!("monthly {month} started")),
        position(&format!("monthly (again) {month} started")),
    );
    let (first_done, second_done) = (
        position(&format!("monthly {month} finished")),
        position(&format!("monthly (again) {month} finished")),
    );
    let apart = match (first, first_done, second, second_done) {
        (Some(a), Some(a_done), Some(b), Some(b_done)) => a_done < b || b_done < a,
        _ => false,
    };
    proves(
        apart,
        "the two reports of one month ran one after the other, never at once",
    )?;
    let due = NaiveDateTime::parse_from_str(&in_three_seconds, "%Y-%m-%d %H:%M:%S")?;
    let scheduled = log()
        .iter()
        .find(|(_, line)| line.contains("Your report is ready"))
        .map(|(at, _)| *at);
    proves(
        scheduled.is_some_and(|at| at >= due),
        "the scheduled e-mail ran, and not before its time",
    )?;
    proves(
        report.succeeded == 5,
        "each of the five jobs ran once and succeeded",
    )?;
    Ok(())
}
