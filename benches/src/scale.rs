//! `scale`: one queue of N jobs drained by worker processes on 1, 2, 4 and 8 simulated hosts.
//!
//! Each host is a network namespace (`ip netns` and a veth pair, made by
//! `scripts/bench.sh --scale`) running one worker process. Its traffic reaches the store
//! through a [`Relay`] in this process that holds each chunk 0.5 ms each way, so a round
//! trip costs what it does between machines. The stores are this machine's PostgreSQL and
//! Redis and a three-node Redis Cluster the script starts; this command forms the cluster.
//!
//! Per store it reports jobs/s, the CPU the store's processes, the workers and the relay
//! used (in cores), and the scaling efficiency: throughput ÷ (hosts × one host's
//! throughput). A phase "direct" (no namespace, no relay) and one through the relay at 0 ms
//! show what the relay itself costs.

use crate::process::{Mode, Spawn, WorkerProcess};
use crate::rakit::Rakit;
use crate::relay::Relay;
use crate::report::{machine, median, rakit_job_now, rate, splice};
use crate::store::{Store, Target, redis_delete_prefix};
use crate::system::{Client, System};
use crate::workload::{dispatch_bulk, progress, say};
use crate::{BenchError, args, chart, procfs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The Redis Cluster's nodes listen here on 127.0.0.1 and announce port − 100.
const CLUSTER_NODES: [u16; 3] = [7101, 7102, 7103];

/// A store the scale bench drains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScaleStore {
    Postgres,
    Redis,
    Cluster,
}

impl ScaleStore {
    fn parse(name: &str) -> Result<ScaleStore, BenchError> {
        match name.trim() {
            "postgres" => Ok(ScaleStore::Postgres),
            "redis" => Ok(ScaleStore::Redis),
            "cluster" | "redis-cluster" => Ok(ScaleStore::Cluster),
            other => Err(BenchError::Usage(format!(
                "unknown store `{other}` for `scale`; use postgres, redis or cluster"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ScaleStore::Postgres => "postgres",
            ScaleStore::Redis => "redis",
            ScaleStore::Cluster => "redis-cluster",
        }
    }

    /// The relay's (listen port, server port) pairs.
    fn ports(self) -> Vec<(u16, u16)> {
        match self {
            ScaleStore::Postgres => vec![(5432, 5432)],
            ScaleStore::Redis => vec![(6379, 6379)],
            ScaleStore::Cluster => CLUSTER_NODES.iter().map(|p| (p - 100, *p)).collect(),
        }
    }

    /// The url workers use: through the relay at `ip`, or straight to the server.
    fn url(self, ip: Option<Ipv4Addr>) -> String {
        let host = ip.map(|ip| ip.to_string());
        let host = host.as_deref().unwrap_or("127.0.0.1");
        match self {
            ScaleStore::Postgres => format!("postgres://postgres@{host}:5432/test"),
            ScaleStore::Redis => format!("redis://{host}:6379"),
            ScaleStore::Cluster => format!("redis://{host}:{}", CLUSTER_NODES[0] - 100),
        }
    }

    /// Whether a process is one of this store's servers, by its name and command line.
    fn owns(self, comm: &str, cmdline: &str) -> bool {
        match self {
            ScaleStore::Postgres => comm == "postgres",
            ScaleStore::Redis => comm == "redis-server" && cmdline.contains(":6379"),
            ScaleStore::Cluster => {
                comm == "redis-server"
                    && CLUSTER_NODES
                        .iter()
                        .any(|p| cmdline.contains(&format!(":{p}")))
            }
        }
    }
}

/// The route from the worker hosts to the store in one phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Route {
    /// From this machine's own namespace, without the relay.
    Direct,
    /// From the hosts' namespaces through the relay, with this delay each way (µs).
    Relay(u64),
}

/// The figures of one store at one number of hosts, over the rounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// `postgres`, `redis` or `redis-cluster`.
    pub store: String,
    /// Worker hosts (processes, one per namespace).
    pub hosts: u64,
    /// How the hosts reached the store.
    pub path: Route,
    /// Jobs at a time in each host's worker process.
    pub concurrency: u64,
    /// Jobs per second, from `go` to the start of the last job, one per round.
    pub throughput: Vec<f64>,
    /// Cores the store's server processes used while draining, one per round.
    pub store_cpu: Vec<f64>,
    /// Cores all worker processes used together, one per round.
    pub worker_cpu: Vec<f64>,
    /// Cores this process (the relay) used, one per round.
    pub relay_cpu: Vec<f64>,
    /// Cores the whole machine was busy (all processes and the kernel), one per round.
    pub machine_cpu: Vec<f64>,
    /// The largest peak RSS of a worker process, in KiB.
    pub worker_rss_kib: u64,
}

/// Everything one `scale` run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScaleResults {
    /// When the run started (UTC).
    pub started: String,
    /// Cores, memory and kernel.
    pub machine: String,
    /// Jobs drained in each phase.
    pub jobs: u64,
    /// The relay's delay each way, in microseconds.
    pub delay_us: u64,
    /// One row per store, hosts and path.
    pub rows: Vec<Row>,
}

