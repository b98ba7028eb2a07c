//! Running jobs from the command line — `job:runall`, `job:run NAME…` — and `job:list`,
//! the jobs this program can run. The CLI is the one place that listens for SIGINT and
//! SIGTERM.

use super::Failure;
use super::args::{RunAll, RunNamed, WorkerOptions};
use super::table::render;
use crate::facade::Job;
use crate::options::KeyRule;
use crate::queue::Queue;
use crate::registry;
use crate::worker::{Worker, WorkerReport};
use rakit_job_core::slug;
use std::io::Write;
use std::time::Duration;
use tokio::sync::watch;

/// A worker on `queue` with the options given, showing its progress line.
fn worker(queue: &Queue, options: &WorkerOptions) -> Worker {
    let mut worker = Worker::new(queue).progress(true);
    if let Some(queues) = &options.queue {
        worker = worker.queues(queues.0.clone());
    }
    if let Some(n) = options.retries {
        worker = worker.retries(n);
    }
    if let Some(ms) = options.sleep {
        worker = worker.sleep(Duration::from_millis(ms));
    }
    if let Some(n) = options.concurrency {
        worker = worker.concurrency(n);
    }
    if let Some(n) = options.prefetch {
        worker = worker.prefetch(n);
    }
    if let Some(seconds) = options.grace {
        worker = worker.grace(Duration::from_secs(seconds));
    }
    worker
}

/// `job:runall`: one worker until a signal, `--max-jobs` (else the config's `max_job`)
/// or, with `--stop-when-empty`, an empty queue.
pub(crate) async fn run_all(
    queue: &Queue,
    options: RunAll,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let max_jobs = options.max_jobs.unwrap_or(queue.config().max_job);
    let mut worker = worker(queue, &options.worker)
        .max_jobs(max_jobs)
        .shutdown_on(crate::shutdown_signal());
    if options.stop_when_empty {
        worker = worker.stop_when_empty();
    }
    let report = worker.run().await?;
    writeln!(
        out,
        "Worker stopped: {} succeeded, {} retried, {} failed, {} cancelled, {} handed back.",
        report.succeeded, report.retried, report.failed, report.cancelled, report.released
    )?;
    Ok(())
}

/// Refuses names no `#[job]` type or listener of this program runs: their jobs would
/// only wait, and "0 succeeded" would hide the typo.
pub(crate) fn refuse_unknown_names(names: &[String]) -> Result<(), Failure> {
    let Some(unknown) = names.iter().find(|name| !Job::is_known(name)) else {
        return Ok(());
    };
    let known = Job::names();
    let hint = crate::config::closest(&slug(unknown), &known)
        .map(|name| format!("did you mean `{name}`? "))
        .unwrap_or_default();
    Err(Failure::runtime(format!(
        "no job is named `{unknown}` in this program, so none would run; {hint}`job:list` shows the names it knows"
    )))
}

/// `job:run NAME…`: the ready jobs of each name in turn, then exit. A signal stops the
/// running name and skips the rest.
pub(crate) async fn run_named(
    queue: &Queue,
    options: RunNamed,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let (stop, stopped) = watch::channel(false);
    let listener = tokio::spawn(async move {
        crate::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let mut outcome = Ok(());
    for name in &options.names {
        let mut signalled = stopped.clone();
        let report = worker(queue, &options.worker)
            .only_named(name)
            .stop_when_empty()
            .max_jobs(0)
            .shutdown_on(async move {
                let _ = signalled.wait_for(|stop| *stop).await;
            })
            .run()
            .await;
        outcome = report.map_err(Failure::from).and_then(|report| {
            writeln!(out, "{}: {}", slug(name), summary(&report))?;
            Ok(())
        });
        if outcome.is_err() || *stopped.borrow() {
            break;
        }
    }
    listener.abort();
    outcome
}

/// `2 succeeded, 0 retried, 1 failed.`, cancelled ones named when there are any.
fn summary(report: &WorkerReport) -> String {
    let cancelled = match report.cancelled {
        0 => String::new(),
        n => format!(", {n} cancelled"),
    };
    format!(
        "{} succeeded, {} retried, {} failed{cancelled}.",
        report.succeeded, report.retried, report.failed
    )
}

/// `job:list`: every `#[job]` type linked into this program.
pub(crate) fn list(out: &mut dyn Write) -> Result<(), Failure> {
    registry::check_unique_names()?;
    let rows: Vec<Vec<String>> = registry::all()
        .iter()
        .map(|entry| {
            vec![
                entry.name.to_string(),
                entry.type_name.to_string(),
                entry.queue.to_string(),
                entry
                    .options
                    .retries
                    .map_or("config".into(), |r| r.to_string()),
                match entry.options.no_overlap {
                    KeyRule::Off => "no".into(),
                    KeyRule::Name => "yes".into(),
                    KeyRule::Field(field) => format!("by {field}"),
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        writeln!(
            out,
            "No jobs are linked into this program; define one with #[job] (or `use my_jobs as _;`)."
        )?;
    } else {
        let header = ["NAME", "TYPE", "QUEUE", "RETRIES", "NO_OVERLAP"];
        writeln!(out, "{}", render(&header, &rows))?;
    }
    Ok(())
}
