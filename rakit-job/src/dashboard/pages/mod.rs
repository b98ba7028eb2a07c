//! The HTML pages, one module each, and the tables they share. Tables of jobs and workers
//! are drawn from the same JSON the API gives, column by column, so the page script can
//! redraw them from `/api` without a reload and they look the same.

pub(crate) mod batches;
pub(crate) mod failed;
pub(crate) mod job;
pub(crate) mod jobs;
pub(crate) mod overview;
pub(crate) mod queues;
pub(crate) mod schedules;
pub(crate) mod workers;

use super::Ctx;
use super::html::{esc, url_part};
use crate::inspect::WorkerInfo;
use rakit_job_core::QueueStats;
use serde_json::Value;
use std::fmt::Write;

/// One column of a table drawn from JSON: the field, its heading, and whether the value
/// links to the job page.
pub(crate) struct Column {
    pub key: &'static str,
    pub label: &'static str,
    pub links_to_job: bool,
}

const fn col(key: &'static str, label: &'static str) -> Column {
    Column {
        key,
        label,
        links_to_job: false,
    }
}

/// A JSON value as a table cell shows it (the script does the same).
pub(crate) fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => "–".into(),
        Value::Array(items) if items.is_empty() => "–".into(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A table drawn from JSON rows (objects as the API gives them).
pub(crate) struct Table<'a> {
    pub columns: &'a [Column],
    pub rows: &'a [Value],
    /// The API path (below the base) the script redraws it from; `None`: drawn here only.
    pub src: Option<&'a str>,
    /// Where the rows are in the API's answer (empty: the answer itself).
    pub rows_at: &'a str,
    /// What an empty table says.
    pub empty: &'a str,
    /// A last cell per row (buttons), for tables drawn here only.
    pub actions: Option<&'a dyn Fn(&Value) -> String>,
}

impl Table<'_> {
    pub(crate) fn render(&self, ctx: &Ctx) -> String {
        let mut out = String::from("<div class=\"scroll\"><table");
        if let Some(src) = self.src {
            let _ = write!(
                out,
                " data-src=\"{}\" data-rows=\"{}\" data-empty=\"{}\"",
                esc(src),
                esc(self.rows_at),
                esc(self.empty)
            );
        }
        out.push_str("><thead><tr>");
        for column in self.columns {
            let link = if column.links_to_job {
                " data-link=\"jobs/\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<th data-col=\"{}\"{link}>{}</th>",
                column.key, column.label
            );
        }
        let width = self.columns.len() + usize::from(self.actions.is_some());
        if self.actions.is_some() {
            out.push_str("<th></th>");
        }
        out.push_str("</tr></thead><tbody>");
        if self.rows.is_empty() {
            let _ = write!(
                out,
                "<tr><td colspan=\"{width}\" class=\"empty\">{}</td></tr>",
                esc(self.empty)
            );
        }
        for row in self.rows {
            out.push_str("<tr>");
            for column in self.columns {
                let text = cell_text(&row[column.key]);
                if column.links_to_job {
                    let _ = write!(
                        out,
                        "<td><a href=\"{}/jobs/{}\">{}</a></td>",
                        esc(&ctx.base),
                        esc(&url_part(&text)),
                        esc(&text)
                    );
                } else {
                    let _ = write!(out, "<td>{}</td>", esc(&text));
                }
            }
            if let Some(actions) = self.actions {
                let _ = write!(out, "<td class=\"actions\">{}</td>", actions(row));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
        out
    }
}

/// The workers' columns.
const WORKER_COLUMNS: [Column; 9] = [
    col("host", "Host"),
    col("pid", "PID"),
    col("queues", "Queues"),
    col("concurrency", "Slots"),
    col("running", "Running"),
    col("done", "Done"),
    col("failed", "Failed"),
    col("started_at", "Started"),
    col("last_seen", "Last seen"),
];

/// The live workers, redrawn from `/api/workers`.
pub(crate) fn workers_table(ctx: &Ctx, workers: &[WorkerInfo]) -> String {
    let rows: Vec<Value> = workers.iter().map(WorkerInfo::to_json).collect();
    Table {
        columns: &WORKER_COLUMNS,
        rows: &rows,
        src: Some("api/workers"),
        rows_at: "workers",
        empty: "No worker is running.",
        actions: None,
    }
    .render(ctx)
}

/// A figure of a queue's row: the stats field (as the API names it), the state it links
/// to, and its value.
type Figure = (&'static str, &'static str, fn(&QueueStats) -> u64);

const FIGURES: [Figure; 4] = [
    ("ready", "pending", |c| c.ready),
    ("scheduled", "scheduled", |c| c.scheduled),
    ("reserved", "running", |c| c.reserved),
    ("failed", "failed", |c| c.failed),
];

/// The counts per queue and state, each linking to the jobs behind it; inside an element
/// with `data-src="api/stats"` the script refreshes them; `extra` adds a last cell per queue (the queues page's buttons).
pub(crate) fn counts_table(
    ctx: &Ctx,
    stats: &[QueueStats],
    paused: &[String],
    extra: &dyn Fn(&str, bool) -> String,
) -> String {
    let mut queues: Vec<&str> = stats.iter().map(|s| s.queue.as_str()).collect();
    queues.extend(paused.iter().map(String::as_str));
    queues.sort_unstable();
    queues.dedup();
    let base = esc(&ctx.base);
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"counts\"><thead><tr><th>Queue</th>\
         <th>Pending</th><th>Scheduled</th><th>Running</th><th>Failed</th><th></th></tr></thead><tbody>",
    );
    if queues.is_empty() {
        out.push_str("<tr><td colspan=\"6\" class=\"empty\">No jobs yet.</td></tr>");
    }
    for queue in queues {
        let is_paused = paused.iter().any(|p| p == queue);
        let counts = stats.iter().find(|s| s.queue == queue);
        let name = esc(queue);
        let badge = if is_paused {
            " <b class=\"badge paused\">paused</b>"
        } else {
            ""
        };
        let _ = write!(out, "<tr><th scope=\"row\">{name}{badge}</th>");
        for (key, state, count) in FIGURES {
            let n = counts.map_or(0, count);
            let _ = write!(
                out,
                "<td><a href=\"{base}/{page}?state={state}&amp;queue={q}\" data-key=\"queues {name} {key}\" data-none=\"0\">{n}</a></td>",
                page = if state == "failed" { "failed" } else { "jobs" },
                q = url_part(queue),
            );
        }
        let _ = write!(out, "<td>{}</td></tr>", extra(queue, is_paused));
    }
    out.push_str("</tbody><tfoot><tr><th scope=\"row\">All</th>");
    for (key, _, count) in FIGURES {
        let total: u64 = stats.iter().map(count).sum();
        let _ = write!(
            out,
            "<td data-key=\"queues * {key}\" data-none=\"0\">{total}</td>"
        );
    }
    out.push_str("<td></td></tr></tfoot></table></div>");
    out
}
