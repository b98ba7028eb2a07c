//! The rakit-job benchmark harness: the same workloads for any job system, on every store.
//!
//! For each store (SQLite file, PostgreSQL, MariaDB, Redis, a folder, memcached) and each
//! system, it measures dispatch throughput one by one and in bulk, burn-down throughput of
//! N queued no-op jobs drained by one worker *process* at several concurrencies, pickup
//! latency from dispatch in this process to job start in the worker process, the worker's
//! peak RSS and the CPU an idle worker uses, plus the store's own raw rate for the
//! operations one job needs. The `rakit-job-benches` binary runs it for rakit-job alone;
//! `benches/peers` (a separate workspace) runs it for rakit-job, apalis and riverqueue
//! alternately, so their figures come from the same run.
//!
//! ```text
//! rakit-job-benches run --jobs 20000 --stores sqlite,postgres,redis --concurrency 1,16
//! rakit-job-benches report --results target/bench/results.json --doc docs/performance.md
//! ```
//!
//! A system plugs in by implementing [`System`] and [`Client`](system::Client);
//! its no-op job calls [`probe::ran`]. See `scripts/bench.sh` for the one command that
//! builds, starts the stores, runs everything and regenerates the docs.

pub mod args;
pub mod batch;
pub mod bound;
pub mod chart;
pub mod pages;
pub mod probe;
pub mod process;
pub mod procfs;
pub mod rakit;
pub mod relay;
pub mod report;
pub mod scale;
pub mod store;
pub mod system;
pub mod workload;

use report::Results;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store;
use system::System;
use workload::Settings;

/// Why a benchmark could not run or finish a phase.
#[derive(Debug)]
pub enum BenchError {
    /// A bad command line.
    Usage(String),
    /// A store refused or failed an operation.
    Store(String),
    /// A worker process misbehaved or timed out.
    Worker(String),
    /// A file or process could not be used.
    Io(String),
}

