//! The worker process: both its side (`<bench> worker …`, reading `go`/`quit` on standard
//! input and writing `ready`, `progress`, `lat` and `done` lines) and the benchmark's side,
//! which starts it, talks to it and reads `/proc` about it.
//!
//! The worker is a program that links the systems and their jobs exactly as an
//! application does: `rakit-job-bench-worker`, which holds nothing else, beside the
//! `rakit-job-benches` binary (so its memory is what a worker's would be, not the
//! harness's), or the benchmark binary itself (the peers' binary):
//! `<worker> worker --system rakit-job --store postgres --ns … --mode burn`.

use crate::store::{Store, Target};
use crate::system::{System, WorkerCtx};
use crate::{BenchError, probe, procfs};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// What a worker process is started to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Drain this many queued jobs and report the time from `go` to the last one.
    Burn(u64),
    /// Report each job's pickup latency as it starts.
    Latency,
    /// Run a share of jobs drained by several worker processes: report the count often,
    /// and on `quit` how many ran here and when the latest started.
    Share,
}

/// The program beside this one that workers run, if not this one (see the module's doc).
static WORKER_PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Makes workers run `program`, found beside this binary, instead of this binary.
///
/// ```
/// rakit_job_benches::process::run_workers_as("rakit-job-bench-worker");
/// ```
pub fn run_workers_as(program: &'static str) {
    WORKER_PROGRAM.get_or_init(|| program);
}

/// The path of the program workers run.
fn worker_program() -> Result<PathBuf, BenchError> {
    let this = std::env::current_exe()
        .map_err(|e| BenchError::Io(format!("cannot find this program: {e}")))?;
    let Some(name) = WORKER_PROGRAM.get() else {
        return Ok(this);
    };
    let program = this.with_file_name(name);
    if !program.exists() {
        return Err(BenchError::Io(format!(
            "the worker program {} is missing; build it with `cargo build --release -p rakit-job-benches`",
            program.display()
        )));
    }
    Ok(program)
}

/// The worker side: parses `worker` arguments and runs `system`'s worker until told to quit.
pub fn worker_main(systems: &[&dyn System], argv: &[String]) -> Result<(), BenchError> {
    let opts = crate::args::Opts::parse(argv)?;
    let name = opts.value("system").unwrap_or("rakit-job");
    let system = systems
        .iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| BenchError::Usage(format!("this binary has no system named `{name}`")))?;
    let store = Store::parse(opts.value("store").unwrap_or("sqlite"))?;
    let target = Target {
        store,
        ns: opts
            .value("ns")
            .ok_or_else(|| BenchError::Usage("`worker` needs --ns".into()))?
            .to_string(),
        dir: PathBuf::from(opts.value("dir").unwrap_or(".")),
        url: opts.value("url").map(str::to_string),
    };
    let mode = match opts.value("mode") {
        Some("latency") => Mode::Latency,
        Some("share") => Mode::Share,
        _ => Mode::Burn(opts.number("expect")?.unwrap_or(0)),
    };
    let concurrency = opts.number("concurrency")?.unwrap_or(1) as usize;
    let sleep_ms = opts.number("sleep-ms")?.unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let (ctx, go_tx, stop_tx) = WorkerCtx::new(concurrency, sleep_ms);
        let go_at: Arc<OnceLock<Instant>> = Arc::default();
        let started = go_at.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match line.trim() {
                    "go" => {
                        let _ = started.set(Instant::now());
                        let _ = go_tx.send(true);
                    }
                    "quit" => break,
                    _ => {}
                }
            }
            let _ = stop_tx.send(true);
        });
        match mode {
            Mode::Latency => {
                let mut rx = probe::report_latency();
                tokio::spawn(async move {
                    while let Some(us) = rx.recv().await {
                        println!("lat {us}");
                    }
                });
            }
            Mode::Burn(expect) => {
                let go_at = go_at.clone();
                tokio::spawn(async move {
                    let last = probe::all_ran(expect).await;
                    let elapsed = go_at
                        .get()
                        .map(|g| last.saturating_duration_since(*g))
                        .unwrap_or_default();
                    let rss = procfs::peak_rss_kib(std::process::id()).unwrap_or(0);
                    println!("done {} {rss}", elapsed.as_micros());
                });
                tokio::spawn(report_progress(Duration::from_millis(500)));
            }
            Mode::Share => {
                tokio::spawn(report_progress(Duration::from_millis(20)));
            }
        }
        system.work(&target, ctx).await?;
        if mode == Mode::Share {
            let rss = procfs::peak_rss_kib(std::process::id()).unwrap_or(0);
            println!("ran {} {} {rss}", probe::count(), probe::latest_us());
        }
        println!("bye");
        Ok(())
    })
}

