//! `GET /jobs/{id}`: one job in any state: its payload pretty-printed, attempts, last
//! error, due time, lease and worker, with cancel (or retry and forget once it failed).

use super::cell_text;
use crate::dashboard::Ctx;
use crate::dashboard::html::{button, danger_button, esc, url_part};
use crate::inspect::JobInfo;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rakit_job_core::{JobId, State};
use std::fmt::Write;

/// The fields shown, as the API names them, with their labels.
const FIELDS: [(&str, &str); 12] = [
    ("id", "Id"),
    ("queue", "Queue"),
    ("state", "State"),
    ("attempt", "Attempt"),
    ("dispatched_at", "Dispatched"),
    ("due_at", "Due"),
    ("lease_until", "Lease until"),
    ("worker", "Worker"),
    ("cancel_requested", "Cancel requested"),
    ("failed_at", "Failed at"),
    ("error", "Last error"),
    ("then", "Then (chain)"),
];

/// The job page.
pub(crate) async fn show(ctx: Ctx, Path(id): Path<String>) -> Response {
    let id = match JobId::parse(&id) {
        Ok(id) => id,
        Err(e) => return ctx.failed(e.into()),
    };
    let job = match ctx.queue.job(&id).await {
        Ok(Some(job)) => job,
        Ok(None) => return gone(&ctx, &id),
        Err(e) => return ctx.failed(e),
    };
    let json = job.to_json();
    let mut body = format!(
        "<h1>{} <small>job</small></h1><section data-src=\"api/jobs/{}\">\
         <p class=\"gone-note\">This job is no longer stored: it finished, or was forgotten.</p><dl class=\"fields\">",
        esc(&job.name),
        esc(&url_part(id.as_str()))
    );
    for (key, label) in FIELDS {
        let text = esc(&cell_text(&json[key]));
        if key == "error" {
            let _ = write!(
                body,
                "<dt>{label}</dt><dd><pre data-key=\"{key}\">{text}</pre></dd>"
            );
        } else {
            let _ = write!(body, "<dt>{label}</dt><dd data-key=\"{key}\">{text}</dd>");
        }
    }
    let payload = serde_json::to_string_pretty(&job.payload).unwrap_or_default();
    let _ = write!(
        body,
        "</dl></section><h2>Payload</h2><pre class=\"payload\">{}</pre>{}",
        esc(&payload),
        actions(&ctx, &job)
    );
    ctx.page(&job.name, "Jobs", &body)
}

/// Cancel while it waits or runs; retry and forget once it failed or was cancelled.
fn actions(ctx: &Ctx, job: &JobInfo) -> String {
    let id = job.id.as_str();
    let back = format!("/jobs/{id}");
    let fields = [("id", id), ("back", back.as_str())];
    let buttons = match job.state {
        State::Failed | State::Cancelled => {
            button(ctx, "/failed/retry", &fields, "Retry")
                + &danger_button(
                    ctx,
                    "/failed/forget",
                    &[("id", id), ("back", "/failed")],
                    "Forget",
                    "Delete this job for good?",
                )
        }
        _ if job.cancel_requested => String::new(),
        _ => button(
            ctx,
            &format!("/jobs/{id}/cancel"),
            &[("back", back.as_str())],
            "Cancel",
        ),
    };
    if buttons.is_empty() {
        buttons
    } else {
        format!("<div class=\"row\">{buttons}</div>")
    }
}

/// 404: no job has this id (any more).
fn gone(ctx: &Ctx, id: &JobId) -> Response {
    let body = format!(
        "<h1>Job not found</h1><p>No stored job has the id <code>{}</code>. Finished jobs are \
         not kept; failed ones are on the <a href=\"{}/failed\">Failed</a> page until forgotten.</p>",
        esc(id.as_str()),
        esc(&ctx.base)
    );
    (
        StatusCode::NOT_FOUND,
        ctx.page("Job not found", "Jobs", &body),
    )
        .into_response()
}
