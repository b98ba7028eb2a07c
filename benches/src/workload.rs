//! The workloads, timed the same way for every system: dispatch one by one, dispatch in
//! bulk, burn-down at each concurrency, pickup latency, idle CPU and peak RSS.

use crate::process::{Mode, Spawn, WorkerProcess};
use crate::report::{Figures, Results, median};
use crate::store::{Store, Target};
use crate::system::{Bulk, Client, System};
use crate::{BenchError, bound, procfs};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What to run and where to write it.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Jobs per dispatch and burn-down measurement.
    pub jobs: u64,
    /// Stores to run on.
    pub stores: Vec<Store>,
    /// Names of the systems to measure; empty means every one the binary has.
    pub systems: Vec<String>,
    /// Worker concurrencies for burn-down; the first is drained after the one-by-one dispatch.
    pub concurrency: Vec<u64>,
    /// Rounds; systems alternate within each round and figures are medians over rounds.
    pub runs: u32,
    /// Pickup latency samples per store.
    pub samples: u64,
    /// Seconds an idle worker is watched for its CPU use.
    pub idle_secs: u64,
    /// The poll interval given to workers that poll, in milliseconds.
    pub sleep_ms: u64,
    /// Longest any one phase may take before the run gives up on it, in seconds.
    pub phase_timeout: u64,
    /// Measure each store's raw rate too.
    pub bounds: bool,
    /// Where results go.
    pub out: PathBuf,
    /// Where SQLite files, job folders and worker logs go.
    pub data: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jobs: 20_000,
            stores: Store::ALL.to_vec(),
            systems: Vec::new(),
            concurrency: vec![1, 16],
            runs: 1,
            samples: 100,
            idle_secs: 5,
            sleep_ms: 1000,
            phase_timeout: 900,
            bounds: true,
            out: PathBuf::from("target/bench/results.json"),
            data: PathBuf::from("target/bench/data"),
        }
    }
}

/// Runs every workload for every system on every store, `runs` times, alternating the
/// systems within a round (their order rotates each round), saving results as it goes.
pub async fn run_all(systems: &[&dyn System], settings: &Settings) -> Result<Results, BenchError> {
    std::fs::create_dir_all(&settings.data)
        .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", settings.data.display())))?;
    let mut results = Results::new(settings, systems);
    if settings.bounds {
        for &store in &settings.stores {
            say(&format!(
                "[bound] {}: raw rate of one job's operations",
                store.name()
            ));
            match bound::measure(store, settings).await {
                Ok(mut b) => results.bounds.append(&mut b),
                Err(e) => say(&format!("[bound] {}: not measured: {e}", store.name())),
            }
        }
        results.save(&settings.out)?;
    }
    for run in 1..=settings.runs {
        for &store in &settings.stores {
            let mut here: Vec<&dyn System> = systems
                .iter()
                .copied()
                .filter(|s| s.supports(store))
                .collect();
            if !here.is_empty() {
                let turn = (run as usize - 1) % here.len();
                here.rotate_left(turn);
            }
            for system in here {
                let label = format!(
                    "[run {run}/{}] {} on {}",
                    settings.runs,
                    system.name(),
                    store.name()
                );
                say(&label);
                let figures = measure(system, store, settings, run, &label).await;
                results.figures.push(figures);
                results.save(&settings.out)?;
            }
        }
    }
    Ok(results)
}

