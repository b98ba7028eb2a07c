//! `GET /workers`: the live worker processes, from their heartbeats.

use super::workers_table;
use crate::dashboard::Ctx;
use axum::response::Response;

/// The workers page.
pub(crate) async fn show(ctx: Ctx) -> Response {
    let workers = match ctx.queue.workers().await {
        Ok(workers) => workers,
        Err(e) => return ctx.failed(e),
    };
    let body = format!(
        "<h1>Workers</h1><p class=\"hint\">Worker processes announce themselves every third of \
         a lease; one that stops announcing drops off after two leases.</p>{}",
        workers_table(&ctx, &workers)
    );
    ctx.page("Workers", "Workers", &body)
}
