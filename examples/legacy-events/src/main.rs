//! The legacy, event-based API: a listener per job name with an untyped JSON payload,
//! `Job::add`, `Job::dispatch` and `Job::run`, as in the guide's last section.
//!
//! Proves: both dispatches reach the listener with their payloads; `Job::run` runs only
//! that name's jobs; a listener's error is retried like a typed job's; a name nobody
//! listens to is moved to the failed store saying so, not silently dropped.
//!
//! Run it with `cargo run -p example-legacy-events`.

use rakit_job::prelude::*;
use rakit_job::{JobError, Queue};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Mutex;

static NOTIFIED: Mutex<Vec<Value>> = Mutex::new(Vec::new());

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
    // The facade uses the default connection: here an in-memory one.
    let queue = Queue::memory();
    rakit_job::install(queue.clone());

    // Event::listen('rakit.jobs.run: send-notification', function($payload) { ... })
    rakit_job::listen("send-notification", |payload: Value| async move {
        println!("  notify {} about {}", payload["to"], payload["subject"]);
        NOTIFIED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(payload);
        Ok(())
    });
    rakit_job::listen("sync-crm", |_payload: Value| async move {
        Err(JobError::new("the CRM is down"))
    });

    // Job::add('send-notification', array(...)) and Job::dispatch('send-notification', $data)
    Job::add(
        "send-notification",
        json!({"to": "user@example.com", "subject": "Hello"}),
    )
    .await?;
    Job::dispatch(
        "send-notification",
        json!({"to": "admin@example.com", "subject": "Report ready"}),
    )
    .await?;
    Job::add("sync-crm", json!({})).await?;
    Job::add("nobody-listens", json!({"x": 1})).await?;

    // Job::run('send-notification')
    println!("Job::run(\"send-notification\"):");
    let report = Job::run("send-notification").await?;
    let notified = NOTIFIED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    proves(
        report.succeeded == 2,
        "Job::run ran both send-notification jobs",
    )?;
    proves(
        notified.iter().any(|p| p["subject"] == "Report ready"),
        "the listener got each payload",
    )?;
    let stats = queue.driver().stats().await?;
    proves(
        stats.iter().map(|s| s.ready).sum::<u64>() == 2,
        "the other names' jobs were left alone",
    )?;

    println!("\nJob::runall():");
    let report = Job::runall().await?;
    println!("  {report:?}");
    proves(
        report.retried == 1,
        "the listener's error made its job wait for a retry",
    )?;
    let failed = queue.jobs().state(rakit_job::State::Failed).await?.jobs;
    if let Some(f) = failed.first() {
        println!(
            "  failed: {} ::: {}",
            f.name,
            f.error.as_deref().unwrap_or_default()
        );
    }
    proves(
        failed.len() == 1
            && failed[0]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("no job named `nobody-listens` is registered"),
        "a job nobody listens to is failed with the reason",
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
