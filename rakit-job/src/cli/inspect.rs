//! Seeing the jobs: `job:jobs`, `job:show`, `job:failed`, `job:workers`, `job:batches`
//! and `job:stats`, as aligned tables for people or, with `--json`, the schema of
//! [`JobInfo::to_json`](crate::JobInfo::to_json), [`WorkerInfo::to_json`](crate::WorkerInfo::to_json)
//! and [`BatchInfo::to_json`](crate::BatchInfo::to_json).

use super::Failure;
use super::args::{FailedList, JobsList, Show};
use super::table::{first_line, local_time, maybe_time, render};
use crate::inspect::JobInfo;
use crate::queue::Queue;
use rakit_job_core::{State, slug};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;

/// How much of an error a table shows.
const ERROR_WIDTH: usize = 60;

/// `job:jobs`: one page of a listing, and how to get the next.
pub(crate) async fn jobs(
    queue: &Queue,
    options: &JobsList,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut listing = queue.jobs().limit(options.limit);
    if let Some(state) = options.state {
        listing = listing.state(state.into());
    }
    if let Some(name) = &options.queue {
        listing = listing.on_queue(name);
    }
    if let Some(name) = &options.name {
        listing = listing.name(name);
    }
    if let Some(cursor) = &options.after {
        listing = listing.after(cursor);
    }
    let page = listing.await?;
    if options.json.json {
        return print_json(out, &page.to_json());
    }
    if page.jobs.is_empty() {
        writeln!(out, "No jobs match.")?;
    } else {
        let rows: Vec<Vec<String>> = page.jobs.iter().map(job_row).collect();
        let header = [
            "ID",
            "NAME",
            "QUEUE",
            "STATE",
            "ATTEMPT",
            "DUE/LEASE",
            "WORKER",
            "ERROR",
        ];
        writeln!(out, "{}", render(&header, &rows))?;
    }
    if let Some(cursor) = &page.cursor {
        let mut next = String::from("job:jobs");
        if let Some(state) = options.state {
            next.push_str(&format!(" --state={}", State::from(state).as_str()));
        }
        if let Some(name) = &options.queue {
            next.push_str(&format!(" --queue={name}"));
        }
        if let Some(name) = &options.name {
            next.push_str(&format!(" --name={}", slug(name)));
        }
        next.push_str(&format!(" --limit={} --after={cursor}", options.limit));
        write_next_page(out, cursor, &next)?;
    }
    Ok(())
}

/// A job as a row of `job:jobs`.
fn job_row(job: &JobInfo) -> Vec<String> {
    let state = if job.cancel_requested {
        format!("{} (cancelling)", job.state.as_str())
    } else {
        job.state.as_str().to_string()
    };
    let due_or_lease = match job.state {
        State::Pending | State::Scheduled => maybe_time(job.due_at),
        State::Running => maybe_time(job.lease_until),
        State::Failed | State::Cancelled => "-".into(),
    };
    vec![
        job.id.to_string(),
        job.name.clone(),
        job.queue.clone(),
        state,
        job.attempt.to_string(),
        due_or_lease,
        job.worker.clone().unwrap_or_else(|| "-".into()),
        job.error
            .as_deref()
            .map(|e| first_line(e, ERROR_WIDTH))
            .unwrap_or_default(),
    ]
}

/// Prints the cursor of the next page and the command that lists it.
fn write_next_page(out: &mut dyn Write, cursor: &str, command: &str) -> Result<(), Failure> {
    writeln!(out, "next cursor: {cursor}")?;
    writeln!(out, "next page:   {} {command}", super::program_name())?;
    Ok(())
}

