//! The actions: every one a POST that passes the read-only, origin and CSRF checks, does
//! one [`Queue`](crate::Queue) call, and redirects back with a note saying what it did.

use super::auth::{Refused, check_post};
use super::{Ctx, Shared};
use crate::batch::BatchId;
use crate::error::Error;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use rakit_job_core::{CancelOutcome, FailedSelect, JobId};
use serde::Deserialize;
use std::time::Duration;

/// Every action form's fields; each action reads the ones it needs.
#[derive(Deserialize)]
pub(crate) struct Action {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    all: String,
    #[serde(default)]
    days: String,
    /// The page to go back to, below the base.
    #[serde(default)]
    back: String,
}

/// Refuses the action unless actions are allowed and the POST is genuine.
fn guard(dashboard: &Shared, headers: &HeaderMap, form: &Action) -> Result<(), Refused> {
    if dashboard.read_only {
        return Err(Refused(
            "this dashboard is read-only, so it takes no actions; use the CLI or a dashboard started without --read-only",
        ));
    }
    check_post(headers, &form.csrf, &dashboard.secrets.csrf)
}

/// Back to `form.back` (or `default`) with a note: `done` names what happened.
fn back(ctx: &Ctx, form: &Action, default: &str, note: &str) -> Response {
    let safe = form.back.starts_with('/')
        && !form.back.starts_with("//")
        && form
            .back
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
    let path = if safe { form.back.as_str() } else { default };
    Redirect::to(&format!("{}{path}?{note}", ctx.base)).into_response()
}

/// Runs `act` after the guard; its error becomes the error page.
async fn act<F>(ctx: Ctx, dashboard: Shared, headers: HeaderMap, form: Action, act: F) -> Response
where
    F: AsyncFnOnce(&Ctx, &Action) -> Result<Response, Error>,
{
    if let Err(refused) = guard(&dashboard, &headers, &form) {
        return refused.into_response();
    }
    match act(&ctx, &form).await {
        Ok(response) => response,
        Err(e) => ctx.failed(e),
    }
}

/// `POST /queues/pause` with `queue`.
pub(crate) async fn pause(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        ctx.queue.pause(&form.queue).await?;
        let note = format!("done=paused&q={}", form.queue);
        Ok(back(ctx, form, "/queues", &note))
    })
    .await
}

/// `POST /queues/resume` with `queue`.
pub(crate) async fn resume(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        ctx.queue.resume(&form.queue).await?;
        let note = format!("done=resumed&q={}", form.queue);
        Ok(back(ctx, form, "/queues", &note))
    })
    .await
}

/// `POST /jobs/{id}/cancel`.
pub(crate) async fn cancel(
    ctx: Ctx,
    State(d): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async move |ctx, form| {
        let id = JobId::parse(&id)?;
        let done = match ctx.queue.cancel(&id).await? {
            CancelOutcome::Removed => "removed",
            CancelOutcome::Requested => "requested",
            CancelOutcome::NotFound => "gone",
        };
        Ok(back(
            ctx,
            form,
            &format!("/jobs/{id}"),
            &format!("done={done}"),
        ))
    })
    .await
}

/// `POST /batches/cancel` with `id`.
pub(crate) async fn cancel_batch(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        let id = BatchId::parse(&form.id)?;
        let done = if ctx.queue.cancel_batch(&id).await? {
            "batch-cancelled"
        } else {
            "no-batch"
        };
        Ok(back(ctx, form, "/batches", &format!("done={done}")))
    })
    .await
}

/// Which failed jobs a form names: one `id`, one `queue`, or `all=yes`.
fn select(form: &Action) -> Result<FailedSelect, Error> {
    if !form.id.is_empty() {
        Ok(FailedSelect::One(JobId::parse(&form.id)?))
    } else if !form.queue.is_empty() {
        Ok(FailedSelect::Queue(form.queue.clone()))
    } else if form.all == "yes" {
        Ok(FailedSelect::All)
    } else {
        Err(Error::Usage(
            "say which failed jobs: one job id, a queue, or all".into(),
        ))
    }
}

/// `POST /failed/retry` with `id`, `queue` or `all=yes`.
pub(crate) async fn retry(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        let n = ctx.queue.retry_failed(&select(form)?).await?;
        Ok(back(ctx, form, "/failed", &format!("done=retried&n={n}")))
    })
    .await
}

/// `POST /failed/forget` with `id`, `queue` or `all=yes` (flush).
pub(crate) async fn forget(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        let n = ctx.queue.forget_failed(&select(form)?).await?;
        Ok(back(ctx, form, "/failed", &format!("done=forgotten&n={n}")))
    })
    .await
}

/// `POST /failed/prune` with `days`.
pub(crate) async fn prune(
    ctx: Ctx,
    State(d): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<Action>,
) -> Response {
    act(ctx, d, headers, form, async |ctx, form| {
        let days: u64 = form.days.trim().parse().map_err(|_| {
            Error::Usage(format!(
                "{:?} is not a number of days; give a whole number such as 7",
                form.days
            ))
        })?;
        let age = Duration::from_secs(days.saturating_mul(86_400));
        let n = ctx.queue.prune_failed(age).await?;
        Ok(back(
            ctx,
            form,
            "/failed",
            &format!("done=pruned&n={n}&d={days}"),
        ))
    })
    .await
}

/// The sentence for the note an action's redirect carries, from a fixed list: the query
/// chooses which sentence, never its words.
pub(crate) fn note_of(query: &str) -> Option<String> {
    let field = |name: &str| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    };
    let n: u64 = field("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    let queue = field("q").filter(|q| rakit_job_core::validate_queue(q).is_ok());
    let jobs = if n == 1 { "job" } else { "jobs" };
    Some(match field("done")? {
        "paused" => format!(
            "Queue {} is paused: running jobs finish, no new one starts.",
            queue?
        ),
        "resumed" => format!("Queue {} runs again.", queue?),
        "removed" => "The job was cancelled; it is kept with the failed jobs.".into(),
        "requested" => {
            "Cancel requested: its worker stops the job at its next lease renewal.".into()
        }
        "gone" => "No pending, scheduled or running job has that id any more.".into(),
        "batch-cancelled" => {
            "The batch was cancelled: its waiting jobs are kept as cancelled, no callback runs."
                .into()
        }
        "no-batch" => "No batch has that id.".into(),
        "retried" => format!("{n} {jobs} put back on their queues."),
        "forgotten" => format!("{n} failed {jobs} deleted."),
        "pruned" => {
            let days: u64 = field("d").and_then(|d| d.parse().ok()).unwrap_or(0);
            format!("{n} failed {jobs} older than {days} days deleted.")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::note_of;

    #[test]
    fn notes_come_from_a_fixed_list() {
        assert_eq!(
            note_of("done=retried&n=3").unwrap(),
            "3 jobs put back on their queues."
        );
        assert!(note_of("done=paused&q=<script>").is_none());
        assert!(note_of("done=<script>").is_none());
        assert!(note_of("").is_none());
    }
}