struct Options {
    stores: Vec<ScaleStore>,
    hosts: Vec<u64>,
    jobs: u64,
    concurrency: Vec<u64>,
    delay_us: u64,
    runs: u32,
    ip: Ipv4Addr,
    netns: String,
    data: PathBuf,
    out: PathBuf,
    doc: Option<PathBuf>,
    phase_timeout: u64,
    results: Option<PathBuf>,
}

fn options(argv: &[String]) -> Result<Options, BenchError> {
    let o = args::Opts::parse(argv)?;
    o.only(&[
        "stores",
        "hosts",
        "jobs",
        "concurrency",
        "delay-us",
        "runs",
        "ip",
        "netns",
        "data",
        "out",
        "doc",
        "phase-timeout",
        "results",
    ])?;
    let stores = o
        .value("stores")
        .unwrap_or("postgres,redis,cluster")
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(ScaleStore::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let hosts = o.numbers("hosts")?.unwrap_or(vec![1, 2, 4, 8]);
    if hosts.is_empty() || hosts.contains(&0) {
        return Err(BenchError::Usage(
            "`--hosts` wants numbers of hosts above 0, e.g. 1,2,4,8".into(),
        ));
    }
    let ip = o.value("ip").unwrap_or("10.231.0.1");
    let ip = ip
        .parse()
        .map_err(|_| BenchError::Usage(format!("`--ip` wants an IPv4 address, not {ip:?}")))?;
    let data = std::path::absolute(o.value("data").unwrap_or("target/bench/data"))
        .map_err(|e| BenchError::Io(format!("cannot resolve the data folder: {e}")))?;
    Ok(Options {
        stores,
        hosts,
        jobs: o.number("jobs")?.unwrap_or(50_000).max(1),
        concurrency: o
            .numbers("concurrency")?
            .unwrap_or(vec![16])
            .into_iter()
            .map(|c| c.max(1))
            .collect(),
        delay_us: o.number("delay-us")?.unwrap_or(500),
        runs: o.number("runs")?.unwrap_or(1).max(1) as u32,
        ip,
        netns: o.value("netns").unwrap_or("rkb-h").to_string(),
        data,
        out: PathBuf::from(o.value("out").unwrap_or("target/bench/scale.json")),
        doc: o.value("doc").map(PathBuf::from),
        phase_timeout: o.number("phase-timeout")?.unwrap_or(300).max(10),
        results: o.value("results").map(PathBuf::from),
    })
}

/// Runs `scale` with the command line `argv`.
pub fn run(argv: &[String]) -> Result<(), BenchError> {
    let o = options(argv)?;
    if let Some(path) = &o.results {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BenchError::Io(format!("cannot read {}: {e}", path.display())))?;
        let results: ScaleResults = serde_json::from_str(&text).map_err(|e| {
            BenchError::Usage(format!(
                "{} is not a scale results file: {e}",
                path.display()
            ))
        })?;
        return publish(&o, &results);
    }
    let most = o.hosts.iter().copied().max().unwrap_or(1);
    for k in 1..=most {
        let name = format!("{}{k}", o.netns);
        if !Path::new("/var/run/netns").join(&name).exists() {
            return Err(BenchError::Usage(format!(
                "the network namespace {name} does not exist; run scripts/bench.sh --scale, which creates the hosts' namespaces"
            )));
        }
    }
    std::fs::create_dir_all(&o.data)
        .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", o.data.display())))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Io(format!("cannot start the async runtime: {e}")))?;
    let results = runtime.block_on(measure_all(&o))?;
    let text = serde_json::to_string_pretty(&results)
        .map_err(|e| BenchError::Io(format!("cannot write the results: {e}")))?;
    if let Some(dir) = o.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&o.out, text)
        .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", o.out.display())))?;
    println!("results written to {}", o.out.display());
    publish(&o, &results)
}

