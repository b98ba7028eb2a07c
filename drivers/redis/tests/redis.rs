//! The redis driver against a real server: the shared conformance suite, then the rules
//! only a shared, networked store has (key isolation, several processes, blocking
//! wake-ups, a server restart).
//!
//! The server is `RAKIT_TEST_REDIS_URL`, by default `redis://127.0.0.1:6379/`. When it
//! cannot be reached every test fails and says so; none is skipped.

use rakit_job_core::{Driver, DriverError, JobId, NewJob, PushOutcome, ReserveRequest, now_ms};
use rakit_job_redis::RedisDriver;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// Test prefixes older than this are swept when a test run starts.
const STALE_AFTER_SECS: u64 = 600;

fn url() -> String {
    std::env::var("RAKIT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_string())
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A random 32-hex-digit marker.
fn marker() -> String {
    uuid_hex(&JobId::generate())
}

fn uuid_hex(id: &JobId) -> String {
    id.as_str().replace('-', "")
}

/// A prefix no other test uses: `rktest.<unix seconds>.<random>`.
fn fresh_prefix() -> String {
    format!("rktest.{}.{}", unix_secs(), marker())
}

/// Connects to the test server, or fails the test with what to do.
async fn connect_to(url: &str, prefix: &str) -> RedisDriver {
    sweep_stale_test_keys();
    rakit_job_redis::connect(url, prefix).await.unwrap_or_else(|e| {
        panic!(
            "the redis driver tests need Redis 6.2+ at {url} (set RAKIT_TEST_REDIS_URL to use another): {e}"
        )
    })
}

async fn driver(prefix: &str) -> RedisDriver {
    connect_to(&url(), prefix).await
}

async fn store() -> rakit_job_core::conformance::Store {
    Arc::new(driver(&fresh_prefix()).await)
}

rakit_job_core::conformance_tests!(store);

/// A plain synchronous connection for looking at keys from the outside.
fn inspect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
        .unwrap_or_else(|e| panic!("the redis driver tests need Redis at {url}: {e}"))
}

/// Every key matching `pattern`, found with SCAN (tests only; the driver never scans).
fn scan(con: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(con)
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

fn delete_prefix(con: &mut redis::Connection, prefix: &str) {
    for key in scan(con, &format!("{prefix}:*")) {
        let _: i64 = redis::cmd("UNLINK").arg(&key).query(con).unwrap();
    }
}

/// Deletes keys left by test runs that ended long ago (the conformance cases cannot
/// clean up after themselves), once per test binary.
fn sweep_stale_test_keys() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Without a server there is nothing to sweep; `connect_to` reports it.
        let Ok(mut con) = redis::Client::open(url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
        else {
            return;
        };
        let cutoff = unix_secs().saturating_sub(STALE_AFTER_SECS);
        for key in scan(&mut con, "rktest.*") {
            let secs = key.split('.').nth(1).and_then(|s| s.parse::<u64>().ok());
            if secs.is_some_and(|s| s < cutoff) {
                let _: i64 = redis::cmd("UNLINK").arg(&key).query(&mut con).unwrap();
            }
        }
    });
}

