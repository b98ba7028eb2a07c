//! `GET /api/...`: the same JSON the CLI's `--json` prints (`job:stats`, `job:jobs`,
//! `job:show`, `job:workers`, `job:batches`, `job:schedule`), for the page script and for tools. Errors
//! are `{"error": "one sentence"}` with a 4xx or 5xx status.

use super::{Shared, status_of};
use crate::error::Error;
use crate::inspect::ListJobs;
use crate::queue::Queue;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rakit_job_core::JobId;
use serde::Deserialize;
use serde_json::{Value, json};

/// A listing's filters as they come in a query string; empty fields mean "any".
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub queue: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub limit: String,
    #[serde(default)]
    pub after: String,
}

impl Filter {
    /// The listing these filters ask for, or why they cannot be read.
    pub fn listing(&self, queue: &Queue) -> Result<ListJobs, Error> {
        let mut listing = queue.jobs();
        if !self.state.is_empty() {
            listing = listing.state(rakit_job_core::State::parse(&self.state)?);
        }
        if !self.queue.is_empty() {
            listing = listing.on_queue(&self.queue);
        }
        if !self.name.is_empty() {
            listing = listing.name(&self.name);
        }
        if !self.limit.is_empty() {
            let limit = self.limit.trim().parse().map_err(|_| {
                Error::Usage(format!(
                    "the limit {:?} is not a number; give a page size from 1 to 1000",
                    self.limit
                ))
            })?;
            listing = listing.limit(limit);
        }
        if !self.after.is_empty() {
            listing = listing.after(&self.after);
        }
        Ok(listing)
    }
}

fn reply(result: Result<Value, Error>) -> Response {
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => json_response(status_of(&e), &json!({ "error": e.to_string() })),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    (status, json, value.to_string()).into_response()
}

/// `GET /api/stats`: what `job:stats --json` prints.
pub(crate) async fn stats(State(dashboard): State<Shared>) -> Response {
    let q = &dashboard.queue;
    let read = tokio::try_join!(q.stats(), q.paused(), q.throughput());
    reply(read.map(|(stats, paused, rates)| {
        crate::inspect::stats_to_json(&dashboard.store, &stats, &paused, &rates)
    }))
}

/// `GET /api/jobs?state=&queue=&name=&limit=&after=`.
pub(crate) async fn jobs(
    State(dashboard): State<Shared>,
    Query(filter): Query<Filter>,
) -> Response {
    let page = match filter.listing(&dashboard.queue) {
        Ok(listing) => listing.await,
        Err(e) => Err(e),
    };
    reply(page.map(|p| p.to_json()))
}

/// `GET /api/jobs/{id}`: 404 when no job has the id (finished jobs are not kept).
pub(crate) async fn job(State(dashboard): State<Shared>, Path(id): Path<String>) -> Response {
    let found = match JobId::parse(&id) {
        Ok(id) => dashboard.queue.job(&id).await,
        Err(e) => Err(e.into()),
    };
    match found {
        Ok(Some(job)) => json_response(StatusCode::OK, &job.to_json()),
        Ok(None) => json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": "no stored job has this id; finished jobs are not kept" }),
        ),
        Err(e) => reply(Err(e)),
    }
}

/// `GET /api/workers`: what `job:workers --json` prints.
pub(crate) async fn workers(State(dashboard): State<Shared>) -> Response {
    let workers = dashboard.queue.workers().await;
    reply(workers.map(|w| json!({ "workers": w.iter().map(|w| w.to_json()).collect::<Vec<_>>() })))
}

/// `GET /api/batches`: what `job:batches --json` prints.
pub(crate) async fn batches(State(dashboard): State<Shared>) -> Response {
    let batches = dashboard.queue.batches().await;
    reply(batches.map(|b| json!({ "batches": b.iter().map(|b| b.to_json()).collect::<Vec<_>>() })))
}

/// `GET /api/schedules`: what `job:schedule --json` prints.
pub(crate) async fn schedules() -> Response {
    reply(crate::schedules().map(|all| crate::inspect::schedules_to_json(&all)))
}