/// Prints the table, and rewrites the page and its chart when `--doc` names a page.
fn publish(o: &Options, results: &ScaleResults) -> Result<(), BenchError> {
    println!("\n{}", markdown(results));
    if let Some(doc) = &o.doc {
        let svg = doc.with_file_name("scaling-hosts.svg");
        std::fs::write(&svg, hosts_chart(results))
            .map_err(|e| BenchError::Io(format!("cannot write {}: {e}", svg.display())))?;
        splice(doc, &markdown(results))?;
        println!("updated {} and {}", doc.display(), svg.display());
    }
    Ok(())
}

async fn measure_all(o: &Options) -> Result<ScaleResults, BenchError> {
    let delay = Arc::new(AtomicU64::new(0));
    let mut relays = Vec::new();
    for store in &o.stores {
        for (listen, server) in store.ports() {
            relays.push(Relay::start(
                SocketAddr::from((o.ip, listen)),
                SocketAddr::from(([127, 0, 0, 1], server)),
                delay.clone(),
            )?);
        }
        if *store == ScaleStore::Cluster {
            form_cluster(o.ip).await?;
        }
    }
    let mut results = ScaleResults {
        started: rakit_job_now(),
        machine: machine(),
        jobs: o.jobs,
        delay_us: o.delay_us,
        rows: Vec::new(),
    };
    for run in 1..=o.runs {
        for store in &o.stores {
            for &c in &o.concurrency {
                let mut phases = Vec::new();
                if *store != ScaleStore::Cluster {
                    phases.push((1, Route::Direct));
                }
                phases.push((1, Route::Relay(0)));
                phases.extend(o.hosts.iter().map(|h| (*h, Route::Relay(o.delay_us))));
                for (hosts, path) in phases {
                    if let Route::Relay(us) = path {
                        delay.store(us, Ordering::Relaxed);
                    }
                    let label = format!("round {run}/{}, {} c={c}", o.runs, store.name());
                    let figures = phase(o, *store, hosts, path, c, &label).await?;
                    say(&format!(
                        "{label}, {hosts} host(s) {}: {} jobs/s, store {:.2} cores, workers {:.2}, relay {:.2}, machine {:.2}",
                        path_name(path),
                        rate(Some(figures.throughput)),
                        figures.store_cpu,
                        figures.worker_cpu,
                        figures.relay_cpu,
                        figures.machine_cpu
                    ));
                    let key = (store.name(), hosts, path, c);
                    record(&mut results.rows, key, figures);
                }
            }
        }
    }
    drop(relays);
    Ok(results)
}

struct Figures {
    throughput: f64,
    store_cpu: f64,
    worker_cpu: f64,
    relay_cpu: f64,
    machine_cpu: f64,
    worker_rss_kib: u64,
}

fn record(rows: &mut Vec<Row>, key: (&str, u64, Route, u64), f: Figures) {
    let (store, hosts, path, concurrency) = key;
    let at = rows.iter().position(|r| {
        r.store == store && r.hosts == hosts && r.path == path && r.concurrency == concurrency
    });
    let row = match at {
        Some(i) => &mut rows[i],
        None => {
            rows.push(Row {
                store: store.into(),
                hosts,
                path,
                concurrency,
                throughput: Vec::new(),
                store_cpu: Vec::new(),
                worker_cpu: Vec::new(),
                relay_cpu: Vec::new(),
                machine_cpu: Vec::new(),
                worker_rss_kib: 0,
            });
            rows.last_mut().expect("just pushed")
        }
    };
    row.throughput.push(f.throughput);
    row.store_cpu.push(f.store_cpu);
    row.worker_cpu.push(f.worker_cpu);
    row.relay_cpu.push(f.relay_cpu);
    row.machine_cpu.push(f.machine_cpu);
    row.worker_rss_kib = row.worker_rss_kib.max(f.worker_rss_kib);
}

