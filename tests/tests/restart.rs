//! Server restarts in the middle of a drain: dispatchers get a clear error and retry,
//! workers log the outage and reconnect, and no acknowledged dispatch is lost.
//!
//! These tests restart the machine's PostgreSQL and MariaDB servers (and a private Redis
//! with `appendonly yes`), so they run one at a time, in their own test binary.

use rakit_job::{Config, JobSpec};
use rakit_job_tests::{Harness, signal, temp_dir, unique_name, wait_until};
use rakit_test_jobs::{RecordRun, read_log};
use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;
use tokio::sync::Mutex;

/// One restart test at a time: they share the servers.
static SERIAL: Mutex<()> = Mutex::const_new(());

const JOBS: usize = 1500;

fn config(driver: &str, url: String) -> Config {
    let name = unique_name("rk_restart");
    Config {
        driver: driver.into(),
        url,
        table: name.clone(),
        failed_table: format!("{name}_failed"),
        key: name.replace('_', "."),
        lease_ms: 2000,
        sleep_ms: 100,
        ..Config::default()
    }
}

fn run(cmd: &str) {
    let status = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .status()
        .expect("cannot run bash");
    assert!(status.success(), "`{cmd}` failed with {status}");
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Dispatches JOBS jobs while two worker processes drain them and `restart` runs twice;
/// returns how many dispatches had to be retried because the server was down.
async fn drain_through_restarts(h: &Harness, restart: impl Fn()) -> usize {
    let log = h.log("restart.log");
    let workers: Vec<_> = (0..2)
        .map(|_| h.spawn_worker(&["--concurrency=4", "--sleep=50"]))
        .collect();
    let dispatcher = {
        let queue = h.queue.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let mut retried = 0;
            for i in 0..JOBS {
                loop {
                    let job = RecordRun {
                        log: log.clone(),
                        tag: format!("job-{i}"),
                    };
                    match RecordRun::dispatch(job).via(&queue).await {
                        Ok(_) => break,
                        Err(e) => {
                            assert!(
                                e.to_string().contains("cannot reach")
                                    || e.to_string().contains("failed"),
                                "unclear dispatch error: {e}"
                            );
                            retried += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                if i % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            retried
        })
    };
    for _ in 0..2 {
        wait_until(
            "some jobs to run before the restart",
            Duration::from_secs(120),
            || async { !read_log(&log).is_empty() },
        )
        .await;
        tokio::task::block_in_place(&restart);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let retried = dispatcher.await.expect("the dispatcher panicked");
    wait_until(
        "every job to run after the restarts",
        Duration::from_secs(240),
        || async {
            read_log(&log)
                .into_iter()
                .map(|e| e.label)
                .collect::<HashSet<_>>()
                .len()
                >= JOBS
        },
    )
    .await;
    let ran: HashSet<String> = read_log(&log).into_iter().map(|e| e.label).collect();
    assert_eq!(ran.len(), JOBS, "jobs were lost");
    // A job whose ack was lost in an outage runs again once its lease runs out: the
    // workers must still be there to run it.
    wait_until("the store to empty", Duration::from_secs(120), || async {
        h.totals().await == (0, 0, 0, 0)
    })
    .await;
    for w in &workers {
        signal(w, 15);
    }
    eprintln!(
        "{}: {JOBS} jobs through 2 restarts, {retried} dispatches retried during the outages",
        h.queue.describe()
    );
    retried
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarts_lose_no_job() {
    let _one = SERIAL.lock().await;
    let h = Harness::new(
        config("database", "postgres://postgres@127.0.0.1:5432/test".into()),
        env!("CARGO_BIN_EXE_test-worker"),
    )
    .await;
    drain_through_restarts(&h, || {
        run("pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql | head -n1)\" main restart -m fast");
        assert!(port_open(5432));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restarts_lose_no_job() {
    let _one = SERIAL.lock().await;
    let h = Harness::new(
        config("database", "mysql://root@127.0.0.1:3306/test".into()),
        env!("CARGO_BIN_EXE_test-worker"),
    )
    .await;
    drain_through_restarts(&h, || {
        run("mysqladmin -h 127.0.0.1 -u root shutdown");
        run("for i in $(seq 1 300); do pgrep -x mariadbd >/dev/null || exit 0; sleep 0.1; done; exit 1");
        run("start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd");
        run("for i in $(seq 1 200); do mysql -h 127.0.0.1 -u root -e 'select 1' test >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1");
    })
    .await;
}

/// A private Redis with `appendonly yes` on its own port, restarted by SIGKILL.
struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: u16, dir: std::path::PathBuf) -> Self {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh does it)");
        for _ in 0..200 {
            if port_open(port) {
                return PrivateRedis { port, dir, child };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the private redis-server on port {port} did not start");
    }

    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = PrivateRedis::start(self.port, self.dir.clone());
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_with_appendonly_restarts_lose_no_job() {
    let _one = SERIAL.lock().await;
    let port = 20000 + (std::process::id() % 20000) as u16;
    let redis = std::sync::Mutex::new(PrivateRedis::start(port, temp_dir("redis-aof")));
    let h = Harness::new(
        config("redis", format!("redis://127.0.0.1:{port}")),
        env!("CARGO_BIN_EXE_test-worker"),
    )
    .await;
    drain_through_restarts(&h, || redis.lock().unwrap().restart()).await;
}