impl BenchError {
    /// Wraps any store error.
    pub fn store(e: impl std::fmt::Display) -> BenchError {
        BenchError::Store(e.to_string())
    }
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Usage(m)
            | BenchError::Store(m)
            | BenchError::Worker(m)
            | BenchError::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BenchError {}

const HELP: &str = "\
usage: BENCH [run] [options]          run the benchmarks (default)
       BENCH report [options]         regenerate tables and charts from results files
       BENCH pages [options]          time every dashboard page with many jobs stored
       BENCH batch [options]          a batch's dispatch beside a plain bulk dispatch
       BENCH scale [options]          worker hosts in network namespaces (scripts/bench.sh --scale)
       BENCH worker ...               (internal) a worker process
       BENCH cli ...                  (internal) rakit-job's CLI, used to create SQL tables

run options:
  --stores LIST        sqlite,postgres,mysql,redis,file,memcached or all (default all)
  --systems LIST       only these systems, e.g. rakit-job,apalis (default every one built in)
  --jobs N             jobs per measurement (default 20000; 20k works)
  --concurrency LIST   burn-down worker concurrencies (default 1,16)
  --runs N             rounds; systems alternate within a round, figures are medians (default 1)
  --samples N          pickup-latency samples per store (default 100)
  --idle-secs N        seconds an idle worker is watched for CPU (default 5)
  --sleep-ms N         poll interval of workers on stores that cannot signal (default 1000)
  --phase-timeout S    give up a phase after S seconds (default 900)
  --no-bounds          skip the stores' raw-rate measurements
  --out FILE           results JSON (default target/bench/results.json)
  --data DIR           SQLite files, job folders, worker logs (default target/bench/data)

pages options:
  --stores LIST        as for run (default all)
  --jobs N             queued jobs in each store while the pages are timed (default 100000)
  --data DIR           as for run

batch options (a batch's dispatch beside a plain bulk one, alternating rounds):
  --stores LIST        as for run (default all)
  --jobs N             jobs per dispatch (default 10000)
  --rounds N           rounds; figures are medians (default 5)
  --data DIR           as for run

scale options (needs the namespaces and cluster nodes scripts/bench.sh --scale makes):
  --stores LIST        postgres,redis,cluster (default all three)
  --hosts LIST         numbers of worker hosts (default 1,2,4,8)
  --jobs N             jobs drained in each phase (default 50000)
  --concurrency N      jobs at a time in each host's worker (default 16)
  --delay-us N         the relay's delay each way in microseconds (default 500)
  --runs N             rounds; figures are medians (default 1)
  --ip ADDR            where the relay listens for the hosts (default 10.231.0.1)
  --netns PREFIX       the hosts' namespaces are PREFIX1, PREFIX2, ... (default rkb-h)
  --out FILE           results JSON (default target/bench/scale.json)
  --doc FILE           Markdown page whose results block is replaced (docs/scaling.md)
  --results FILE       measure nothing: print (and with --doc publish) a results file

report options:
  --results LIST       results files to merge (default target/bench/results.json)
  --doc FILE           Markdown page whose results block is replaced (e.g. docs/performance.md)
  --charts DIR         where the SVG charts go (default: the page's folder)
";

/// The program a worker binary runs: `<program> worker …` for one of `systems`.
///
/// ```no_run
/// use rakit_job_benches::rakit::Rakit;
///
/// fn main() -> std::process::ExitCode {
///     rakit_job_benches::worker_main_with(&[&Rakit])
/// }
/// ```
pub fn worker_main_with(systems: &[&dyn System]) -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match argv.split_first() {
        Some((command, rest)) if command == "worker" => process::worker_main(systems, rest),
        _ => Err(BenchError::Usage(
            "this program only runs benchmark workers: `worker --system …`".into(),
        )),
    };
    exit_code(outcome)
}

/// The whole program for a binary measuring `systems`: `run`, `report`, `worker` and `cli`.
pub fn main_with(systems: &[&dyn System]) -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match argv.first().map(String::as_str) {
        Some(c) if !c.starts_with("--") => (c.to_string(), argv[1..].to_vec()),
        _ => ("run".to_string(), argv.clone()),
    };
    let outcome = match command.as_str() {
        "cli" => return rakit_job::cli::run_with(rest),
        "worker" => process::worker_main(systems, &rest),
        "run" => run(systems, &rest),
        "report" => report(&rest),
        "pages" => pages::run(&rest),
        "batch" => batch::run(&rest),
        "scale" => scale::run(&rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(BenchError::Usage(format!(
            "unknown command `{other}`; run with --help"
        ))),
    };
    exit_code(outcome)
}

/// Reports `outcome`'s error, if any, and gives the exit code: 2 for a usage error.
fn exit_code(outcome: Result<(), BenchError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if matches!(e, BenchError::Usage(_)) {
                2
            } else {
                1
            })
        }
    }
}