/// `job:failed`: the failed store's first page, oldest first.
pub(crate) async fn failed(
    queue: &Queue,
    options: &FailedList,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let page = queue
        .jobs()
        .state(State::Failed)
        .limit(options.limit)
        .await?;
    if options.json.json {
        return print_json(out, &page.to_json());
    }
    if page.jobs.is_empty() {
        writeln!(out, "No failed jobs.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page
        .jobs
        .iter()
        .map(|job| {
            vec![
                job.id.to_string(),
                job.name.clone(),
                job.queue.clone(),
                job.attempt.to_string(),
                maybe_time(job.failed_at),
                job.error
                    .as_deref()
                    .map(|e| first_line(e, ERROR_WIDTH))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "QUEUE", "ATTEMPTS", "FAILED AT", "ERROR"];
    writeln!(out, "{}", render(&header, &rows))?;
    if let Some(cursor) = &page.cursor {
        let next = format!(
            "job:jobs --state=failed --limit={} --after={cursor}",
            options.limit
        );
        write_next_page(out, cursor, &next)?;
    }
    Ok(())
}

/// The rest of a chain as `job:show` prints it.
fn chain_text(then: &[String]) -> String {
    match then.is_empty() {
        true => "-".into(),
        false => then.join(" -> "),
    }
}

/// `job:show ID`: every field of one job, its payload pretty-printed.
pub(crate) async fn show(
    queue: &Queue,
    options: &Show,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let Some(job) = queue.job(&options.id).await? else {
        return Err(Failure::runtime(format!(
            "no job has the id {}; `job:jobs` lists the jobs there are",
            options.id
        )));
    };
    if options.json.json {
        return print_json(out, &job.to_json());
    }
    let state = if job.cancel_requested {
        format!(
            "{} (cancel asked: its worker is stopping it)",
            job.state.as_str()
        )
    } else {
        job.state.as_str().to_string()
    };
    let fields = [
        ("id", job.id.to_string()),
        ("name", job.name.clone()),
        ("queue", job.queue.clone()),
        ("state", state),
        ("attempt", job.attempt.to_string()),
        ("dispatched at", local_time(job.dispatched_at)),
        ("due at", maybe_time(job.due_at)),
        ("lease until", maybe_time(job.lease_until)),
        ("worker", job.worker.clone().unwrap_or_else(|| "-".into())),
        ("failed at", maybe_time(job.failed_at)),
        ("error", job.error.clone().unwrap_or_else(|| "-".into())),
        ("then", chain_text(&job.then)),
    ];
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in fields {
        let indent = " ".repeat(width + 1);
        let value = value.replace('\n', &format!("\n{indent}"));
        writeln!(out, "{:<width$} {value}", format!("{label}:"))?;
    }
    let payload = serde_json::to_string_pretty(&job.payload).unwrap_or_default();
    writeln!(out, "payload:")?;
    for line in payload.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// `job:workers`: the live worker processes, by host and start time.
pub(crate) async fn workers(queue: &Queue, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let workers = queue.workers().await?;
    if json {
        let list: Vec<Value> = workers.iter().map(|w| w.to_json()).collect();
        return print_json(out, &json!({ "workers": list }));
    }
    if workers.is_empty() {
        writeln!(
            out,
            "No worker is running: none sent a heartbeat within the last two leases."
        )?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.host.clone(),
                w.pid.to_string(),
                w.id.clone(),
                if w.queues.is_empty() {
                    "all".into()
                } else {
                    w.queues.join(",")
                },
                w.concurrency.to_string(),
                w.running.to_string(),
                w.done.to_string(),
                w.failed.to_string(),
                local_time(w.started_at),
                local_time(w.last_seen),
            ]
        })
        .collect();
    let header = [
        "HOST",
        "PID",
        "ID",
        "QUEUES",
        "CONCURRENCY",
        "RUNNING",
        "DONE",
        "FAILED",
        "STARTED",
        "LAST SEEN",
    ];
    writeln!(out, "{}", render(&header, &rows))?;
    Ok(())
}

/// `job:batches`: every batch with its progress, newest first.
pub(crate) async fn batches(queue: &Queue, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let batches = queue.batches().await?;
    if json {
        let list: Vec<Value> = batches.iter().map(|b| b.to_json()).collect();
        return print_json(out, &json!({ "batches": list }));
    }
    if batches.is_empty() {
        writeln!(out, "No batches.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            let state = match (b.cancelled, b.pending, b.failed) {
                (true, _, _) => "cancelled",
                (false, 0, 0) => "done",
                (false, 0, _) => "done, with failures",
                (false, _, _) => "running",
            };
            vec![
                b.id.to_string(),
                b.name.clone(),
                state.to_string(),
                b.total.to_string(),
                b.done.to_string(),
                b.failed.to_string(),
                b.pending.to_string(),
                local_time(b.created_at),
                maybe_time(b.finished_at),
            ]
        })
        .collect();
    let header = [
        "ID", "NAME", "STATE", "TOTAL", "DONE", "FAILED", "PENDING", "CREATED", "FINISHED",
    ];
    writeln!(out, "{}", render(&header, &rows))?;
    Ok(())
}

/// One queue's line of `job:stats`: counts now, paused or not, runs in the last hour.
#[derive(Default)]
struct QueueLine {
    counts: [u64; 4],
    paused: bool,
    done_last_hour: u64,
    failed_last_hour: u64,
}

/// `job:stats`: per queue, the jobs in each state, whether it is paused, and the runs
/// that succeeded and failed in the last hour.
pub(crate) async fn stats(queue: &Queue, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let stats = queue.stats().await?;
    let paused = queue.paused().await?;
    let throughput = queue.throughput().await?;
    if json {
        let all = crate::inspect::stats_to_json(&queue.describe(), &stats, &paused, &throughput);
        return print_json(out, &all);
    }
    let mut lines: BTreeMap<String, QueueLine> = BTreeMap::new();
    for s in &stats {
        lines.entry(s.queue.clone()).or_default().counts =
            [s.ready, s.scheduled, s.reserved, s.failed];
    }
    for name in &paused {
        lines.entry(name.clone()).or_default().paused = true;
    }
    for minute in &throughput {
        let line = lines.entry(minute.queue.clone()).or_default();
        line.done_last_hour += minute.done;
        line.failed_last_hour += minute.failed;
    }
    writeln!(out, "store: {}", queue.describe())?;
    if lines.is_empty() {
        writeln!(out, "No jobs.")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|(name, line)| {
            let mut row = vec![name.clone()];
            row.extend(line.counts.iter().map(u64::to_string));
            row.push(if line.paused { "yes" } else { "no" }.into());
            row.push(line.done_last_hour.to_string());
            row.push(line.failed_last_hour.to_string());
            row
        })
        .collect();
    let header = [
        "QUEUE",
        "READY",
        "SCHEDULED",
        "RESERVED",
        "FAILED",
        "PAUSED",
        "DONE/1H",
        "FAILED/1H",
    ];
    writeln!(out, "{}", render(&header, &rows))?;
    Ok(())
}

/// Prints `value` as indented JSON, for `--json`.
pub(super) fn print_json(out: &mut dyn Write, value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("cannot write the JSON output: {e}")))?;
    writeln!(out, "{text}")?;
    Ok(())
}
