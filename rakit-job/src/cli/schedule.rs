//! `job:schedule`: the cron schedules of the `#[job(cron = ...)]` types linked into this
//! program and their next three ticks, as a table in local time or, with `--json`, the
//! schema of [`schedules_to_json`]. Schedules added with `Worker::schedule` live in the
//! worker that adds them, so they are not listed.

use super::Failure;
use super::inspect::print_json;
use super::table::{local_time, render};
use crate::inspect::schedules_to_json;
use crate::schedule::Schedule;
use std::io::Write;

/// `job:schedule [--json]`.
pub(crate) fn list(json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    write(&crate::schedules()?, json, out)
}

/// Prints `schedules` as a table, or as JSON.
pub(super) fn write(
    schedules: &[Schedule],
    json: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if json {
        return print_json(out, &schedules_to_json(schedules));
    }
    if schedules.is_empty() {
        writeln!(
            out,
            "No schedules are linked into this program; `#[job(cron = \"0 3 * * *\")]` adds one."
        )?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|schedule| {
            let next: Vec<String> = schedule.upcoming(3).into_iter().map(local_time).collect();
            vec![
                schedule.name().to_string(),
                schedule.expression().to_string(),
                schedule.time_zone().to_string(),
                if next.is_empty() {
                    "never".to_string()
                } else {
                    next.join(", ")
                },
            ]
        })
        .collect();
    let header = [
        "NAME",
        "EXPRESSION",
        "TIME ZONE",
        "NEXT THREE TICKS (LOCAL TIME)",
    ];
    writeln!(out, "{}", render(&header, &rows))?;
    Ok(())
}