/// Parses `run` options into [`Settings`].
pub fn settings(argv: &[String]) -> Result<Settings, BenchError> {
    let o = args::Opts::parse(argv)?;
    if o.flag("help") {
        print!("{HELP}");
        std::process::exit(0);
    }
    o.only(&[
        "stores",
        "systems",
        "jobs",
        "concurrency",
        "runs",
        "samples",
        "idle-secs",
        "sleep-ms",
        "phase-timeout",
        "no-bounds",
        "out",
        "data",
    ])?;
    let mut s = Settings::default();
    if let Some(list) = o.value("stores") {
        s.stores = Store::parse_list(list)?;
    }
    if let Some(list) = o.value("systems") {
        s.systems = list.split(',').map(|n| n.trim().to_string()).collect();
    }
    s.jobs = o.number("jobs")?.unwrap_or(s.jobs).max(1);
    if let Some(c) = o.numbers("concurrency")? {
        s.concurrency = c.into_iter().filter(|c| *c > 0).collect();
    }
    if s.concurrency.is_empty() {
        return Err(BenchError::Usage(
            "`--concurrency` needs at least one number above 0".into(),
        ));
    }
    s.runs = o.number("runs")?.unwrap_or(s.runs as u64).max(1) as u32;
    s.samples = o.number("samples")?.unwrap_or(s.samples);
    s.idle_secs = o.number("idle-secs")?.unwrap_or(s.idle_secs).max(1);
    s.sleep_ms = o.number("sleep-ms")?.unwrap_or(s.sleep_ms).max(1);
    s.phase_timeout = o
        .number("phase-timeout")?
        .unwrap_or(s.phase_timeout)
        .max(10);
    s.bounds = !o.flag("no-bounds");
    if let Some(out) = o.value("out") {
        s.out = PathBuf::from(out);
    }
    if let Some(data) = o.value("data") {
        s.data = PathBuf::from(data);
    }
    s.data = std::path::absolute(&s.data)
        .map_err(|e| BenchError::Io(format!("cannot resolve {}: {e}", s.data.display())))?;
    Ok(s)
}

fn run(systems: &[&dyn System], argv: &[String]) -> Result<(), BenchError> {
    let s = settings(argv)?;
    if let Some(unknown) = s
        .systems
        .iter()
        .find(|n| !systems.iter().any(|sys| sys.name() == n.as_str()))
    {
        let known: Vec<&str> = systems.iter().map(|sys| sys.name()).collect();
        return Err(BenchError::Usage(format!(
            "`--systems` names `{unknown}`, which this binary does not have; it has {}",
            known.join(", ")
        )));
    }
    let systems: Vec<&dyn System> = systems
        .iter()
        .copied()
        .filter(|sys| s.systems.is_empty() || s.systems.iter().any(|n| n == sys.name()))
        .collect();
    let systems = &systems[..];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Io(format!("cannot start the async runtime: {e}")))?;
    let results = runtime.block_on(workload::run_all(systems, &s))?;
    println!("\n{}", report::text_table(&results));
    println!("results written to {}", s.out.display());
    Ok(())
}

fn report(argv: &[String]) -> Result<(), BenchError> {
    let o = args::Opts::parse(argv)?;
    o.only(&["results", "doc", "charts"])?;
    let list = o.value("results").unwrap_or("target/bench/results.json");
    let mut merged: Option<Results> = None;
    for path in list.split(',').filter(|p| !p.is_empty()) {
        let r = Results::load(Path::new(path))?;
        match merged.as_mut() {
            Some(m) => m.merge(r),
            None => merged = Some(r),
        }
    }
    let results = merged.ok_or_else(|| BenchError::Usage("`--results` names no file".into()))?;
    println!("{}", report::text_table(&results));
    if let Some(doc) = o.value("doc") {
        let doc = Path::new(doc);
        let dir = o
            .value("charts")
            .map(PathBuf::from)
            .unwrap_or_else(|| doc.parent().unwrap_or(Path::new(".")).to_path_buf());
        std::fs::create_dir_all(&dir)
            .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let c = results
            .concurrency
            .iter()
            .copied()
            .filter(|c| *c <= 16)
            .max()
            .unwrap_or(1);
        let bars = dir.join("performance-burn-down.svg");
        let lines = dir.join("performance-scaling.svg");
        let write = |p: &Path, text: String| {
            std::fs::write(p, text)
                .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", p.display())))
        };
        write(&bars, chart::burn_bars(&results, c))?;
        write(&lines, chart::scaling_lines(&results))?;
        report::splice(
            doc,
            &report::markdown(
                &results,
                &["performance-burn-down.svg", "performance-scaling.svg"],
            ),
        )?;
        println!(
            "updated {}, {} and {}",
            doc.display(),
            bars.display(),
            lines.display()
        );
    }
    Ok(())
}
