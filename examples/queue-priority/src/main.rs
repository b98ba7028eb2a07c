//! Queue priority: `on_queue("high")`, `"default"` and `"low"`, as the guide recommends
//! them (verification e-mails and payments high, notifications and reports default,
//! cleanup and analytics low).
//!
//! Jobs are dispatched low first and high last, then one worker serves
//! `high, default, low`. Proves: every high job runs before any default job, and every
//! default job before any low one, whatever the dispatch order; a worker given only
//! `["high"]` never touches the others.
//!
//! Run it with `cargo run -p example-queue-priority`.

use rakit_job::Queue;
use rakit_job::prelude::*;
use std::process::ExitCode;
use std::sync::Mutex;

static ORDER: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A job that records which queue it ran from.
#[job]
pub struct Task {
    /// What it stands for, e.g. `payment`.
    pub what: String,
}

impl Jobable for Task {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        println!("  {:<8} {}", ctx.queue(), self.what);
        ORDER
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ctx.queue().to_string());
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
    let jobs = [
        ("low", "cleanup temp files"),
        ("low", "update statistics"),
        ("default", "weekly report"),
        ("default", "regular notification"),
        ("high", "email verification"),
        ("high", "payment"),
    ];
    println!("dispatched, in this order:");
    for (queue_name, what) in jobs {
        println!("  {queue_name:<8} {what}");
        Task::dispatch(Task { what: what.into() })
            .on_queue(queue_name)
            .via(&queue)
            .await?;
    }

    println!("\na worker serving high only:");
    let report = Worker::new(&queue)
        .queues(["high"])
        .stop_when_empty()
        .run()
        .await?;
    proves(
        report.succeeded == 2,
        "a worker on `high` ran the two high jobs and nothing else",
    )?;

    Task::dispatch(Task {
        what: "password reset".into(),
    })
    .on_queue("high")
    .via(&queue)
    .await?;
    println!("\na worker serving high, default, low (a password reset was just added on high):");
    Worker::new(&queue)
        .queues(["high", "default", "low"])
        .stop_when_empty()
        .run()
        .await?;

    let order = ORDER.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let rank = |q: &str| {
        ["high", "default", "low"]
            .iter()
            .position(|x| *x == q)
            .unwrap_or(3)
    };
    proves(order.len() == 7, "every job ran once")?;
    proves(
        order.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "high ran before default, and default before low",
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