/// Every figure of one system on one store.
pub async fn measure(
    system: &dyn System,
    store: Store,
    s: &Settings,
    run: u32,
    label: &str,
) -> Figures {
    let mut f = Figures::new(system.name(), store, run, s.jobs);
    f.wakeup = system.wakeup(store);
    let limit = Duration::from_secs(s.phase_timeout);
    // One by one, then drained at the first concurrency.
    let first = s.concurrency.first().copied().unwrap_or(1);
    let phase = async {
        let target = Target::fresh(store, &s.data);
        let client = system.client(&target).await?;
        let rate = dispatch_one(&client, s.jobs, label).await?;
        let burn = burn_down(system, &target, &*client, s, first, label).await;
        let _ = client.cleanup().await;
        Ok::<_, BenchError>((rate, burn?))
    };
    match timed(limit, phase).await {
        Ok((rate, (jobs_s, rss))) => {
            f.dispatch_one = Some(rate);
            f.burn.insert(first, jobs_s);
            f.peak_rss_kib = f.peak_rss_kib.max(Some(rss));
        }
        Err(e) => f.fail("dispatch one by one / burn-down", e),
    }
    // In bulk (timed), then drained at each further concurrency.
    let mut bulk_rates = Vec::new();
    let rest: Vec<Option<u64>> = if s.concurrency.len() > 1 {
        s.concurrency[1..].iter().copied().map(Some).collect()
    } else {
        vec![None]
    };
    for c in rest {
        let phase = async {
            let target = Target::fresh(store, &s.data);
            let client = system.client(&target).await?;
            let (rate, how) = dispatch_bulk(&client, s.jobs, label).await?;
            let burn = match c {
                Some(c) => Some(burn_down(system, &target, &*client, s, c, label).await),
                None => None,
            };
            let _ = client.cleanup().await;
            Ok::<_, BenchError>((rate, how, burn.transpose()?))
        };
        match timed(limit, phase).await {
            Ok((rate, how, burn)) => {
                bulk_rates.push(rate);
                f.bulk = how;
                if let (Some(c), Some((jobs_s, rss))) = (c, burn) {
                    f.burn.insert(c, jobs_s);
                    f.peak_rss_kib = f.peak_rss_kib.max(Some(rss));
                }
            }
            Err(e) => f.fail(
                &format!("bulk dispatch / burn-down at {}", c.unwrap_or(0)),
                e,
            ),
        }
    }
    f.dispatch_bulk = median(&bulk_rates);
    // Pickup latency and idle CPU, with one idle worker in its own process.
    let phase = async {
        let target = Target::fresh(store, &s.data);
        let client = system.client(&target).await?;
        let out = latency(system, &target, &*client, s, label).await;
        let _ = client.cleanup().await;
        out
    };
    match timed(limit, phase).await {
        Ok((p50, p99, missed, cpu)) => {
            f.pickup_p50_ms = p50;
            f.pickup_p99_ms = p99;
            f.pickup_samples = s.samples;
            f.pickup_missed = missed;
            f.idle_cpu_pct = cpu;
        }
        Err(e) => f.fail("pickup latency", e),
    }
    say(&format!("{label}: {}", f.one_line()));
    f
}

async fn timed<T>(
    limit: Duration,
    phase: impl Future<Output = Result<T, BenchError>>,
) -> Result<T, BenchError> {
    tokio::time::timeout(limit, phase)
        .await
        .unwrap_or_else(|_| {
            Err(BenchError::Worker(format!(
                "the phase took longer than {}s and was abandoned",
                limit.as_secs()
            )))
        })
}

