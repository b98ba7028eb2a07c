//! `GET /queues`: every queue with its counts, paused or not, and pause/resume buttons.

use super::counts_table;
use crate::dashboard::Ctx;
use crate::dashboard::html::{button, csrf_field, esc};
use axum::response::Response;

/// The queues page.
pub(crate) async fn show(ctx: Ctx) -> Response {
    let read = tokio::try_join!(ctx.queue.stats(), ctx.queue.paused());
    let (stats, paused) = match read {
        Ok(both) => both,
        Err(e) => return ctx.failed(e),
    };
    let toggle = |queue: &str, is_paused: bool| {
        let fields = [("queue", queue), ("back", "/queues")];
        if is_paused {
            button(&ctx, "/queues/resume", &fields, "Resume")
        } else {
            button(&ctx, "/queues/pause", &fields, "Pause")
        }
    };
    let mut body = format!(
        "<h1>Queues</h1><p class=\"hint\">A paused queue keeps its jobs and takes new ones; \
         no worker on any host starts one of them until it is resumed.</p>\
         <div data-src=\"api/stats\">{}</div>",
        counts_table(&ctx, &stats, &paused, &toggle)
    );
    if !ctx.read_only {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{}/queues/pause\" class=\"row\">{}\
             <input type=\"hidden\" name=\"back\" value=\"/queues\">\
             <label for=\"pause-queue\">Pause another queue</label>\
             <input id=\"pause-queue\" name=\"queue\" placeholder=\"queue name\" required pattern=\"[A-Za-z0-9_\\-]{{1,64}}\">\
             <button>Pause</button></form>",
            esc(&ctx.base),
            csrf_field(&ctx)
        ));
    }
    ctx.page("Queues", "Queues", &body)
}