/// Fills a fresh corner of the store with `o.jobs` jobs and drains it from `hosts` workers.
async fn phase(
    o: &Options,
    store: ScaleStore,
    hosts: u64,
    path: Route,
    concurrency: u64,
    label: &str,
) -> Result<Figures, BenchError> {
    let via_relay = matches!(path, Route::Relay(_));
    let mut target = Target::fresh(
        match store {
            ScaleStore::Postgres => Store::Postgres,
            _ => Store::Redis,
        },
        &o.data,
    );
    target.url = Some(store.url(via_relay.then_some(o.ip)));
    let client = Rakit.client(&target).await?;
    let outcome = drain(
        o,
        (store, hosts, concurrency),
        via_relay,
        &target,
        &client,
        label,
    )
    .await;
    let cleaned = match store {
        ScaleStore::Cluster => flush_cluster().await,
        ScaleStore::Redis => redis_delete_prefix(&target.ns).await,
        ScaleStore::Postgres => client.cleanup().await,
    };
    let figures = outcome?;
    cleaned?;
    Ok(figures)
}

async fn drain(
    o: &Options,
    (store, hosts, concurrency): (ScaleStore, u64, u64),
    via_relay: bool,
    target: &Target,
    client: &Arc<dyn Client>,
    label: &str,
) -> Result<Figures, BenchError> {
    dispatch_bulk(client, o.jobs, label).await?;
    let mut workers = Vec::new();
    for k in 1..=hosts {
        let netns = format!("{}{k}", o.netns);
        workers.push(
            WorkerProcess::start(Spawn {
                system: Rakit.name(),
                target,
                mode: Mode::Share,
                concurrency: concurrency as usize,
                sleep_ms: 1000,
                netns: via_relay.then_some(netns.as_str()),
            })
            .await?,
        );
    }
    let store_before = store_cpu(store);
    let me = std::process::id();
    let relay_before = procfs::cpu_seconds(me).unwrap_or(0.0);
    let machine_before = busy_seconds();
    let (started, go_us) = (Instant::now(), crate::probe::now_us());
    for w in &mut workers {
        w.send("go").await?;
    }
    let mut counts = vec![0u64; workers.len()];
    let mut shown = Instant::now();
    let what = format!("{hosts} host(s) draining");
    while counts.iter().sum::<u64>() < o.jobs {
        if started.elapsed() > Duration::from_secs(o.phase_timeout) {
            return Err(BenchError::Worker(format!(
                "{} of {} jobs ran within {}s; the phase was abandoned",
                counts.iter().sum::<u64>(),
                o.jobs,
                o.phase_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        for (w, count) in workers.iter_mut().zip(&mut counts) {
            w.drain(|line| {
                if let Some(n) = line.strip_prefix("progress ").and_then(|n| n.parse().ok()) {
                    *count = n;
                }
            })?;
        }
        if shown.elapsed() >= Duration::from_secs(1) {
            progress(label, &what, counts.iter().sum(), o.jobs);
            shown = Instant::now();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let store_used = cpu_since(&store_before, &store_cpu(store));
    let relay_used = procfs::cpu_seconds(me).unwrap_or(0.0) - relay_before;
    let machine_used = busy_seconds() - machine_before;
    let worker_used: f64 = workers
        .iter()
        .filter_map(|w| procfs::cpu_seconds(w.pid()))
        .sum();
    let (mut last_us, mut ran, mut rss) = (go_us, 0u64, 0u64);
    for mut w in workers {
        w.send("quit").await?;
        let line = w.wait_for("ran", Duration::from_secs(60), |_| {}).await?;
        let mut parts = line
            .split_whitespace()
            .map(|p| p.parse::<u64>().unwrap_or(0));
        ran += parts.next().unwrap_or(0);
        last_us = last_us.max(parts.next().unwrap_or(0));
        rss = rss.max(parts.next().unwrap_or(0));
        w.finish().await?;
    }
    let left = client.pending().await?;
    if left > 0 || ran < o.jobs {
        return Err(BenchError::Worker(format!(
            "{ran} of {} jobs ran and {left} are still pending after the drain",
            o.jobs
        )));
    }
    let seconds = (last_us.saturating_sub(go_us).max(1)) as f64 / 1e6;
    Ok(Figures {
        throughput: o.jobs as f64 / seconds,
        store_cpu: store_used / elapsed,
        worker_cpu: worker_used / elapsed,
        relay_cpu: relay_used / elapsed,
        machine_cpu: machine_used / elapsed,
        worker_rss_kib: rss,
    })
}

/// CPU seconds the whole machine has been busy (`/proc/stat`: all but idle and I/O wait).
fn busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy as f64 / procfs::clock_ticks() as f64
}

/// CPU seconds used so far by each process of `store`'s servers.
fn store_cpu(store: ScaleStore) -> HashMap<u32, f64> {
    let mut used = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return used;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if store.owns(comm.trim(), &cmdline)
            && let Some(s) = procfs::cpu_seconds(pid)
        {
            used.insert(pid, s);
        }
    }
    used
}

/// CPU seconds used between two snapshots; a process born in between counts from zero.
fn cpu_since(before: &HashMap<u32, f64>, after: &HashMap<u32, f64>) -> f64 {
    after
        .iter()
        .map(|(pid, s)| s - before.get(pid).copied().unwrap_or(0.0))
        .sum()
}

async fn node(port: u16) -> Result<redis::aio::MultiplexedConnection, BenchError> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(|e| {
        BenchError::Store(format!("cannot use the cluster node on port {port}: {e}"))
    })?;
    client.get_multiplexed_async_connection().await.map_err(|e| {
        BenchError::Store(format!(
            "the cluster node on port {port} does not answer ({e}); scripts/bench.sh --scale starts it"
        ))
    })
}

async fn cluster_ok(conn: &mut redis::aio::MultiplexedConnection) -> bool {
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(conn)
        .await
        .unwrap_or_default();
    info.contains("cluster_state:ok")
}

/// Gives each node a third of the slots and introduces them, unless they form a cluster
/// already; waits until every node says the cluster is ok.
async fn form_cluster(ip: Ipv4Addr) -> Result<(), BenchError> {
    let mut nodes = Vec::new();
    for port in CLUSTER_NODES {
        nodes.push(node(port).await?);
    }
    let mut all_ok = true;
    for n in &mut nodes {
        all_ok &= cluster_ok(n).await;
    }
    if all_ok {
        return Ok(());
    }
    say("forming the three-node Redis Cluster");
    let per = 16384 / nodes.len() as u64;
    for (i, n) in nodes.iter_mut().enumerate() {
        let lo = i as u64 * per;
        let hi = if i + 1 == CLUSTER_NODES.len() {
            16383
        } else {
            lo + per - 1
        };
        let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(lo)
            .arg(hi)
            .query_async(n)
            .await;
    }
    for port in &CLUSTER_NODES[1..] {
        redis::cmd("CLUSTER")
            .arg("MEET")
            .arg(ip.to_string())
            .arg(*port)
            .arg(port + 10_000)
            .query_async::<()>(&mut nodes[0])
            .await
            .map_err(|e| BenchError::Store(format!("CLUSTER MEET failed: {e}")))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ok = true;
        for n in &mut nodes {
            ok &= cluster_ok(n).await;
        }
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Store(
                "the three-node Redis Cluster did not come up within 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn flush_cluster() -> Result<(), BenchError> {
    for port in CLUSTER_NODES {
        let mut n = node(port).await?;
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut n)
            .await
            .map_err(|e| BenchError::Store(format!("FLUSHALL on port {port} failed: {e}")))?;
    }
    Ok(())
}

fn path_name(path: Route) -> String {
    match path {
        Route::Direct => "direct".into(),
        Route::Relay(us) => format!("relay {} ms", us as f64 / 1000.0),
    }
}

/// Scaling efficiency of `row`: its throughput ÷ (hosts × one host's on the same path).
fn efficiency(rows: &[Row], row: &Row) -> Option<f64> {
    let one = rows.iter().find(|r| {
        r.store == row.store
            && r.path == row.path
            && r.concurrency == row.concurrency
            && r.hosts == 1
    })?;
    let base = median(&one.throughput)?;
    Some(median(&row.throughput)? / (row.hosts as f64 * base))
}

/// The results as the Markdown block of docs/scaling.md.
pub fn markdown(r: &ScaleResults) -> String {
    let mut out = format!(
        "Measured {} on {}: {} jobs per phase, one worker process per host, \
         medians of {} round(s).\n\n",
        r.started,
        r.machine,
        r.jobs,
        r.rows.first().map(|row| row.throughput.len()).unwrap_or(0)
    );
    out.push_str("![Throughput by worker hosts](scaling-hosts.svg)\n\n");
    out.push_str(
        "| store | concurrency | hosts | path | jobs/s | efficiency | store CPU | workers CPU | relay CPU | machine CPU | store µs/job | worker peak RSS |\n",
    );
    out.push_str("|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    let cores = |v: &[f64]| {
        median(v)
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "—".into())
    };
    for row in &r.rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |\n",
            row.store,
            row.concurrency,
            row.hosts,
            path_name(row.path),
            rate(median(&row.throughput)),
            efficiency(&r.rows, row)
                .map(|e| format!("{e:.2}"))
                .unwrap_or_else(|| "—".into()),
            cores(&row.store_cpu),
            cores(&row.worker_cpu),
            cores(&row.relay_cpu),
            cores(&row.machine_cpu),
            match (median(&row.store_cpu), median(&row.throughput)) {
                (Some(cpu), Some(t)) if t > 0.0 => format!("{:.1}", cpu / t * 1e6),
                _ => "—".into(),
            },
            row.worker_rss_kib as f64 / 1024.0
        ));
    }
    out.push_str(
        "\nCPU is in cores busy while draining (the machine has the number above); \
         store µs/job is the store's CPU time per job; efficiency compares hosts at the \
         same concurrency on the same path.\n",
    );
    out
}

