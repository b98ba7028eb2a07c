//! Quickstart: the guide's SendEmail, ProcessUpload and GenerateReport jobs, dispatched on
//! the high, default and low queues (one scheduled a few seconds ahead, two reports that
//! must not overlap), then drained by a worker on the embedded SQLite store
//! `storage/jobs.db`. No server is needed.
//!
//! Run it with `cargo run -p example-quickstart`.

use rakit_job::prelude::*;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// The order jobs started (and reports finished) in, printed at the end.
static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn ran(line: String) {
    println!("  ran  {line}");
    RAN.lock().unwrap_or_else(|p| p.into_inner()).push(line);
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
        ran(format!(
            "send-email       on {:<7} to {} ({:?})",
            ctx.queue(),
            self.to,
            self.subject
        ));
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

async fn quickstart() -> Result<(), rakit_job::Error> {
    let queue = rakit_job::init().await?;
    println!(
        "rakit-job quickstart, storing jobs in {}\n",
        queue.describe()
    );

    println!("dispatching:");
    let month = chrono::Local::now().format("%Y-%m").to_string();
    let in_three_seconds = chrono::Local::now() + chrono::Duration::seconds(3);
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
        in_three_seconds.format("%Y-%m-%d %H:%M:%S").to_string(),
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
        "  2 reports on low (no overlap by month), 1 upload on default, 2 e-mails on high (one due at {})\n",
        in_three_seconds.format("%H:%M:%S")
    );

    println!(
        "working (high first, then default, then low; the scheduled e-mail waits for its time):"
    );
    let report = Worker::new(&queue)
        .concurrency(2)
        .sleep(Duration::from_millis(200))
        .max_jobs(5)
        .progress(true)
        .run()
        .await?;

    println!("\nin order:");
    for (i, line) in RAN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .enumerate()
    {
        println!("  {:>2}. {line}", i + 1);
    }
    println!(
        "\n{} jobs succeeded, {} retried, {} failed; mail written to storage/mail.log",
        report.succeeded, report.retried, report.failed
    );
    Ok(())
}
