//! The worker conformance suite: the worker's rules (priority, retries, leases, no-overlap,
//! shutdown, wake-ups) checked end to end — dispatch, a
//! real worker (in this process or in separate `test-worker` processes), and a real store.
//!
//! Each driver's test file calls [`worker_suite!`] with an async function returning a fresh,
//! isolated [`Harness`] config (its own SQLite file, tables, key prefix or folder), and gets
//! one test per rule. The jobs come from the second crate, `rakit-test-jobs`.

use rakit_job::{Config, Queue};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub mod bad_input;
pub mod control;
pub mod faults;
pub mod limits;
pub mod stores;
pub mod suite;

pub use rakit_job_core::test_support::{temp_dir, unique_name};

/// One test's store, a connection to it, and the means to start worker processes on it.
pub struct Harness {
    /// The settings; worker processes get the same through `RAKIT_JOB_*`.
    pub config: Config,
    /// This test's connection.
    pub queue: Queue,
    /// A folder for logs and migrations.
    pub dir: PathBuf,
    worker_bin: PathBuf,
    /// More variables for worker processes, from [`Harness::set_env`].
    more_env: Vec<(String, String)>,
}

impl Harness {
    /// Prepares the store `config` names (creating the SQL tables through the CLI's
    /// `job:table` and `migrate`, as a user would) and connects to it.
    pub async fn new(config: Config, worker_bin: &str) -> Harness {
        let dir = temp_dir("harness");
        let mut harness = Harness {
            config,
            queue: Queue::memory(),
            dir,
            worker_bin: PathBuf::from(worker_bin),
            more_env: Vec::new(),
        };
        if harness.config.store_kind() == rakit_job::StoreKind::Sql {
            let path = harness.dir.join("migrations");
            let path = path.to_str().expect("utf-8 temp path");
            harness.cli_ok(&["job:table", "--path", path]).await;
            harness.cli_ok(&["migrate", "--path", path]).await;
        }
        harness.queue = Queue::connect(&harness.config).await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test store {}: {e}",
                harness.config.redacted_url()
            )
        });
        harness
    }

    /// The `test-worker` program worker processes run.
    pub fn worker_bin(&self) -> &std::path::Path {
        &self.worker_bin
    }

    /// Sets a variable for the processes started from now on, e.g. where a job writes.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.more_env.push((name.to_string(), value.to_string()));
    }

    /// The `RAKIT_JOB_*` variables that point a worker process at this store, and those
    /// of [`set_env`](Self::set_env).
    pub fn env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let mut env = vec![
            (
                "RAKIT_JOB_CONFIG".into(),
                self.dir.join("no-config.toml").display().to_string(),
            ),
            ("RAKIT_JOB_DRIVER".into(), c.driver.clone()),
            ("RAKIT_JOB_URL".into(), c.store_url()),
            ("RAKIT_JOB_TABLE".into(), c.table.clone()),
            ("RAKIT_JOB_FAILED_TABLE".into(), c.failed_table.clone()),
            ("RAKIT_JOB_KEY".into(), c.key.clone()),
            ("RAKIT_JOB_LEASE_MS".into(), c.lease_ms.to_string()),
            ("RAKIT_JOB_SLEEP_MS".into(), c.sleep_ms.to_string()),
            ("RAKIT_JOB_MAX_RETRIES".into(), c.max_retries.to_string()),
            ("RAKIT_JOB_MAX_JOB".into(), "0".into()),
        ];
        env.extend(self.more_env.iter().cloned());
        env
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.worker_bin);
        cmd.args(args)
            .envs(self.env())
            .env("RUST_LOG", "rakit_job=info,warn")
            .kill_on_drop(true);
        cmd
    }

    /// Runs a CLI command to completion and returns (exit code, stdout, stderr).
    pub async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .command(args)
            .output()
            .await
            .expect("cannot start test-worker");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub async fn cli_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.cli(args).await;
        assert_eq!(code, 0, "`{}` failed:\n{out}\n{err}", args.join(" "));
        out
    }

    /// Starts a worker process running `job:runall` with these extra arguments.
    pub fn spawn_worker(&self, args: &[&str]) -> Child {
        let mut all = vec!["job:runall"];
        all.extend_from_slice(args);
        let log = std::fs::File::create(
            self.dir
                .join(format!("{}.log", rakit_job::JobId::generate())),
        )
        .expect("cannot create a worker log file");
        self.command(&all)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start test-worker")
    }

    /// A log file path inside this test's folder, for jobs to append to.
    pub fn log(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The failed (and cancelled) jobs, as the store keeps them.
    pub async fn failed(&self) -> Vec<Failed> {
        use rakit_job::driver::{JobQuery, State};
        let mut all = Vec::new();
        for state in [State::Failed, State::Cancelled] {
            let page = self
                .queue
                .driver()
                .jobs(&JobQuery::new(state, 1000))
                .await
                .expect("cannot list the failed jobs");
            all.extend(page.jobs.into_iter().map(|j| Failed {
                error: j.last_error.unwrap_or_default(),
                id: j.id,
                name: j.name,
                queue: j.queue,
                payload: j.payload,
                attempts: j.attempts,
            }));
        }
        all
    }

    /// Counts of (ready, scheduled, reserved, failed) over every queue.
    pub async fn totals(&self) -> (u64, u64, u64, u64) {
        let stats = self.queue.driver().stats().await.expect("stats failed");
        stats.iter().fold((0, 0, 0, 0), |t, s| {
            (
                t.0 + s.ready,
                t.1 + s.scheduled,
                t.2 + s.reserved,
                t.3 + s.failed,
            )
        })
    }
}

/// A job in the failed store, with its payload as stored.
#[derive(Debug)]
pub struct Failed {
    /// Its id.
    pub id: rakit_job::JobId,
    /// Its name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// The payload text.
    pub payload: String,
    /// Why it failed.
    pub error: String,
    /// How many times it ran.
    pub attempts: u32,
}

/// Waits until `check` holds, re-checking every 20 ms; fails the test after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends SIGTERM to every worker, then waits until each has exited.
pub async fn stop_all(workers: &mut [Child]) {
    for worker in workers.iter() {
        signal(worker, 15);
    }
    for worker in workers.iter_mut() {
        worker
            .wait()
            .await
            .expect("a worker could not be waited for");
    }
}

/// Sends a signal to a child process (SIGKILL = 9, SIGTERM = 15).
pub fn signal(child: &Child, sig: i32) {
    let pid = child.id().expect("the worker already exited");
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("cannot run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}
