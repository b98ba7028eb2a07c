//! Best practices from the guide: keep payloads small (dispatch ids, not objects), handle
//! errors by alerting an admin on the high queue and failing for retry, use priority
//! wisely, and prevent duplicates of important jobs.
//!
//! Proves: a payload over the size limit is refused with a sentence; an import that keeps
//! failing alerts the admin once per attempt, on the high queue, is retried with backoff,
//! and ends in the failed-jobs store with its error; a no-overlap job is marked as such.
//!
//! Run it with `cargo run -p example-best-practices`.

use rakit_job::prelude::*;
use rakit_job::{JobSpec, KeyRule, Queue};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

static ALERTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// 1. Keep jobs simple: one job, one thing. Sends an e-mail.
#[job]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The template.
    pub view: String,
    /// What went wrong, for the template.
    pub error: String,
}

impl Jobable for SendEmail {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        println!(
            "  [{}] mail to {}: {} ({})",
            ctx.queue(),
            self.to,
            self.subject,
            self.error
        );
        ALERTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ctx.queue().to_string());
        Ok(())
    }
}

/// 2. Small payload: the order's id, not the order.
#[job(queue = "high")]
pub struct ProcessOrder {
    /// The order to process.
    pub order_id: u64,
}

impl Jobable for ProcessOrder {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

/// The same job done wrong: the whole order in the payload.
#[job(name = "process-order-bad")]
pub struct ProcessOrderWithObject {
    /// Everything about the order.
    pub order: String,
}

impl Jobable for ProcessOrderWithObject {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

/// 3. Handle errors: on failure, alert the admin on the high queue, then fail for retry.
#[job(retries = 2, backoff = "100ms")]
pub struct ImportData {
    /// Where the data comes from.
    pub source: String,
}

impl ImportData {
    async fn process_data(&self) -> Result<(), std::io::Error> {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("{} refused the connection", self.source),
        ))
    }
}

impl Jobable for ImportData {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        if let Err(e) = self.process_data().await {
            eprintln!(
                "  Job failed: {} (attempt {}): {e}",
                ctx.name(),
                ctx.attempt()
            );
            ctx.dispatch(SendEmail {
                to: "admin@example.com".into(),
                subject: "Job Failed".into(),
                view: "emails.job-failed".into(),
                error: e.to_string(),
            })
            .on_queue("high")
            .await?;
            return Err(e.into()); // re-throw for retry
        }
        Ok(())
    }
}

/// 5. Prevent duplicates for important jobs: only one monthly report runs at a time.
#[job(queue = "low", no_overlap)]
pub struct GenerateMonthlyReport {
    /// The month, e.g. `2024-12`.
    pub month: String,
}

impl Jobable for GenerateMonthlyReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
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

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::memory();

    println!("Small payloads:");
    ProcessOrder::dispatch(ProcessOrder { order_id: 1042 })
        .via(&queue)
        .await?;
    let big = ProcessOrderWithObject {
        order: "x".repeat(300 * 1024),
    };
    let refused = ProcessOrderWithObject::dispatch(big).via(&queue).await;
    if let Err(e) = &refused {
        println!("  refused: {e}");
    }
    proves(
        refused.is_err(),
        "a 300 KiB payload is refused; an id is what to send",
    )?;

    println!("\nHandling errors (retries = 2, so at most 3 attempts):");
    ImportData::dispatch(ImportData {
        source: "crm.example.com".into(),
    })
    .via(&queue)
    .await?;
    let worker = || {
        Worker::new(&queue)
            .queues(["high", "default", "low"])
            .sleep(Duration::from_millis(20))
            .stop_when_empty()
    };
    let mut retried = 0;
    while failed(&queue).await?.is_empty() {
        retried += worker().run().await?.retried;
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    worker().run().await?; // the last alert
    let failed = failed(&queue).await?;
    let alerts = ALERTS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!(
        "  failed store: {} after {} attempts ::: {}",
        failed[0].name,
        failed[0].attempt,
        failed[0].error.as_deref().unwrap_or_default()
    );
    proves(retried == 2, "the import was retried twice")?;
    proves(
        failed[0].attempt == 3
            && failed[0].error.as_deref() == Some("crm.example.com refused the connection"),
        "then it was moved to the failed store with its error",
    )?;
    proves(
        alerts.len() == 3 && alerts.iter().all(|q| q == "high"),
        "the admin was alerted once per attempt, on the high queue",
    )?;

    println!("\nPriority and duplicates:");
    println!(
        "  {} goes to {}, {} to {}",
        ProcessOrder::NAME,
        ProcessOrder::QUEUE,
        GenerateMonthlyReport::NAME,
        GenerateMonthlyReport::QUEUE
    );
    proves(
        GenerateMonthlyReport::OPTIONS.no_overlap == KeyRule::Name,
        "GenerateMonthlyReport never runs twice at once, on any worker",
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

/// The jobs in the failed store.
async fn failed(queue: &Queue) -> Result<Vec<rakit_job::JobInfo>, rakit_job::Error> {
    Ok(queue.jobs().state(rakit_job::State::Failed).await?.jobs)
}
