//! SVG charts written by hand (no plotting dependency): burn-down throughput per store and
//! system as bars, and its scaling over worker concurrency as lines. Both use a log scale,
//! since the stores differ by orders of magnitude.

use crate::report::{Figures, RAKIT, Results, rate};
use std::fmt::Write as _;

const COLORS: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];
const GREY: &str = "#9ca3af";

/// A log-scale y axis from 10^lo to 10^hi mapped onto [top, bottom].
struct LogAxis {
    lo: f64,
    hi: f64,
    top: f64,
    bottom: f64,
}

impl LogAxis {
    fn fit(values: impl Iterator<Item = f64>, top: f64, bottom: f64) -> LogAxis {
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for v in values.filter(|v| *v > 0.0) {
            lo = lo.min(v.log10().floor());
            hi = hi.max(v.log10().ceil());
        }
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        if lo == hi {
            hi += 1.0;
        }
        LogAxis {
            lo,
            hi,
            top,
            bottom,
        }
    }

    fn y(&self, v: f64) -> f64 {
        let t = (v.max(10f64.powf(self.lo)).log10() - self.lo) / (self.hi - self.lo);
        self.bottom - t * (self.bottom - self.top)
    }

    fn grid(&self, svg: &mut String, left: f64, right: f64) {
        for p in self.lo as i32..=self.hi as i32 {
            let v = 10f64.powi(p);
            let y = self.y(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#e5e7eb"/>"##
            );
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
                left - 6.0,
                y + 4.0,
                if v >= 100.0 {
                    rate(Some(v))
                } else {
                    format!("{v}")
                }
            );
        }
    }
}

fn open(svg: &mut String, w: f64, h: f64, title: &str) {
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"##
    );
    let _ = writeln!(svg, r##"<rect width="{w}" height="{h}" fill="white"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="{:.0}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"##,
        w / 2.0,
        escape(title)
    );
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Bars of burn-down jobs/s at concurrency `c`, grouped by store, one bar per system, plus a
/// grey bar for the store's own limit where it was measured at that concurrency.
pub fn burn_bars(r: &Results, c: u64) -> String {
    let rows: Vec<Figures> = r.medians();
    let mut stores: Vec<String> = Vec::new();
    for f in &rows {
        if !stores.contains(&f.store) {
            stores.push(f.store.clone());
        }
    }
    let mut systems: Vec<String> = vec![RAKIT.to_string()];
    for f in &rows {
        if !systems.contains(&f.system) {
            systems.push(f.system.clone());
        }
    }
    let bound = |store: &str| {
        r.bounds
            .iter()
            .find(|b| b.store == store && b.concurrency == c && !b.what.starts_with("dispatch"))
            .map(|b| b.jobs_per_s)
    };
    let slots = systems.len() + 1;
    let (left, top, bar, gap) = (70.0, 50.0, 18.0, 26.0);
    let group = bar * slots as f64 + gap;
    let w = (left + group * stores.len().max(1) as f64 + 20.0).max(760.0);
    let h = 360.0;
    let bottom = h - 70.0;
    let values = rows
        .iter()
        .filter_map(|f| f.burn.get(&c).copied())
        .chain(stores.iter().filter_map(|s| bound(s)));
    let axis = LogAxis::fit(values, top, bottom);
    let mut svg = String::new();
    open(
        &mut svg,
        w,
        h,
        &format!(
            "Burn-down of {} no-op jobs by one worker at concurrency {c} (jobs/s, log scale)",
            r.jobs
        ),
    );
    axis.grid(&mut svg, left, w - 10.0);
    for (g, store) in stores.iter().enumerate() {
        let x0 = left + gap / 2.0 + g as f64 * group;
        let mut bars: Vec<(String, Option<f64>, &str)> = systems
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = rows
                    .iter()
                    .find(|f| &f.store == store && &f.system == s)
                    .and_then(|f| f.burn.get(&c).copied());
                (s.clone(), v, COLORS[i % COLORS.len()])
            })
            .collect();
        bars.push(("store limit".into(), bound(store), GREY));
        for (i, (name, v, color)) in bars.iter().enumerate() {
            let Some(v) = v else { continue };
            let x = x0 + i as f64 * bar;
            let y = axis.y(*v);
            let _ = writeln!(
                svg,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} on {store}: {} jobs/s</title></rect>"##,
                bar - 2.0,
                (bottom - y).max(0.5),
                escape(name),
                rate(Some(*v))
            );
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="start" transform="rotate(-90 {:.1} {:.1})">{}</text>"##,
                x + bar / 2.0 + 3.0,
                y - 3.0,
                x + bar / 2.0 + 3.0,
                y - 3.0,
                rate(Some(*v))
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{store}</text>"##,
            x0 + bar * slots as f64 / 2.0,
            bottom + 16.0
        );
    }
    let mut lx = left;
    let legend: Vec<(String, &str)> = systems
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), COLORS[i % COLORS.len()]))
        .chain([("store limit (raw ops)".to_string(), GREY)])
        .collect();
    for (name, color) in legend {
        let _ = writeln!(
            svg,
            r##"<rect x="{lx}" y="{:.0}" width="12" height="12" fill="{color}"/>"##,
            h - 30.0
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.0}" y="{:.0}" font-size="12">{}</text>"##,
            lx + 16.0,
            h - 20.0,
            escape(&name)
        );
        lx += 30.0 + 7.0 * name.len() as f64;
    }
    svg.push_str("</svg>\n");
    svg
}