/// The chart of docs/scaling.md: jobs/s by hosts through the delaying relay, per store.
pub fn hosts_chart(r: &ScaleResults) -> String {
    let mut series: Vec<(String, Vec<(u64, f64)>)> = Vec::new();
    for row in r
        .rows
        .iter()
        .filter(|row| row.path == Route::Relay(r.delay_us))
    {
        let Some(v) = median(&row.throughput) else {
            continue;
        };
        let name = format!("{} c={}", row.store, row.concurrency);
        match series.iter_mut().find(|(s, _)| *s == name) {
            Some((_, points)) => points.push((row.hosts, v)),
            None => series.push((name, vec![(row.hosts, v)])),
        }
    }
    chart::hosts_lines(
        &series,
        &format!(
            "Jobs/s by worker hosts ({} jobs, {} ms each way)",
            r.jobs,
            r.delay_us as f64 / 1000.0
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(store: &str, hosts: u64, jobs_per_s: f64) -> Row {
        Row {
            store: store.into(),
            hosts,
            path: Route::Relay(500),
            concurrency: 16,
            throughput: vec![jobs_per_s],
            store_cpu: vec![0.5],
            worker_cpu: vec![0.4],
            relay_cpu: vec![0.1],
            machine_cpu: vec![1.0],
            worker_rss_kib: 10_240,
        }
    }

    #[test]
    fn efficiency_compares_with_one_host_on_the_same_path() {
        let rows = vec![row("redis", 1, 1000.0), row("redis", 4, 3000.0)];
        assert_eq!(efficiency(&rows, &rows[1]), Some(0.75));
        let r = ScaleResults {
            jobs: 100,
            delay_us: 500,
            rows,
            ..ScaleResults::default()
        };
        let table = markdown(&r);
        assert!(table.contains("| redis | 16 | 4 | relay 0.5 ms | 3 000 | 0.75 |"));
        assert!(hosts_chart(&r).contains("<polyline"));
    }

    #[test]
    fn store_processes_are_told_apart_by_their_port() {
        assert!(ScaleStore::Redis.owns("redis-server", "redis-server 127.0.0.1:6379"));
        assert!(!ScaleStore::Redis.owns("redis-server", "redis-server *:7101 [cluster]"));
        assert!(ScaleStore::Cluster.owns("redis-server", "redis-server *:7101 [cluster]"));
        assert!(ScaleStore::Postgres.owns("postgres", "postgres: main: idle"));
    }
}
