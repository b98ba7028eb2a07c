//! Dispatching jobs, both ways the guide shows: through the job's type (recommended) and
//! through the `Job` facade by name, into a temporary SQLite file installed as the
//! default connection, so plain `.await`s store there.
//!
//! Proves: nothing is stored until the dispatch is awaited; both ways store the same
//! record; a by-name payload that does not fit the job is refused with a sentence and
//! nothing stored; and a worker runs what was dispatched.
//!
//! Run it with `cargo run -p example-dispatching`.

use rakit_job::prelude::*;
use rakit_job::{Queue, QueueStats};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Mutex;

static SENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sends an e-mail (here: remembers it).
#[job]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The template.
    #[serde(default = "default_view")]
    pub view: String,
}

fn default_view() -> String {
    "emails.notification".into()
}

impl Jobable for SendEmail {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        let line = format!(
            "{} <- {:?} ({}) from the {} queue",
            self.to,
            self.subject,
            self.view,
            ctx.queue()
        );
        println!("  sent: {line}");
        SENT.lock().unwrap_or_else(|p| p.into_inner()).push(line);
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

fn ready(stats: &[QueueStats]) -> u64 {
    stats.iter().map(|s| s.ready).sum()
}

async fn demo(db: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::open(&format!("sqlite://{}", db.display())).await?;
    rakit_job::install(queue.clone());
    println!("Jobs go to {}\n", queue.describe());

    // Method 1: via the job type (recommended). A dispatch is a builder: nothing is stored yet.
    let pending = SendEmail::dispatch(SendEmail {
        to: "user@example.com".into(),
        subject: "Welcome!".into(),
        view: "emails.welcome".into(),
    });
    proves(
        ready(&queue.driver().stats().await?) == 0,
        "a dispatch that is not awaited stores nothing",
    )?;
    let id = pending.await?;
    println!("  stored send-email #{id}");

    // Method 2: via the Job facade, by name, with a JSON payload.
    let id = Job::dispatch(
        "send-email",
        json!({"to": "user@example.com", "subject": "Welcome!"}),
    )
    .await?;
    println!("  stored send-email #{id} (by name)");
    proves(
        ready(&queue.driver().stats().await?) == 2,
        "both ways stored a job in the SQLite file",
    )?;

    // A by-name payload that does not fit the registered job is refused at dispatch.
    let refused = Job::dispatch("send-email", json!({"to": "user@example.com"})).await;
    match &refused {
        Err(e) => println!("  refused: {e}"),
        Ok(id) => println!("  unexpectedly stored #{id}"),
    }
    proves(
        refused.is_err(),
        "a by-name payload without `subject` is refused",
    )?;
    proves(
        ready(&queue.driver().stats().await?) == 2,
        "and nothing was stored for it",
    )?;

    // Options work the same both ways.
    Job::dispatch(
        "send-email",
        json!({"to": "vip@example.com", "subject": "Your invoice"}),
    )
    .on_queue("high")
    .await?;

    println!("\nRunning a worker until the queues are empty:");
    let report = Worker::new(&queue).stop_when_empty().run().await?;
    let sent = SENT.lock().unwrap_or_else(|p| p.into_inner()).clone();
    proves(
        report.succeeded == 3,
        "the worker ran the three stored jobs",
    )?;
    proves(
        sent.first().is_some_and(|s| s.starts_with("vip@")),
        "the job put on the high queue ran first",
    )?;
    proves(
        sent.iter().any(|s| s.contains("(emails.notification)")),
        "the by-name payload got the job's default view",
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let db = std::env::temp_dir().join(format!(
        "rakit-example-dispatching-{}.db",
        std::process::id()
    ));
    let result = demo(&db).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