/// Lines of burn-down jobs/s over worker concurrency, one per store and system
/// (solid for rakit-job, dashed for peers).
pub fn scaling_lines(r: &Results) -> String {
    let rows: Vec<Figures> = r.medians();
    let conc = &r.concurrency;
    let (left, top, right_pad) = (70.0, 50.0, 220.0);
    let w = 640.0 + right_pad;
    let h = 380.0;
    let bottom = h - 50.0;
    let axis = LogAxis::fit(
        rows.iter().flat_map(|f| f.burn.values().copied()),
        top,
        bottom,
    );
    let mut svg = String::new();
    open(
        &mut svg,
        w,
        h,
        &format!(
            "Burn-down jobs/s by worker concurrency ({} jobs, log scale)",
            r.jobs
        ),
    );
    let plot_right = w - right_pad;
    axis.grid(&mut svg, left, plot_right);
    let x = |i: usize| {
        left + 30.0 + i as f64 * (plot_right - left - 60.0) / (conc.len().max(2) - 1) as f64
    };
    let ticks: Vec<(f64, String)> = conc
        .iter()
        .enumerate()
        .map(|(i, c)| (x(i), c.to_string()))
        .collect();
    x_axis(
        &mut svg,
        &ticks,
        "worker concurrency",
        (left, plot_right, bottom),
    );
    let mut stores: Vec<String> = Vec::new();
    for f in &rows {
        if !stores.contains(&f.store) {
            stores.push(f.store.clone());
        }
    }
    let mut systems: Vec<&str> = vec![RAKIT];
    for f in &rows {
        if !systems.contains(&f.system.as_str()) {
            systems.push(&f.system);
        }
    }
    let mut legend_y = top;
    for f in rows.iter().filter(|f| f.burn.len() > 1) {
        let color = COLORS[stores.iter().position(|s| *s == f.store).unwrap_or(0) % COLORS.len()];
        let dash = match systems.iter().position(|s| *s == f.system).unwrap_or(0) {
            0 => "",
            1 => r#" stroke-dasharray="7 4""#,
            _ => r#" stroke-dasharray="2 3""#,
        };
        let points: Vec<String> = conc
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                f.burn
                    .get(c)
                    .map(|v| format!("{:.1},{:.1}", x(i), axis.y(*v)))
            })
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"##,
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                svg,
                r##"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"##
            );
        }
        let label = format!("{} · {}", f.store, f.system);
        legend_entry(&mut svg, (plot_right, legend_y), color, dash, &label);
        legend_y += 18.0;
    }
    svg.push_str("</svg>\n");
    svg
}