/// Prints `progress N` (jobs run so far) every `every`.
async fn report_progress(every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        println!("progress {}", probe::count());
    }
}

/// The benchmark's side of a running worker process.
pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    pid: u32,
    log: PathBuf,
}

/// How a worker process is started.
pub struct Spawn<'a> {
    /// The system to run.
    pub system: &'a str,
    /// Where.
    pub target: &'a Target,
    /// What to measure.
    pub mode: Mode,
    /// Jobs at the same time.
    pub concurrency: usize,
    /// Poll interval for systems that poll.
    pub sleep_ms: u64,
    /// The network namespace to start it in (`ip netns exec`), if any.
    pub netns: Option<&'a str>,
}

impl WorkerProcess {
    /// Starts a worker (the program [`run_workers_as`] named, else this binary) and waits
    /// (up to 60 s) until it is connected.
    pub async fn start(spawn: Spawn<'_>) -> Result<WorkerProcess, BenchError> {
        let exe = worker_program()?;
        let mut args: Vec<String> = vec!["worker".into(), "--system".into(), spawn.system.into()];
        args.extend(spawn.target.args());
        match spawn.mode {
            Mode::Burn(n) => args.extend([
                "--mode".into(),
                "burn".into(),
                "--expect".into(),
                n.to_string(),
            ]),
            Mode::Latency => args.extend(["--mode".into(), "latency".into()]),
            Mode::Share => args.extend(["--mode".into(), "share".into()]),
        }
        args.extend(["--concurrency".into(), spawn.concurrency.to_string()]);
        args.extend(["--sleep-ms".into(), spawn.sleep_ms.to_string()]);
        let log = spawn.target.dir.join(format!(
            "worker-{}-{}{}.log",
            spawn.system,
            spawn.target.ns,
            spawn.netns.map(|n| format!("-{n}")).unwrap_or_default()
        ));
        let log_file = std::fs::File::create(&log)
            .map_err(|e| BenchError::Io(format!("cannot create {}: {e}", log.display())))?;
        let mut command = match spawn.netns {
            Some(netns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::Io(format!("cannot start a worker process: {e}")))?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut worker = WorkerProcess {
            child,
            stdin,
            lines,
            pid,
            log,
        };
        worker
            .wait_for("ready", Duration::from_secs(60), |_| {})
            .await?;
        Ok(worker)
    }

    /// The process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends one line (`go` or `quit`).
    pub async fn send(&mut self, line: &str) -> Result<(), BenchError> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| BenchError::Io(format!("the worker process went away: {e}")))
    }

    /// The next line starting with `prefix` (its rest), passing other lines to `other`;
    /// fails after `limit` or when the worker exits.
    pub async fn wait_for(
        &mut self,
        prefix: &str,
        limit: Duration,
        mut other: impl FnMut(&str),
    ) -> Result<String, BenchError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Ok(rest.trim().to_string());
                    }
                    other(&line);
                }
                Ok(None) => {
                    return Err(BenchError::Worker(format!(
                        "the worker process exited before `{prefix}`; see {}",
                        self.log.display()
                    )));
                }
                Err(_) => {
                    return Err(BenchError::Worker(format!(
                        "no `{prefix}` from the worker within {}s; see {}",
                        limit.as_secs(),
                        self.log.display()
                    )));
                }
            }
        }
    }

    /// Passes every line the worker has written so far to `each`, without waiting; fails
    /// when the worker has exited.
    pub fn drain(&mut self, mut each: impl FnMut(&str)) -> Result<(), BenchError> {
        loop {
            match self.lines.try_recv() {
                Ok(line) => each(&line),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Err(BenchError::Worker(format!(
                        "the worker process exited early; see {}",
                        self.log.display()
                    )));
                }
            }
        }
    }

    /// Asks the worker to stop gracefully; kills it after 30 s.
    pub async fn finish(mut self) -> Result<(), BenchError> {
        let _ = self.send("quit").await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(BenchError::Worker(format!(
                "the worker process ended with {status}; see {}",
                self.log.display()
            ))),
            Ok(Err(e)) => Err(BenchError::Io(format!(
                "cannot wait for the worker process: {e}"
            ))),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(BenchError::Worker(format!(
                    "the worker did not stop within 30 s and was killed; see {}",
                    self.log.display()
                )))
            }
        }
    }

    /// The worker's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}