fn qs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_bad_prefix_or_queue_name_is_refused() {
    for bad in ["", "a:b", "a{b}", "a*", "9lives", "a b", "a/b"] {
        match rakit_job_redis::connect(&url(), bad).await {
            Err(DriverError::Invalid(msg)) => assert!(msg.contains("key prefix"), "{msg}"),
            Err(e) => panic!("prefix {bad:?} gave the wrong error: {e}"),
            Ok(_) => panic!("prefix {bad:?} was accepted"),
        }
    }
    let d = driver(&fresh_prefix()).await;
    for bad in ["a:b", "{x}", "*", "a b", ""] {
        let err = d.push(NewJob::now("n", bad, "{}")).await.unwrap_err();
        assert!(
            matches!(err, DriverError::Invalid(_)),
            "queue {bad:?}: {err}"
        );
        let queues = qs(&[bad]);
        assert!(
            d.reserve(&ReserveRequest::new(&queues, 1, 1000))
                .await
                .is_err()
        );
        assert!(d.wait(&queues, Duration::from_millis(10)).await.is_err());
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let err = rakit_job_redis::connect("redis://:hunter2@127.0.0.1:1/", "rakit.job")
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("cannot reach") && text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2"),
        "the password was printed: {text}"
    );

    let err = rakit_job_redis::connect("http://:hunter2@x/", "rakit.job")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, DriverError::Invalid(_)), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn describe_hides_the_password() {
    let d = driver(&fresh_prefix()).await;
    assert!(
        d.describe().starts_with("redis redis://"),
        "{}",
        d.describe()
    );
    d.check().await.unwrap();
    let caps = d.capabilities();
    assert!(caps.wakes_across_processes && !caps.durable && !caps.has_schema);
}

/// Every key the driver writes, for any operation, starts with `<prefix>:`, even when
/// user text (lock keys, unique keys, names, payloads) holds separators and globs.
#[tokio::test]
async fn no_key_is_written_outside_the_prefix() {
    let m = marker();
    let prefix = format!("rktest.{}.{m}", unix_secs());
    let d = driver(&prefix).await;
    let queue = format!("q-{m}");
    let queues = qs(&[&queue]);
    let evil = format!("}}{{x}}:*?[{m}]:../");

    let mut job = NewJob::now(&format!("n-{m}"), &queue, &format!("{{\"m\":\"{m}\"}}"));
    job.unique_key = Some(evil.clone());
    job.overlap_key = Some(evil.clone());
    assert_eq!(d.push(job).await.unwrap(), PushOutcome::Stored);
    let mut later = NewJob::now("later", &queue, "{}");
    later.available_at = now_ms() + 60_000;
    d.push(later).await.unwrap();
    for _ in 0..3 {
        d.push(NewJob::now("x", &queue, "{}")).await.unwrap();
    }
    let got = d
        .reserve(&ReserveRequest::new(&queues, 4, 60_000))
        .await
        .unwrap();
    assert_eq!(got.len(), 4);
    assert!(d.extend(&got[0].lease, 60_000).await.unwrap());
    assert!(d.fail(&got[1].lease, &m).await.unwrap());
    assert!(d.retry(&got[2].lease, now_ms() + 60_000, &m).await.unwrap());
    assert!(d.release(&got[3].lease, now_ms()).await.unwrap());
    assert!(d.lock(&evil, &m, 60_000).await.unwrap());
    d.wait(&queues, Duration::from_millis(20)).await.unwrap();
    assert_eq!(d.stats().await.unwrap().len(), 1);
    let failed = d.failed(10).await.unwrap();
    assert!(d.retry_failed(&failed[0].id).await.unwrap());

    let mut con = inspect(&url());
    let keys = scan(&mut con, &format!("*{m}*"));
    assert!(keys.len() >= 6, "expected the queue's keys, found {keys:?}");
    for key in &keys {
        assert!(
            key.starts_with(&format!("{prefix}:")),
            "key {key:?} is outside the prefix {prefix}"
        );
    }
    assert!(keys.contains(&format!("{prefix}:lock:{evil}")), "{keys:?}");
    assert!(
        keys.contains(&format!("{prefix}:{{q:{queue}}}:unique:{evil}")),
        "{keys:?}"
    );
    delete_prefix(&mut con, &prefix);
}

