//! `GET /schedules`: the cron schedules linked into this program, each with its next three
//! ticks, drawn from the JSON of `/api/schedules` so the script moves the ticks on.

use super::{Column, Table, col};
use crate::dashboard::Ctx;
use crate::inspect::schedules_to_json;
use crate::schedule::Schedule;
use axum::response::Response;
use serde_json::Value;

const COLUMNS: [Column; 4] = [
    col("name", "Job"),
    col("expression", "Cron"),
    col("time_zone", "Time zone"),
    col("next", "Next three ticks (UTC)"),
];

/// The schedules page.
pub(crate) async fn show(ctx: Ctx) -> Response {
    match crate::schedules() {
        Ok(schedules) => ctx.page("Schedules", "Schedules", &body(&ctx, &schedules)),
        Err(e) => ctx.failed(e),
    }
}

/// The page's content for `schedules`.
pub(crate) fn body(ctx: &Ctx, schedules: &[Schedule]) -> String {
    let json = schedules_to_json(schedules);
    let rows: &[Value] = json["schedules"].as_array().map_or(&[], Vec::as_slice);
    let table = Table {
        columns: &COLUMNS,
        rows,
        src: Some("api/schedules"),
        rows_at: "schedules",
        empty: "No schedules are linked into this program.",
        actions: None,
    };
    format!(
        "<h1>Schedules</h1><p class=\"hint\">The <code>#[job(cron = …)]</code> jobs of this \
         program. Every worker that runs until stopped dispatches each tick, and the store \
         keeps it once across every host. Schedules a worker adds with \
         <code>Worker::schedule</code> are not listed.</p>{}",
        table.render(ctx)
    )
}