/// Dispatches `n` jobs one after the other; jobs per second.
pub async fn dispatch_one(
    client: &Arc<dyn Client>,
    n: u64,
    label: &str,
) -> Result<f64, BenchError> {
    let (client, label) = (client.clone(), label.to_string());
    in_task(async move {
        let start = Instant::now();
        let mut shown = Instant::now();
        for seq in 0..n {
            client.dispatch(seq).await?;
            if shown.elapsed() >= Duration::from_secs(1) {
                progress(&label, "dispatch one by one", seq, n);
                shown = Instant::now();
            }
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
    .await
}

/// Runs a dispatch loop as a task of the runtime, where an application's request handler
/// dispatches and where the bounds' loops run, not on the thread blocked on the runtime:
/// from there every message to a client's connection task crosses threads twice.
async fn in_task<T: Send + 'static>(
    work: impl Future<Output = Result<T, BenchError>> + Send + 'static,
) -> Result<T, BenchError> {
    tokio::spawn(work)
        .await
        .map_err(|e| BenchError::Worker(format!("a dispatching task failed: {e}")))?
}

/// Dispatches `n` jobs with the client's bulk API, or from concurrent tasks; jobs per second.
pub async fn dispatch_bulk(
    client: &Arc<dyn Client>,
    n: u64,
    label: &str,
) -> Result<(f64, String), BenchError> {
    let start = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let how = client.bulk();
    let work = async {
        match how {
            Bulk::Native(batch) => {
                let batch = batch.max(1) as u64;
                let (client, done) = (client.clone(), done.clone());
                in_task(async move {
                    let mut first = 0;
                    while first < n {
                        let count = batch.min(n - first);
                        client.dispatch_batch(first, count).await?;
                        first += count;
                        done.store(first, Ordering::Relaxed);
                    }
                    Ok(())
                })
                .await
            }
            Bulk::Concurrent(tasks) => {
                let tasks = tasks.max(1) as u64;
                let mut set = tokio::task::JoinSet::new();
                for t in 0..tasks {
                    let (client, done) = (client.clone(), done.clone());
                    let (from, to) = (n * t / tasks, n * (t + 1) / tasks);
                    set.spawn(async move {
                        for seq in from..to {
                            client.dispatch(seq).await?;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok::<_, BenchError>(())
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.map_err(|e| BenchError::Worker(format!("a dispatch task failed: {e}")))??;
                }
                Ok(())
            }
        }
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            r = &mut work => { r?; break; }
            _ = tokio::time::sleep(Duration::from_secs(1)) => progress(label, "dispatch in bulk", done.load(Ordering::Relaxed), n),
        }
    }
    Ok((n as f64 / start.elapsed().as_secs_f64(), how.describe()))
}

/// Drains the `n` queued jobs with one worker process at concurrency `c`: jobs per second
/// from `go` to the last job, and the worker's peak RSS in KiB.
pub async fn burn_down(
    system: &dyn System,
    target: &Target,
    client: &dyn Client,
    s: &Settings,
    c: u64,
    label: &str,
) -> Result<(f64, u64), BenchError> {
    let spawn = Spawn {
        system: system.name(),
        target,
        mode: Mode::Burn(s.jobs),
        concurrency: c as usize,
        sleep_ms: s.sleep_ms,
        netns: None,
    };
    let mut worker = WorkerProcess::start(spawn).await?;
    worker.send("go").await?;
    let what = format!("burn-down at concurrency {c}");
    let done = worker
        .wait_for("done", Duration::from_secs(s.phase_timeout), |line| {
            if let Some(count) = line.strip_prefix("progress ").and_then(|n| n.parse().ok()) {
                progress(label, &what, count, s.jobs);
            }
        })
        .await?;
    let mut parts = done
        .split_whitespace()
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (micros, rss) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    worker.finish().await?;
    let left = client.pending().await?;
    if left > 0 {
        return Err(BenchError::Worker(format!(
            "{left} job(s) were still pending after the burn-down"
        )));
    }
    Ok((s.jobs as f64 / (micros.max(1) as f64 / 1e6), rss))
}

/// Pickup latency p50/p99 in ms, samples missed, and idle CPU in percent.
async fn latency(
    system: &dyn System,
    target: &Target,
    client: &dyn Client,
    s: &Settings,
    label: &str,
) -> Result<(Option<f64>, Option<f64>, u64, Option<f64>), BenchError> {
    let spawn = Spawn {
        system: system.name(),
        target,
        mode: Mode::Latency,
        concurrency: 1,
        sleep_ms: s.sleep_ms,
        netns: None,
    };
    let mut worker = WorkerProcess::start(spawn).await?;
    worker.send("go").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = worker.pid();
    let (cpu0, t0) = (procfs::cpu_seconds(pid), Instant::now());
    progress(label, "idle CPU", 0, s.idle_secs);
    tokio::time::sleep(Duration::from_secs(s.idle_secs)).await;
    let cpu = match (cpu0, procfs::cpu_seconds(pid)) {
        (Some(a), Some(b)) => Some((b - a) / t0.elapsed().as_secs_f64() * 100.0),
        _ => None,
    };
    let wait = Duration::from_millis(s.sleep_ms * 3 + 2000);
    let mut lat = Vec::new();
    let mut missed = 0;
    let mut shown = Instant::now();
    for seq in 0..s.samples {
        client.dispatch(seq).await?;
        match worker.wait_for("lat", wait, |_| {}).await {
            Ok(us) => lat.push(us.parse::<f64>().unwrap_or(0.0) / 1000.0),
            Err(_) => missed += 1,
        }
        if shown.elapsed() >= Duration::from_secs(1) {
            progress(label, "pickup latency", seq, s.samples);
            shown = Instant::now();
        }
        // Let the worker go idle again before the next job, at an uneven gap.
        tokio::time::sleep(Duration::from_millis(20 + seq * 7 % 31)).await;
    }
    worker.finish().await?;
    Ok((
        percentile(&mut lat, 50.0),
        percentile(&mut lat, 99.0),
        missed,
        cpu,
    ))
}

/// The `p`th percentile (nearest rank) of `values`.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// A progress line on standard error, rewritten in place.
pub fn progress(label: &str, what: &str, done: u64, of: u64) {
    eprint!("\r\x1b[2K{label}: {what} {done}/{of}");
    let _ = std::io::stderr().flush();
}

/// A line of its own on standard error, after any progress line.
pub fn say(line: &str) {
    eprintln!("\r\x1b[2K{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
