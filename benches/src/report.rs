//! Results: what one run measured (JSON), medians over runs, the terminal table, the
//! Markdown tables of `docs/performance.md`, and rakit-job / peer ratios.

use crate::BenchError;
use crate::store::Store;
use crate::system::System;
use crate::workload::Settings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The name rakit-job has in results; ratios are rakit-job over each other system.
pub const RAKIT: &str = "rakit-job";

/// Everything one system measured on one store in one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Figures {
    /// The system.
    pub system: String,
    /// The store.
    pub store: String,
    /// The round (1-based).
    pub run: u32,
    /// Jobs per measurement.
    pub jobs: u64,
    /// Dispatch one by one, jobs/s.
    pub dispatch_one: Option<f64>,
    /// Dispatch in bulk, jobs/s (median over the bulk fills of this run).
    pub dispatch_bulk: Option<f64>,
    /// How the bulk figure was obtained.
    pub bulk: String,
    /// Burn-down jobs/s by worker concurrency.
    pub burn: BTreeMap<u64, f64>,
    /// Peak RSS of the burn-down worker processes, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Pickup latency, median, ms.
    pub pickup_p50_ms: Option<f64>,
    /// Pickup latency, 99th percentile, ms.
    pub pickup_p99_ms: Option<f64>,
    /// Pickup samples attempted.
    pub pickup_samples: u64,
    /// Pickup samples whose job never started in time.
    pub pickup_missed: u64,
    /// CPU of an idle worker, percent of one core.
    pub idle_cpu_pct: Option<f64>,
    /// How an idle worker learns of new jobs.
    pub wakeup: String,
    /// Phases that failed, with why.
    pub errors: Vec<String>,
}

impl Figures {
    /// Empty figures for `system` on `store`.
    pub fn new(system: &str, store: Store, run: u32, jobs: u64) -> Figures {
        Figures {
            system: system.into(),
            store: store.name().into(),
            run,
            jobs,
            ..Figures::default()
        }
    }

    /// Notes that `phase` failed.
    pub fn fail(&mut self, phase: &str, e: BenchError) {
        crate::workload::say(&format!("  {phase} failed: {e}"));
        self.errors.push(format!("{phase}: {e}"));
    }

    /// The figures on one line, for the log.
    pub fn one_line(&self) -> String {
        let burn: Vec<String> = self
            .burn
            .iter()
            .map(|(c, r)| format!("c{c} {}", rate(Some(*r))))
            .collect();
        format!(
            "dispatch {} /s, bulk {} /s, burn {}, p50 {} ms, p99 {} ms, rss {}, idle cpu {}",
            rate(self.dispatch_one),
            rate(self.dispatch_bulk),
            burn.join(" "),
            ms(self.pickup_p50_ms),
            ms(self.pickup_p99_ms),
            mib(self.peak_rss_kib),
            pct(self.idle_cpu_pct)
        )
    }
}

/// A store's raw rate for the operations one job needs, measured on this machine.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bound {
    /// The store.
    pub store: String,
    /// What was measured, e.g. `insert + claim + delete`.
    pub what: String,
    /// Clients (connections) at once.
    pub concurrency: u64,
    /// Jobs per second the store itself allows for these operations.
    pub jobs_per_s: f64,
    /// The tool or loop that measured it.
    pub how: String,
}

impl Bound {
    /// rakit-job's figure to set beside this bound: the burn-down at the same concurrency, or
    /// for a dispatch bound the one-by-one dispatch (1 client).
    pub fn compare(&self, ours: &Figures) -> Option<f64> {
        if !self.what.starts_with("dispatch") {
            return ours.burn.get(&self.concurrency).copied();
        }
        match self.concurrency {
            1 => ours.dispatch_one,
            _ => None,
        }
    }
}

/// One benchmark run: settings, machine, figures and bounds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Results {
    /// Jobs per measurement.
    pub jobs: u64,
    /// Rounds.
    pub runs: u32,
    /// Burn-down concurrencies.
    pub concurrency: Vec<u64>,
    /// Poll interval given to polling workers, ms.
    pub sleep_ms: u64,
    /// Systems compared.
    pub systems: Vec<String>,
    /// Cores, memory and kernel of this machine.
    pub machine: String,
    /// When the run started (UTC, RFC 3339).
    pub started: String,
    /// Every figure of every round.
    pub figures: Vec<Figures>,
    /// Raw store rates.
    pub bounds: Vec<Bound>,
}

