//! `GET /chart.svg`: the last hour's throughput as bars, one per minute, done below and
//! failed stacked on top, summed over queues. Drawn here, so it needs no script library
//! and works offline; the page script reloads it every few seconds.

use super::Shared;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rakit_job_core::{MinuteCount, now_ms};
use std::fmt::Write;

const MINUTES: usize = 60;
const WIDTH: usize = 600;
const HEIGHT: usize = 160;
/// Room for the labels under the bars.
const AXIS: usize = 18;

/// The chart.
pub(crate) async fn show(State(dashboard): State<Shared>) -> Response {
    match dashboard.queue.throughput().await {
        Ok(rates) => {
            let svg = draw(&rates, now_ms());
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Per minute of the hour ending at `now`: (done, failed), oldest first.
fn buckets(rates: &[MinuteCount], now: i64) -> [(u64, u64); MINUTES] {
    let current = now.div_euclid(60_000);
    let mut bars = [(0, 0); MINUTES];
    for rate in rates {
        let ago = current - rate.minute.div_euclid(60_000);
        if let Ok(ago) = usize::try_from(ago)
            && ago < MINUTES
        {
            let bar = &mut bars[MINUTES - 1 - ago];
            bar.0 += rate.done;
            bar.1 += rate.failed;
        }
    }
    bars
}

/// The SVG text: only numbers and fixed words, so there is nothing to escape.
fn draw(rates: &[MinuteCount], now: i64) -> String {
    let bars = buckets(rates, now);
    let top = bars.iter().map(|(d, f)| d + f).max().unwrap_or(0).max(1);
    let plot = (HEIGHT - AXIS) as f64;
    let step = WIDTH / MINUTES;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"11\" fill=\"#555\">\
         <line x1=\"0\" y1=\"{plot}\" x2=\"{WIDTH}\" y2=\"{plot}\" stroke=\"#bbb\"/>"
    );
    for (i, (done, failed)) in bars.iter().enumerate() {
        let x = i * step;
        let done_h = *done as f64 / top as f64 * plot;
        let failed_h = *failed as f64 / top as f64 * plot;
        let ago = MINUTES - 1 - i;
        let _ = write!(
            svg,
            "<g><title>{ago} min ago: {done} done, {failed} failed</title>\
             <rect x=\"{x}\" y=\"{:.1}\" width=\"{}\" height=\"{done_h:.1}\" fill=\"#2e8540\"/>\
             <rect x=\"{x}\" y=\"{:.1}\" width=\"{}\" height=\"{failed_h:.1}\" fill=\"#c0392b\"/></g>",
            plot - done_h,
            step - 1,
            plot - done_h - failed_h,
            step - 1,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"2\" y=\"11\">{top} per minute</text>\
         <text x=\"0\" y=\"{HEIGHT}\" dy=\"-4\">60 min ago</text>\
         <text x=\"{WIDTH}\" y=\"{HEIGHT}\" dy=\"-4\" text-anchor=\"end\">now</text></svg>"
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(queue: &str, ago: i64, done: u64, failed: u64, now: i64) -> MinuteCount {
        MinuteCount {
            queue: queue.into(),
            minute: (now / 60_000 - ago) * 60_000,
            done,
            failed,
        }
    }

    #[test]
    fn queues_add_up_per_minute_and_older_minutes_are_left_out() {
        let now = 1_700_000_000_000;
        let rates = [
            minute("a", 0, 3, 1, now),
            minute("b", 0, 2, 0, now),
            minute("a", 59, 1, 0, now),
            minute("a", 60, 9, 9, now),
        ];
        let bars = buckets(&rates, now);
        assert_eq!(bars[MINUTES - 1], (5, 1));
        assert_eq!(bars[0], (1, 0));
        assert_eq!(bars.iter().map(|b| b.0 + b.1).sum::<u64>(), 7);
        let svg = draw(&rates, now);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("6 per minute"));
        assert!(svg.contains("0 min ago: 5 done, 1 failed"));
    }
}
