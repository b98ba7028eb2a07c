//! `GET /jobs`: jobs by state, filtered by queue and name, a page at a time with the
//! listing's cursor (never an offset).

use super::{Column, Table, col};
use crate::dashboard::Ctx;
use crate::dashboard::api::Filter;
use crate::dashboard::html::{esc, url_part};
use axum::extract::Query;
use axum::response::Response;
use rakit_job_core::State;
use serde_json::Value;
use std::fmt::Write;

/// The tabs: the empty state is every state.
const TABS: [(&str, &str); 6] = [
    ("", "All"),
    ("running", "Running"),
    ("pending", "Pending"),
    ("scheduled", "Scheduled"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
];

const ID: Column = Column {
    key: "id",
    label: "Job",
    links_to_job: true,
};

/// The columns that matter for jobs in `state` (every state: `None`).
pub(crate) fn columns(state: Option<State>) -> Vec<Column> {
    let mut columns = vec![ID, col("name", "Name"), col("queue", "Queue")];
    match state {
        None => columns.extend([col("state", "State"), col("attempt", "Attempt")]),
        Some(State::Running) => columns.extend([
            col("attempt", "Attempt"),
            col("worker", "Worker"),
            col("lease_until", "Lease until"),
        ]),
        Some(State::Pending | State::Scheduled) => columns.extend([
            col("attempt", "Attempt"),
            col("due_at", "Due"),
            col("error", "Last error"),
        ]),
        Some(State::Failed | State::Cancelled) => columns.extend([
            col("attempt", "Attempts"),
            col("failed_at", "Failed at"),
            col("error", "Error"),
        ]),
    }
    columns
}

/// The jobs page.
pub(crate) async fn list(ctx: Ctx, Query(filter): Query<Filter>) -> Response {
    let listing = match filter.listing(&ctx.queue) {
        Ok(listing) => listing,
        Err(e) => return ctx.failed(e),
    };
    let state = State::parse(&filter.state).ok();
    let page = match listing.await {
        Ok(page) => page,
        Err(e) => return ctx.failed(e),
    };
    let rows: Vec<Value> = page.jobs.iter().map(|j| j.to_json()).collect();
    let mut body = String::from("<h1>Jobs</h1>");
    body.push_str(&tabs(&ctx, &filter, "/jobs", &TABS));
    body.push_str(&filters(&ctx, &filter, "/jobs"));
    let src = format!("api/jobs?{}", query(&filter, true));
    let table = Table {
        columns: &columns(state),
        rows: &rows,
        src: Some(&src),
        rows_at: "jobs",
        empty: "No job matches.",
        actions: None,
    };
    body.push_str(&table.render(&ctx));
    body.push_str(&pager(&ctx, &filter, "/jobs", page.cursor.as_deref()));
    ctx.page("Jobs", "Jobs", &body)
}

/// The filters as a query string; `with_after` keeps the cursor.
pub(crate) fn query(filter: &Filter, with_after: bool) -> String {
    let mut out = String::new();
    let fields = [
        ("state", &filter.state),
        ("queue", &filter.queue),
        ("name", &filter.name),
        ("limit", &filter.limit),
    ];
    for (key, value) in fields {
        if !value.is_empty() {
            let _ = write!(out, "{key}={}&", url_part(value));
        }
    }
    if with_after && !filter.after.is_empty() {
        let _ = write!(out, "after={}&", url_part(&filter.after));
    }
    out.trim_end_matches('&').to_string()
}

/// Links to the same listing in each state of `tabs`.
pub(crate) fn tabs(ctx: &Ctx, filter: &Filter, page: &str, tabs: &[(&str, &str)]) -> String {
    let mut out = String::from("<nav class=\"tabs\">");
    for (state, label) in tabs {
        let tab = Filter {
            state: state.to_string(),
            after: String::new(),
            ..filter.clone()
        };
        let current = if filter.state.trim().eq_ignore_ascii_case(state) {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<a href=\"{}{page}?{}\"{current}>{label}</a>",
            esc(&ctx.base),
            esc(&query(&tab, false))
        );
    }
    out.push_str("</nav>");
    out
}

/// The queue and name filters, as a GET form keeping the state.
pub(crate) fn filters(ctx: &Ctx, filter: &Filter, page: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{}{page}\" class=\"row filters\">\
         <input type=\"hidden\" name=\"state\" value=\"{}\">\
         <label>Queue <input name=\"queue\" value=\"{}\" placeholder=\"any\"></label>\
         <label>Name <input name=\"name\" value=\"{}\" placeholder=\"any\"></label>\
         <button>Filter</button></form>",
        esc(&ctx.base),
        esc(&filter.state),
        esc(&filter.queue),
        esc(&filter.name),
    )
}

/// "First page" when not on it, "Next page" when there is one.
pub(crate) fn pager(ctx: &Ctx, filter: &Filter, page: &str, cursor: Option<&str>) -> String {
    let base = esc(&ctx.base);
    let mut out = String::from("<nav class=\"pager\">");
    if !filter.after.is_empty() {
        let _ = write!(
            out,
            "<a href=\"{base}{page}?{}\">First page</a>",
            esc(&query(filter, false))
        );
    }
    if let Some(cursor) = cursor {
        let next = Filter {
            after: cursor.to_string(),
            ..filter.clone()
        };
        let _ = write!(
            out,
            "<a href=\"{base}{page}?{}\" rel=\"next\">Next page</a>",
            esc(&query(&next, true))
        );
    }
    out.push_str("</nav>");
    out
}