impl Results {
    /// Empty results for these settings.
    pub fn new(s: &Settings, systems: &[&dyn System]) -> Results {
        Results {
            jobs: s.jobs,
            runs: s.runs,
            concurrency: s.concurrency.clone(),
            sleep_ms: s.sleep_ms,
            systems: systems.iter().map(|s| s.name().to_string()).collect(),
            machine: machine(),
            started: rakit_job_now(),
            figures: Vec::new(),
            bounds: Vec::new(),
        }
    }

    /// Writes the results as pretty JSON to `path` (creating its folder).
    pub fn save(&self, path: &Path) -> Result<(), BenchError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", dir.display())))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| BenchError::Io(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", path.display())))
    }

    /// Reads results written by [`save`](Self::save).
    pub fn load(path: &Path) -> Result<Results, BenchError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BenchError::Io(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| BenchError::Io(format!("{} is not a results file: {e}", path.display())))
    }

    /// Medians over rounds, one row per store and system, stores in table order.
    pub fn medians(&self) -> Vec<Figures> {
        let mut groups: BTreeMap<(usize, String, String), Vec<&Figures>> = BTreeMap::new();
        for f in &self.figures {
            let order = Store::parse(&f.store)
                .map(|s| Store::ALL.iter().position(|x| *x == s).unwrap_or(9))
                .unwrap_or(9);
            let sys = if f.system == RAKIT {
                format!("0{}", f.system)
            } else {
                format!("1{}", f.system)
            };
            groups
                .entry((order, f.store.clone(), sys))
                .or_default()
                .push(f);
        }
        groups
            .into_values()
            .map(|fs| {
                let first = fs[0];
                let pick = |get: &dyn Fn(&Figures) -> Option<f64>| {
                    median(&fs.iter().filter_map(|f| get(f)).collect::<Vec<_>>())
                };
                let mut burn = BTreeMap::new();
                for c in fs
                    .iter()
                    .flat_map(|f| f.burn.keys().copied())
                    .collect::<std::collections::BTreeSet<_>>()
                {
                    if let Some(m) = median(
                        &fs.iter()
                            .filter_map(|f| f.burn.get(&c).copied())
                            .collect::<Vec<_>>(),
                    ) {
                        burn.insert(c, m);
                    }
                }
                Figures {
                    system: first.system.clone(),
                    store: first.store.clone(),
                    run: fs.len() as u32,
                    jobs: first.jobs,
                    dispatch_one: pick(&|f| f.dispatch_one),
                    dispatch_bulk: pick(&|f| f.dispatch_bulk),
                    bulk: first.bulk.clone(),
                    burn,
                    peak_rss_kib: pick(&|f| f.peak_rss_kib.map(|k| k as f64)).map(|k| k as u64),
                    pickup_p50_ms: pick(&|f| f.pickup_p50_ms),
                    pickup_p99_ms: pick(&|f| f.pickup_p99_ms),
                    pickup_samples: fs.iter().map(|f| f.pickup_samples).sum(),
                    pickup_missed: fs.iter().map(|f| f.pickup_missed).sum(),
                    idle_cpu_pct: pick(&|f| f.idle_cpu_pct),
                    wakeup: first.wakeup.clone(),
                    errors: fs.iter().flat_map(|f| f.errors.iter().cloned()).collect(),
                }
            })
            .collect()
    }

    /// Merges `other`'s figures and bounds into these (for a rakit-only run plus a peers run).
    pub fn merge(&mut self, other: Results) {
        self.figures.extend(other.figures);
        for b in other.bounds {
            if !self
                .bounds
                .iter()
                .any(|x| x.store == b.store && x.what == b.what && x.concurrency == b.concurrency)
            {
                self.bounds.push(b);
            }
        }
        for s in other.systems {
            if !self.systems.contains(&s) {
                self.systems.push(s);
            }
        }
        self.runs = self.runs.max(other.runs);
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// The results as a plain-text table for the terminal (medians).
pub fn text_table(r: &Results) -> String {
    let rows = r.medians();
    let conc = &r.concurrency;
    let mut head = vec![
        "store".to_string(),
        "system".into(),
        "dispatch/s".into(),
        "bulk/s".into(),
    ];
    head.extend(conc.iter().map(|c| format!("burn c={c}/s")));
    head.extend(["p50 ms", "p99 ms", "RSS MiB", "idle CPU"].map(String::from));
    let mut lines = vec![head];
    for f in &rows {
        let mut line = vec![
            f.store.clone(),
            f.system.clone(),
            rate(f.dispatch_one),
            rate(f.dispatch_bulk),
        ];
        line.extend(conc.iter().map(|c| rate(f.burn.get(c).copied())));
        line.extend([
            ms(f.pickup_p50_ms),
            ms(f.pickup_p99_ms),
            mib(f.peak_rss_kib),
            pct(f.idle_cpu_pct),
        ]);
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
        if n == 0 {
            let _ = writeln!(
                out,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
    }
    let ratios = ratio_rows(&rows, conc);
    if !ratios.is_empty() {
        let _ = writeln!(
            out,
            "\nrakit-job / peer (above 1 = rakit-job better; latency and RSS inverted so the same holds):"
        );
        for (store, peer, cells) in ratios {
            let _ = writeln!(
                out,
                "  {store:<9} vs {peer:<11} {}",
                cells
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    out
}

/// One store and peer with its ratios: (store, peer, [(figure, ratio text)]).
pub type RatioRow = (String, String, Vec<(String, String)>);

/// The ratios rakit-job / peer per store: (store, peer, [(figure, ratio text)]).
/// Throughputs are rakit/peer; latency and memory are peer/rakit, so above 1 is always better.
pub fn ratio_rows(rows: &[Figures], conc: &[u64]) -> Vec<RatioRow> {
    let mut out = Vec::new();
    for ours in rows.iter().filter(|f| f.system == RAKIT) {
        for peer in rows
            .iter()
            .filter(|f| f.store == ours.store && f.system != RAKIT)
        {
            let mut cells = vec![
                (
                    "dispatch".to_string(),
                    ratio(ours.dispatch_one, peer.dispatch_one),
                ),
                (
                    "bulk".to_string(),
                    ratio(ours.dispatch_bulk, peer.dispatch_bulk),
                ),
            ];
            for c in conc {
                cells.push((
                    format!("burn c={c}"),
                    ratio(ours.burn.get(c).copied(), peer.burn.get(c).copied()),
                ));
            }
            cells.push(("p50".into(), ratio(peer.pickup_p50_ms, ours.pickup_p50_ms)));
            cells.push(("p99".into(), ratio(peer.pickup_p99_ms, ours.pickup_p99_ms)));
            cells.push((
                "RSS".into(),
                ratio(
                    peer.peak_rss_kib.map(|k| k as f64),
                    ours.peak_rss_kib.map(|k| k as f64),
                ),
            ));
            out.push((ours.store.clone(), peer.system.clone(), cells));
        }
    }
    out
}

/// The Markdown block `docs/performance.md` carries between its result markers.
pub fn markdown(r: &Results, chart_files: &[&str]) -> String {
    let rows = r.medians();
    let conc = &r.concurrency;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Last run: {} — N = {} jobs per measurement, {} round(s), medians; worker poll interval {} ms where the store cannot signal; {}.\n",
        r.started, r.jobs, r.runs, r.sleep_ms, r.machine
    );
    let mut head = "| store | system | dispatch 1 by 1 (jobs/s) | bulk (jobs/s) |".to_string();
    let mut rule = "|---|---|--:|--:|".to_string();
    for c in conc {
        let _ = write!(head, " burn-down c={c} (jobs/s) |");
        rule.push_str("--:|");
    }
    head.push_str(" pickup p50 (ms) | pickup p99 (ms) | worker peak RSS (MiB) | idle CPU |");
    rule.push_str("--:|--:|--:|--:|");
    let _ = writeln!(md, "{head}\n{rule}");
    for f in &rows {
        let mut line = format!(
            "| {} | {} | {} | {} |",
            f.store,
            f.system,
            rate(f.dispatch_one),
            rate(f.dispatch_bulk)
        );
        for c in conc {
            let _ = write!(line, " {} |", rate(f.burn.get(c).copied()));
        }
        let _ = write!(
            line,
            " {} | {} | {} | {} |",
            ms(f.pickup_p50_ms),
            ms(f.pickup_p99_ms),
            mib(f.peak_rss_kib),
            pct(f.idle_cpu_pct)
        );
        let _ = writeln!(md, "{line}");
    }
    let notes: Vec<String> = rows
        .iter()
        .filter(|f| !f.bulk.is_empty())
        .map(|f| {
            format!(
                "{} on {}: bulk = {}; idle wake-up: {}",
                f.system, f.store, f.bulk, f.wakeup
            )
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(
            md,
            "\n<details><summary>How each bulk figure and wake-up works</summary>\n"
        );
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
        let _ = writeln!(md, "\n</details>");
    }
    let errors: Vec<String> = rows
        .iter()
        .flat_map(|f| {
            f.errors
                .iter()
                .map(move |e| format!("{} on {}: {e}", f.system, f.store))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(
            md,
            "\nPhases that failed in this run (their cells are `—`):\n"
        );
        for e in errors {
            let _ = writeln!(md, "- {e}");
        }
    }
    let ratios = ratio_rows(&rows, conc);
    if !ratios.is_empty() {
        let _ = writeln!(
            md,
            "\n### rakit-job / peer\n\nAbove 1 means rakit-job is better: throughputs are rakit-job ÷ peer, latency and memory are peer ÷ rakit-job.\n"
        );
        let names: Vec<String> = ratios[0].2.iter().map(|(k, _)| k.clone()).collect();
        let _ = writeln!(md, "| store | peer | {} |", names.join(" | "));
        let _ = writeln!(md, "|---|---|{}", "--:|".repeat(names.len()));
        for (store, peer, cells) in &ratios {
            let _ = writeln!(
                md,
                "| {store} | {peer} | {} |",
                cells
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
    }
    if !r.bounds.is_empty() {
        let _ = writeln!(
            md,
            "\n### The stores' own limit\n\nThe raw rate of the operations one job needs, measured on this machine in the same run, next to rakit-job's figure for the same work: burn-down at the same worker concurrency; dispatch one by one (1 client) or from 16 tasks (16 clients).\n"
        );
        let _ = writeln!(
            md,
            "| store | operations per job | clients | store limit (jobs/s) | rakit-job at the same concurrency (jobs/s) | share of the limit | measured with |"
        );
        let _ = writeln!(md, "|---|---|--:|--:|--:|--:|---|");
        for b in &r.bounds {
            let ours = rows
                .iter()
                .find(|f| f.system == RAKIT && f.store == b.store)
                .and_then(|f| b.compare(f));
            if ours.is_none() && b.what.starts_with("dispatch") {
                continue;
            }
            let share = ours
                .map(|o| format!("{:.0}%", o / b.jobs_per_s * 100.0))
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {share} | {} |",
                b.store,
                b.what,
                b.concurrency,
                rate(Some(b.jobs_per_s)),
                rate(ours),
                b.how
            );
        }
    }
    for chart in chart_files {
        let _ = writeln!(md, "\n![{chart}]({chart})");
    }
    md
}

/// Replaces the text between `<!-- bench:results:start -->` and `<!-- bench:results:end -->`
/// in the page at `path` with `block` (appending the markers if the page has none).
pub fn splice(path: &Path, block: &str) -> Result<(), BenchError> {
    const START: &str = "<!-- bench:results:start -->";
    const END: &str = "<!-- bench:results:end -->";
    let page = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (page.find(START), page.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{START}\n{block}{}", &page[..a], &page[b..]),
        _ => format!("{page}\n{START}\n{block}{END}\n"),
    };
    std::fs::write(path, new)
        .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", path.display())))
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

/// A rate for tables: `12 345`, `987`, or `—`.
pub fn rate(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => {
            let n = v.round() as u64;
            let s = n.to_string();
            let mut out = String::new();
            for (i, ch) in s.chars().enumerate() {
                if i > 0 && (s.len() - i).is_multiple_of(3) {
                    out.push(' ');
                }
                out.push(ch);
            }
            out
        }
        Some(v) => format!("{v:.1}"),
        None => "—".into(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| {
        if v < 10.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.0}")
        }
    })
    .unwrap_or_else(|| "—".into())
}

fn mib(v: Option<u64>) -> String {
    v.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "—".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.2}%")).unwrap_or_else(|| "—".into())
}

/// Cores, memory and kernel, from `/proc`.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} cores, {:.0} GiB, Linux {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// The current UTC time as RFC 3339, without a date crate.
pub fn rakit_job_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rates_read_well() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
        assert_eq!(rate(Some(12345.4)), "12 345");
        assert_eq!(rate(Some(42.25)), "42.2");
        assert_eq!(ratio(Some(4.0), Some(2.0)), "2.00×");
    }

    #[test]
    fn the_date_is_rfc_3339() {
        let now = rakit_job_now();
        assert_eq!(now.len(), 20);
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }

    #[test]
    fn ratios_compare_rakit_with_each_peer_on_the_same_store() {
        let mut ours = Figures::new(RAKIT, Store::Redis, 1, 10);
        ours.burn.insert(16, 2000.0);
        ours.pickup_p50_ms = Some(1.0);
        let mut peer = Figures::new("apalis", Store::Redis, 1, 10);
        peer.burn.insert(16, 1000.0);
        peer.pickup_p50_ms = Some(3.0);
        let rows = ratio_rows(&[ours, peer], &[16]);
        assert_eq!(rows.len(), 1);
        let cells: BTreeMap<_, _> = rows[0].2.iter().cloned().collect();
        assert_eq!(cells["burn c=16"], "2.00×");
        assert_eq!(cells["p50"], "3.00×");
    }
}