/// Separate driver instances (as separate worker processes would have) draining one
/// store together: every job is reserved exactly once and none is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_drain_twenty_thousand_jobs_each_exactly_once() {
    const JOBS: usize = 20_000;
    const WORKERS: usize = 4;
    let prefix = fresh_prefix();
    let pusher = Arc::new(driver(&prefix).await);
    let mut pushers = Vec::new();
    for part in 0..WORKERS {
        let pusher = pusher.clone();
        pushers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (part..JOBS).step_by(WORKERS) {
                let job = NewJob::now("drain", if i % 3 == 0 { "high" } else { "default" }, "{}");
                ids.push(job.id.clone());
                pusher.push(job).await.unwrap();
            }
            ids
        }));
    }
    let mut pushed = HashSet::new();
    for p in pushers {
        pushed.extend(p.await.unwrap());
    }
    assert_eq!(pushed.len(), JOBS);

    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let d = driver(&prefix).await;
        workers.push(tokio::spawn(async move {
            let queues = qs(&["high", "default"]);
            let mut mine = Vec::new();
            loop {
                let got = d
                    .reserve(&ReserveRequest::new(&queues, 8, 60_000))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                for r in got {
                    assert_eq!(r.job.attempts, 1, "job {} ran twice", r.job.id);
                    assert!(d.ack(&r.lease).await.unwrap());
                    mine.push(r.job.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    for w in workers {
        for id in w.await.unwrap() {
            assert!(seen.insert(id.clone()), "job {id} was reserved twice");
        }
    }
    assert_eq!(seen.len(), JOBS, "some jobs were never reserved");
    assert_eq!(seen, pushed);
    assert!(
        pusher.stats().await.unwrap().is_empty(),
        "jobs were left behind"
    );
    delete_prefix(&mut inspect(&url()), &prefix);
}

/// An idle worker blocks on the server and wakes within milliseconds of a push made
/// by another process; without a push it sleeps its whole timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_from_another_instance_wakes_a_waiting_one_at_once() {
    let prefix = fresh_prefix();
    let waiter = Arc::new(driver(&prefix).await);
    let pusher = driver(&prefix).await;

    let started = Instant::now();
    waiter
        .wait(&qs(&["default"]), Duration::from_millis(500))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "an idle wait returned early"
    );

    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let handle = tokio::spawn({
            let waiter = waiter.clone();
            async move {
                waiter
                    .wait(&qs(&["low", "default"]), Duration::from_secs(20))
                    .await
                    .unwrap();
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !handle.is_finished(),
            "wait returned before anything was pushed"
        );
        let pushed_at = Instant::now();
        pusher
            .push(NewJob::now("wake", "default", "{}"))
            .await
            .unwrap();
        let woke_at = tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the waiting instance was not woken by the push")
            .unwrap();
        slowest = slowest.max(woke_at.saturating_duration_since(pushed_at));
        let got = waiter
            .reserve(&ReserveRequest::new(&qs(&["default"]), 1, 60_000))
            .await
            .unwrap();
        waiter.ack(&got[0].lease).await.unwrap();
    }
    assert!(
        slowest < Duration::from_millis(250),
        "a wake-up took {slowest:?}"
    );
    delete_prefix(&mut inspect(&url()), &prefix);
}

/// A worker that found nothing to do wakes when the scheduled job it saw falls due,
/// not only at the end of its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_worker_wakes_when_a_scheduled_job_falls_due() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    let pusher = driver(&prefix).await;
    let mut job = NewJob::now("later", "default", "{}");
    job.available_at = now_ms() + 700;
    pusher.push(job).await.unwrap();
    let queues = qs(&["default"]);
    assert!(
        d.reserve(&ReserveRequest::new(&queues, 1, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    let started = Instant::now();
    d.wait(&queues, Duration::from_secs(20)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the wait ignored the scheduled job: {waited:?}"
    );
    let got = d
        .reserve(&ReserveRequest::new(&queues, 1, 60_000))
        .await
        .unwrap();
    assert_eq!(
        got.len(),
        1,
        "the scheduled job was not due after the wait ({waited:?})"
    );
    delete_prefix(&mut inspect(&url()), &prefix);
}

/// A private redis-server with the append-only file on, killed and restarted by a test.
struct OwnServer {
    port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl OwnServer {
    fn start() -> Self {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("rakit-redis-test-{}", marker()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut server = OwnServer {
            port,
            dir,
            args,
            child: None,
        };
        server.boot();
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn boot(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test starts its own redis-server, which must be on PATH: {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// With `appendonly yes`, a server killed mid-drain loses no acknowledged push: the
/// driver reports the outage as unreachable, reconnects by itself and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_server_loses_no_acknowledged_push() {
    let mut server = OwnServer::start();
    let d = connect_to(&server.url(), "rakit.job").await;
    let queues = qs(&["default"]);
    let mut pushed = HashSet::new();
    for _ in 0..50 {
        let job = NewJob::now("durable", "default", "{}");
        pushed.insert(job.id.clone());
        d.push(job).await.unwrap();
    }
    let first = d
        .reserve(&ReserveRequest::new(&queues, 10, 60_000))
        .await
        .unwrap();
    for r in &first {
        assert!(d.ack(&r.lease).await.unwrap());
        pushed.remove(&r.job.id);
    }

    server.kill();
    let err = d
        .reserve(&ReserveRequest::new(&queues, 10, 60_000))
        .await
        .unwrap_err();
    assert!(err.is_unreachable(), "a dead server gave {err}");
    assert!(
        d.wait(&queues, Duration::from_millis(200)).await.is_err(),
        "waiting on a dead server succeeded"
    );
    server.boot();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rest = HashSet::new();
    loop {
        match d.reserve(&ReserveRequest::new(&queues, 10, 60_000)).await {
            Ok(got) if got.is_empty() => break,
            Ok(got) => {
                for r in got {
                    assert!(d.ack(&r.lease).await.unwrap());
                    rest.insert(r.job.id);
                }
            }
            Err(e) => {
                assert!(e.is_unreachable(), "{e}");
                assert!(
                    Instant::now() < deadline,
                    "the driver did not reconnect: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(rest, pushed, "jobs pushed before the restart were lost");
    d.wait(&queues, Duration::from_millis(50)).await.unwrap();
}

/// A batch ack or retry is one pipeline that loads its script first: one round trip,
/// even on a server that has forgotten the scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_one_pipeline_that_survives_a_script_flush() {
    let server = OwnServer::start();
    let d = connect_to(&server.url(), "rakit.job").await;
    let queues = qs(&["high", "default"]);
    for queue in ["high", "default", "high", "default"] {
        d.push(NewJob::now("batch", queue, "{}")).await.unwrap();
    }
    let held = d
        .reserve(&ReserveRequest::new(&queues, 4, 60_000))
        .await
        .unwrap();
    assert_eq!(held.len(), 4);
    let mut con = inspect(&server.url());
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();

    let retries: Vec<_> = held[..2]
        .iter()
        .map(|r| rakit_job_core::Retry {
            lease: r.lease.clone(),
            available_at: now_ms() + 60_000,
            error: "later".into(),
        })
        .collect();
    assert_eq!(d.retry_many(&retries).await.unwrap(), [true, true]);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let leases: Vec<_> = held.iter().map(|r| r.lease.clone()).collect();
    assert_eq!(
        d.ack_many(&leases).await.unwrap(),
        [false, false, true, true]
    );

    // Each batch loaded its script once and ran one call per job.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    let calls = |command: &str| -> u32 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!((calls("script|load"), calls("evalsha")), (2, 6), "{stats}");
    let totals = d.stats().await.unwrap();
    let scheduled: u64 = totals.iter().map(|s| s.scheduled).sum();
    assert_eq!(scheduled, 2);
}

/// A worker drops its `wait` whenever a running job finishes. The blocking call then
/// goes on in the background: the next wait joins it instead of opening a connection,
/// and a push it saw with nobody listening still wakes the next wait at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_wait_neither_leaks_connections_nor_loses_a_wake_up() {
    let server = OwnServer::start();
    let d = connect_to(&server.url(), "rakit.job").await;
    let pusher = connect_to(&server.url(), "rakit.job").await;
    let queues = qs(&["default"]);
    for _ in 0..30 {
        let dropped = tokio::time::timeout(
            Duration::from_millis(20),
            d.wait(&queues, Duration::from_secs(5)),
        )
        .await;
        assert!(
            dropped.is_err(),
            "a wait with nothing pushed returned early"
        );
    }
    let mut con = inspect(&server.url());
    let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
    let clients: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    // The two drivers' command connections, one blocking call, and this inspection.
    assert!(clients <= 4, "{clients} connections after 30 dropped waits");

    pusher
        .push(NewJob::now("wake", "default", "{}"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    d.wait(&queues, Duration::from_secs(10)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a push seen by a dropped wait was lost"
    );
}

/// Every command, script and blocking call names keys of one Cluster slot only: the
/// whole driver runs on a server in cluster mode, which refuses a command or script whose
/// keys span slots. (Keys a script builds itself, like job hashes, are not checked by
/// the server; they carry the queue's hash tag, which the unit tests in keys.rs prove.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_stays_in_one_cluster_slot() {
    let server = OwnServer::start_with(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]);
    let mut con = inspect(&server.url());
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(&mut con)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the one-node cluster did not come up: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let d = connect_to(&server.url(), "rakit.job").await;
    let queues = qs(&["high", "default", "low"]);
    for queue in &queues {
        let mut job = NewJob::now("slot", queue, "{}");
        job.unique_key = Some(format!("u-{queue}"));
        job.overlap_key = Some("o".into());
        assert_eq!(d.push(job).await.unwrap(), PushOutcome::Stored);
        let mut later = NewJob::now("later", queue, "{}");
        later.available_at = now_ms() + 60_000;
        d.push(later).await.unwrap();
    }
    let named = d
        .reserve(&ReserveRequest::new(&queues, 1, 60_000).only_named("slot"))
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
    let got = d
        .reserve(&ReserveRequest::new(&queues, 5, 60_000))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert!(d.extend(&named[0].lease, 60_000).await.unwrap());
    assert!(d.ack(&named[0].lease).await.unwrap());
    assert!(d.retry(&got[0].lease, now_ms(), "again").await.unwrap());
    assert!(d.fail(&got[1].lease, "broken").await.unwrap());
    let again = d
        .reserve(&ReserveRequest::new(&queues, 5, 60_000))
        .await
        .unwrap();
    assert!(d.release(&again[0].lease, now_ms() + 60_000).await.unwrap());
    let failed = d.failed(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(d.retry_failed(&failed[0].id).await.unwrap());
    let back = d
        .reserve(&ReserveRequest::new(&queues, 5, 60_000))
        .await
        .unwrap();
    assert!(d.fail(&back[0].lease, "broken").await.unwrap());
    assert!(d.forget_failed(&failed[0].id).await.unwrap());
    assert_eq!(d.flush_failed().await.unwrap(), 0);
    assert!(d.lock("o", "me", 60_000).await.unwrap());
    d.unlock("o", "me").await.unwrap();
    assert_eq!(d.stats().await.unwrap().len(), 3);
    assert_eq!(d.queues().await.unwrap().len(), 3);
    d.wait(&queues, Duration::from_millis(50)).await.unwrap();
    d.push(NewJob::now("wake", "low", "{}")).await.unwrap();
    d.wait(&queues, Duration::from_secs(5)).await.unwrap();
    d.check().await.unwrap();
}

/// Three primaries started by a test, sharing the 16384 slots.
struct OwnCluster {
    nodes: Vec<OwnServer>,
}

impl OwnCluster {
    fn start() -> Self {
        let nodes: Vec<OwnServer> = (0..3)
            .map(|_| {
                OwnServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("this test needs redis-cli on PATH to form a cluster: {e}"));
        assert!(
            created.success(),
            "redis-cli could not form a cluster of {addresses:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            let mut con = inspect(&node.url());
            loop {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not come up: {info}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        OwnCluster { nodes }
    }

    fn url(&self) -> String {
        self.nodes[0].url()
    }
}

/// The whole conformance suite, and a cross-process wake-up, on a cluster of three
/// primaries: queues live on different nodes and the driver follows each to its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_a_three_node_cluster() {
    use rakit_job_core::conformance::{self, Store};
    let cluster = OwnCluster::start();
    let url = cluster.url();
    let fresh = || {
        let url = url.clone();
        async move {
            let d = connect_to(&url, &fresh_prefix()).await;
            assert!(
                d.describe().starts_with("redis cluster "),
                "{}",
                d.describe()
            );
            Arc::new(d) as Store
        }
    };
    conformance::pushed_job_is_reserved_with_its_payload(fresh().await).await;
    conformance::queues_are_served_in_strict_priority_order(fresh().await).await;
    conformance::jobs_of_one_queue_come_out_first_in_first_out(fresh().await).await;
    conformance::scheduled_job_is_not_reserved_before_its_time(fresh().await).await;
    conformance::leased_job_is_invisible_until_its_lease_expires(fresh().await).await;
    conformance::expired_lease_is_reserved_again_as_the_next_attempt(fresh().await).await;
    conformance::extended_lease_keeps_the_job_invisible(fresh().await).await;
    conformance::stale_lease_cannot_finish_a_job_reserved_again(fresh().await).await;
    conformance::acked_job_is_gone(fresh().await).await;
    conformance::acking_many_removes_exactly_the_jobs_still_held(fresh().await).await;
    conformance::retried_job_waits_and_keeps_its_attempts_and_error(fresh().await).await;
    conformance::retrying_many_requeues_exactly_the_jobs_still_held(fresh().await).await;
    conformance::released_job_does_not_count_an_attempt(fresh().await).await;
    conformance::failed_job_moves_to_the_failed_store_with_its_error(fresh().await).await;
    conformance::failed_job_can_be_retried_forgotten_and_flushed(fresh().await).await;
    conformance::reserve_takes_at_most_the_limit(fresh().await).await;
    conformance::reserve_by_name_takes_only_that_name(fresh().await).await;
    conformance::unique_push_is_skipped_while_the_key_is_stored(fresh().await).await;
    conformance::lock_is_exclusive_until_unlocked_or_expired(fresh().await).await;
    conformance::lock_is_freed_only_by_its_owner(fresh().await).await;
    conformance::stats_count_each_state_per_queue(fresh().await).await;
    conformance::queues_lists_every_queue_with_jobs(fresh().await).await;
    conformance::wait_returns_within_its_timeout(fresh().await).await;
    conformance::concurrent_reservers_never_share_a_job(fresh().await).await;

    // A waiter on three queues (on different nodes) wakes on a push from another instance.
    let prefix = fresh_prefix();
    let waiter = Arc::new(connect_to(&url, &prefix).await);
    let pusher = connect_to(&url, &prefix).await;
    for queue in ["high", "default", "low"] {
        let handle = tokio::spawn({
            let waiter = waiter.clone();
            async move {
                waiter
                    .wait(&qs(&["high", "default", "low"]), Duration::from_secs(20))
                    .await
                    .unwrap()
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !handle.is_finished(),
            "wait returned before anything was pushed"
        );
        pusher.push(NewJob::now("wake", queue, "{}")).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap_or_else(|_| panic!("a push to {queue} did not wake the waiter"))
            .unwrap();
        let got = waiter
            .reserve(&ReserveRequest::new(&qs(&[queue]), 1, 60_000))
            .await
            .unwrap();
        assert!(waiter.ack(&got[0].lease).await.unwrap());
    }
}
