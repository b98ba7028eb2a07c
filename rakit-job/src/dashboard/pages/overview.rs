//! `GET /`: the counts per queue and state, the last hour's throughput and the live workers.

use super::{counts_table, workers_table};
use crate::dashboard::Ctx;
use axum::response::Response;

/// The overview page.
pub(crate) async fn show(ctx: Ctx) -> Response {
    let q = &ctx.queue;
    let read = tokio::try_join!(q.stats(), q.paused(), q.workers(), q.throughput());
    let (stats, paused, workers, rates) = match read {
        Ok(all) => all,
        Err(e) => return ctx.failed(e),
    };
    let done: u64 = rates.iter().map(|m| m.done).sum();
    let failed: u64 = rates.iter().map(|m| m.failed).sum();
    let body = format!(
        "<h1>Overview</h1><div data-src=\"api/stats\">\
         <section><h2>Jobs by queue</h2>{counts}</section>\
         <section><h2>Last hour</h2>\
         <p class=\"figures\"><span class=\"done\"><span data-key=\"throughput * done\">{done}</span> done</span> · \
         <span class=\"failed\"><span data-key=\"throughput * failed\">{failed}</span> failed</span></p>\
         <img class=\"chart\" src=\"{base}/chart.svg\" data-refresh alt=\"Jobs done and failed per minute over the last hour\"></section></div>\
         <section><h2>Live workers</h2>{workers}</section>",
        counts = counts_table(&ctx, &stats, &paused, &|_, _| String::new()),
        base = crate::dashboard::html::esc(&ctx.base),
        workers = workers_table(&ctx, &workers),
    );
    ctx.page("Overview", "Overview", &body)
}
