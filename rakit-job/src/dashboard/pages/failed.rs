//! `GET /failed`: the failed store (failed and cancelled jobs) with retry and forget per
//! job, retry all, flush (forget all) and prune.

use super::jobs::{columns, filters, pager, tabs};
use super::{Table, cell_text};
use crate::dashboard::Ctx;
use crate::dashboard::api::Filter;
use crate::dashboard::html::{button, csrf_field, danger_button, esc};
use axum::extract::Query;
use axum::response::Response;
use rakit_job_core::State;

const TABS: [(&str, &str); 2] = [("failed", "Failed"), ("cancelled", "Cancelled")];

/// The failed page.
pub(crate) async fn show(ctx: Ctx, Query(mut filter): Query<Filter>) -> Response {
    if filter.state.is_empty() {
        filter.state = "failed".into();
    }
    let state = match State::parse(&filter.state) {
        Ok(state) if state.is_failed() => state,
        _ => filter_state_refused(&mut filter),
    };
    let page = match filter.listing(&ctx.queue) {
        Ok(listing) => listing.await,
        Err(e) => Err(e),
    };
    let page = match page {
        Ok(page) => page,
        Err(e) => return ctx.failed(e),
    };
    let mut body = String::from("<h1>Failed jobs</h1>");
    body.push_str(&tabs(&ctx, &filter, "/failed", &TABS));
    body.push_str(&filters(&ctx, &filter, "/failed"));
    body.push_str(&bulk(&ctx, &filter));
    let rows: Vec<_> = page.jobs.iter().map(|j| j.to_json()).collect();
    let empty = if state == State::Failed {
        "No failed job."
    } else {
        "No cancelled job."
    };
    let buttons = |row: &serde_json::Value| {
        let id = cell_text(&row["id"]);
        let fields = [("id", id.as_str()), ("back", "/failed")];
        button(&ctx, "/failed/retry", &fields, "Retry")
            + &button(&ctx, "/failed/forget", &fields, "Forget")
    };
    let table = Table {
        columns: &columns(Some(state)),
        rows: &rows,
        src: None,
        rows_at: "",
        empty,
        actions: (!ctx.read_only).then_some(&buttons as &dyn Fn(&serde_json::Value) -> String),
    };
    body.push_str(&table.render(&ctx));
    body.push_str(&pager(&ctx, &filter, "/failed", page.cursor.as_deref()));
    body.push_str(&prune(&ctx));
    ctx.page("Failed", "Failed", &body)
}

/// A state other than failed or cancelled shows the failed ones.
fn filter_state_refused(filter: &mut Filter) -> State {
    filter.state = "failed".into();
    filter.after.clear();
    State::Failed
}

/// Retry all (of the queue when filtered) and flush.
fn bulk(ctx: &Ctx, filter: &Filter) -> String {
    if ctx.read_only {
        return String::new();
    }
    let back = "/failed";
    let (field, value, whose) = if filter.queue.is_empty() {
        ("all", "yes", "all".to_string())
    } else {
        (
            "queue",
            filter.queue.as_str(),
            format!("all of {}", filter.queue),
        )
    };
    format!(
        "<div class=\"row\">{}{}</div>",
        button(
            ctx,
            "/failed/retry",
            &[(field, value), ("back", back)],
            &format!("Retry {whose}")
        ),
        danger_button(
            ctx,
            "/failed/forget",
            &[(field, value), ("back", back)],
            &format!("Forget {whose}"),
            "Delete these failed jobs for good?"
        ),
    )
}

/// The prune form: forget failed jobs older than some days.
fn prune(ctx: &Ctx) -> String {
    if ctx.read_only {
        return String::new();
    }
    format!(
        "<form method=\"post\" action=\"{}/failed/prune\" class=\"row\">{}\
         <input type=\"hidden\" name=\"back\" value=\"/failed\">\
         <label for=\"days\">Delete failed jobs older than</label>\
         <input id=\"days\" name=\"days\" type=\"number\" min=\"0\" value=\"7\" required> days \
         <button class=\"danger\" data-confirm=\"Delete the older failed jobs for good?\">Prune</button></form>",
        esc(&ctx.base),
        csrf_field(ctx)
    )
}