/// Lines of jobs/s by number of worker hosts, one per store (linear scale), each with a
/// dashed line of perfect scaling from its one-host figure.
pub fn hosts_lines(series: &[(String, Vec<(u64, f64)>)], title: &str) -> String {
    let (left, top, right_pad) = (80.0, 50.0, 200.0);
    let (w, h) = (640.0 + right_pad, 380.0);
    let (bottom, plot_right) = (h - 50.0, w - right_pad);
    let most_hosts = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(h, _)| *h))
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let ideal = |points: &[(u64, f64)]| points.iter().find(|(h, _)| *h == 1).map(|(_, v)| *v);
    let top_value = series
        .iter()
        .flat_map(|(_, p)| {
            let best = p.iter().map(|(_, v)| *v).fold(0.0, f64::max);
            [best, ideal(p).unwrap_or(0.0) * most_hosts]
        })
        .fold(1.0, f64::max);
    let step = nice_step(top_value / 5.0);
    let y_max = (top_value / step).ceil() * step;
    let x =
        |hosts: f64| left + 20.0 + (hosts - 1.0) / (most_hosts - 1.0) * (plot_right - left - 40.0);
    let y = |v: f64| bottom - v / y_max * (bottom - top);
    let mut svg = String::new();
    open(&mut svg, w, h, title);
    let mut tick = 0.0;
    while tick <= y_max + step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{:.1}" x2="{plot_right}" y2="{:.1}" stroke="#e5e7eb"/>"##,
            y(tick),
            y(tick)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"##,
            left - 6.0,
            y(tick) + 4.0,
            if tick >= 100.0 {
                rate(Some(tick))
            } else {
                format!("{tick}")
            }
        );
        tick += step;
    }
    let mut hosts: Vec<u64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(h, _)| *h))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    let ticks: Vec<(f64, String)> = hosts
        .iter()
        .map(|n| (x(*n as f64), n.to_string()))
        .collect();
    x_axis(&mut svg, &ticks, "worker hosts", (left, plot_right, bottom));
    let mut legend_y = top;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<String> = points
            .iter()
            .map(|(h, v)| format!("{:.1},{:.1}", x(*h as f64), y(*v)))
            .collect();
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
            line.join(" ")
        );
        for (h, v) in points {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"##,
                x(*h as f64),
                y(*v)
            );
        }
        if let Some(one) = ideal(points) {
            let _ = writeln!(
                svg,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-dasharray="4 4" opacity="0.6"/>"##,
                x(1.0),
                y(one),
                x(most_hosts),
                y(one * most_hosts)
            );
        }
        legend_entry(&mut svg, (plot_right, legend_y), color, "", name);
        legend_y += 18.0;
    }
    let _ = writeln!(
        svg,
        r##"<text x="{:.0}" y="{:.0}" font-size="11" fill="#6b7280">dashed: perfect scaling</text>"##,
        plot_right + 15.0,
        legend_y + 8.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// The labels under the plot at their `x` and the axis title centred below them.
fn x_axis(
    svg: &mut String,
    ticks: &[(f64, String)],
    title: &str,
    (left, right, bottom): (f64, f64, f64),
) {
    let label = |svg: &mut String, x: f64, y: f64, text: &str| {
        let _ = writeln!(
            svg,
            r##"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" font-size="12">{}</text>"##,
            escape(text)
        );
    };
    for (x, text) in ticks {
        label(svg, *x, bottom + 18.0, text);
    }
    label(svg, (left + right) / 2.0, bottom + 36.0, title);
}

/// One line of a legend right of the plot at `(plot_right, y)`: a stroke and its label.
fn legend_entry(
    svg: &mut String,
    (plot_right, y): (f64, f64),
    color: &str,
    dash: &str,
    label: &str,
) {
    let _ = writeln!(
        svg,
        r##"<line x1="{:.0}" y1="{y:.0}" x2="{:.0}" y2="{y:.0}" stroke="{color}" stroke-width="2"{dash}/>"##,
        plot_right + 15.0,
        plot_right + 40.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.0}" y="{:.0}" font-size="12">{}</text>"##,
        plot_right + 46.0,
        y + 4.0,
        escape(label)
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`: a round grid step.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn charts_are_svg_with_a_bar_or_line_per_figure() {
        let mut r = Results {
            jobs: 100,
            concurrency: vec![1, 16],
            ..Results::default()
        };
        let mut f = Figures::new(RAKIT, Store::Sqlite, 1, 100);
        f.burn.insert(1, 900.0);
        f.burn.insert(16, 2500.0);
        r.figures.push(f);
        let bars = burn_bars(&r, 16);
        assert!(bars.starts_with("<svg") && bars.contains("2 500 jobs/s"));
        let lines = scaling_lines(&r);
        assert!(lines.contains("<polyline") && lines.contains("sqlite · rakit-job"));
    }
}
