//! `GET /batches`: every batch with its progress, newest first, redrawn from
//! `/api/batches`; and, unless read-only, a form that cancels one.

use super::{Column, Table, col};
use crate::dashboard::Ctx;
use crate::dashboard::html::{csrf_field, esc};
use axum::response::Response;
use serde_json::Value;

const COLUMNS: [Column; 9] = [
    col("name", "Batch"),
    col("id", "Id"),
    col("total", "Jobs"),
    col("done", "Done"),
    col("failed", "Failed"),
    col("pending", "Pending"),
    col("cancelled", "Cancelled"),
    col("created_at", "Dispatched"),
    col("finished_at", "Finished"),
];

/// The batches page.
pub(crate) async fn show(ctx: Ctx) -> Response {
    let batches = match ctx.queue.batches().await {
        Ok(batches) => batches,
        Err(e) => return ctx.failed(e),
    };
    let rows: Vec<Value> = batches.iter().map(|b| b.to_json()).collect();
    let table = Table {
        columns: &COLUMNS,
        rows: &rows,
        src: Some("api/batches"),
        rows_at: "batches",
        empty: "No batches.",
        actions: None,
    };
    let body = format!(
        "<h1>Batches</h1><p class=\"hint\">Jobs dispatched together with <code>Batch</code>: \
         a job counts once, when it ends for good; <code>then</code> runs once when all \
         succeeded, <code>catch</code> once at the first failure, <code>finally</code> once \
         when all ended.</p>{}{}",
        table.render(&ctx),
        cancel_form(&ctx)
    );
    ctx.page("Batches", "Batches", &body)
}

/// Cancels a batch by id: its waiting and running jobs, and every callback still to come.
fn cancel_form(ctx: &Ctx) -> String {
    if ctx.read_only {
        return String::new();
    }
    format!(
        "<form method=\"post\" action=\"{}/batches/cancel\" class=\"row\">{}\
         <input type=\"hidden\" name=\"back\" value=\"/batches\">\
         <label for=\"batch\">Cancel the batch</label>\
         <input id=\"batch\" name=\"id\" required placeholder=\"batch id\" size=\"38\"> \
         <button class=\"danger\" data-confirm=\"Cancel this batch and its waiting jobs?\">Cancel batch</button></form>",
        esc(&ctx.base),
        csrf_field(ctx)
    )
}
