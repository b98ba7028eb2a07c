//! The redis driver against a real server: the shared conformance suite, then the rules
//! only a shared, networked store has (key isolation, several processes, blocking
//! wake-ups, a server restart, Redis Cluster) and the driver's own ways (listing steps,
//! expiring entries, broken keys).
//!
//! The server is `RAKIT_TEST_REDIS_URL`, by default `redis://127.0.0.1:6379/`. When it
//! cannot be reached every test fails and says so; none is skipped.

use rakit_job_core::test_support::{redis_url, started_before, temp_dir, unique_name, unreachable};
use rakit_job_core::{
    Admin, CancelOutcome, DriverError, Finish, JobQuery, LeaseState, LockRequest, Locked,
    MinuteCount, NewJob, PushOutcome, ReserveRequest, State, Store, StoreExt, now_ms,
};
use rakit_job_redis::RedisDriver;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

/// What every test prefix starts with.
const TEST_PREFIX: &str = "rktest";

/// Test prefixes older than this are swept when a test run starts.
const STALE_AFTER_SECS: i64 = 600;

/// The worker id tests reserve as.
const WORKER: &str = "redis-test-worker";

/// A prefix no other test uses.
fn fresh_prefix() -> String {
    unique_name(TEST_PREFIX)
}

/// Connects to the server at `url`, or fails the test with what to do.
async fn connect_to(url: &str, prefix: &str) -> RedisDriver {
    sweep_stale_test_keys();
    rakit_job_redis::connect(url, prefix)
        .await
        .unwrap_or_else(|e| unreachable("redis", url, e))
}

async fn driver(prefix: &str) -> RedisDriver {
    connect_to(&redis_url(), prefix).await
}

async fn store() -> rakit_job_core::conformance::Store {
    Arc::new(driver(&fresh_prefix()).await)
}

rakit_job_core::conformance_tests!(store);

/// A plain synchronous connection for looking at keys from the outside.
fn inspect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
        .unwrap_or_else(|e| unreachable("redis", url, e))
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
        let Ok(mut con) = redis::Client::open(redis_url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)))
        else {
            return;
        };
        for key in scan(&mut con, &format!("{TEST_PREFIX}*")) {
            let prefix = key.split(':').next().unwrap_or("");
            if started_before(prefix, TEST_PREFIX, STALE_AFTER_SECS) {
                let _: i64 = redis::cmd("UNLINK").arg(&key).query(&mut con).unwrap();
            }
        }
    });
}

fn qs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn take(d: &RedisDriver, queues: &[&str], limit: usize) -> Vec<rakit_job_core::Reserved> {
    let queues = qs(queues);
    d.reserve(&ReserveRequest::new(&queues, limit, 60_000, WORKER))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bad_prefix_or_queue_name_is_refused() {
    for bad in ["", "a:b", "a{b}", "a*", "9lives", "a b", "a/b"] {
        match rakit_job_redis::connect(&redis_url(), bad).await {
            Err(DriverError::Invalid(msg)) => assert!(msg.contains("key prefix"), "{msg}"),
            Err(e) => panic!("prefix {bad:?} gave the wrong error: {e}"),
            Ok(_) => panic!("prefix {bad:?} was accepted"),
        }
    }
    let d = driver(&fresh_prefix()).await;
    for bad in ["a:b", "{x}", "*", "a b", ""] {
        let err = d.push_one(NewJob::now("n", bad, "{}")).await.unwrap_err();
        assert!(
            matches!(err, DriverError::Invalid(_)),
            "queue {bad:?}: {err}"
        );
        let queues = qs(&[bad]);
        let request = ReserveRequest::new(&queues, 1, 1000, WORKER);
        assert!(d.reserve(&request).await.is_err());
        assert!(d.wait(&queues, Duration::from_millis(10)).await.is_err());
        let listing = JobQuery::new(State::Pending, 10).on_queue(bad);
        assert!(matches!(
            d.jobs(&listing).await,
            Err(DriverError::Invalid(_))
        ));
        let count = MinuteCount {
            queue: bad.to_string(),
            minute: 0,
            done: 1,
            failed: 0,
        };
        assert!(d.add_throughput(&[count]).await.is_err());
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
    assert!(caps.wakes_across_processes && !caps.durable);
}

/// A key of the wrong type under the prefix (another app's, or a hand edit) is an error
/// waiting cannot mend, which says what to do; nothing is changed.
#[tokio::test]
async fn a_key_of_another_type_under_the_prefix_is_a_broken_store() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    let mut con = inspect(&redis_url());
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:{{q:default}}:reserved"))
        .arg("not a sorted set")
        .query(&mut con)
        .unwrap();
    let queues = qs(&["default"]);
    let err = d
        .reserve(&ReserveRequest::new(&queues, 1, 1000, WORKER))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("key prefix"), "{err}");
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:locks:report"))
        .arg("x")
        .query(&mut con)
        .unwrap();
    let err = d.lock_one("report", "a", 1000).await.unwrap_err();
    assert!(matches!(err, DriverError::Broken { .. }), "{err}");
    delete_prefix(&mut con, &prefix);
}

/// Every key the driver writes, for any operation, starts with `<prefix>:`, even when
/// user text (lock keys, unique keys, entry kinds, names, payloads, meta) holds
/// separators and globs; windows, counts and holds expire by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_written_outside_the_prefix() {
    let prefix = fresh_prefix();
    let m = prefix.clone();
    let d = driver(&prefix).await;
    let queue = format!("q-{}", m.replace('_', "-"));
    let next_queue = format!("{queue}-next");
    let evil = format!("}}{{x}}:*?[{m}]:../");

    let mut job = NewJob::now(&format!("n-{m}"), &queue, &format!("{{\"m\":\"{m}\"}}"));
    job.unique_key = Some(evil.clone());
    job.overlap_key = Some(evil.clone());
    job.meta = Some(evil.clone());
    assert_eq!(d.push_one(job).await.unwrap(), PushOutcome::Stored);
    let mut windowed = NewJob::now("w", &queue, "{}");
    windowed.unique_key = Some(evil.clone());
    windowed.unique_for = Some(60_000);
    assert_eq!(d.push_one(windowed).await.unwrap(), PushOutcome::Stored);
    let mut later = NewJob::now("later", &queue, "{}");
    later.available_at = now_ms() + 60_000;
    let later_id = later.id.clone();
    d.push_one(later).await.unwrap();
    for _ in 0..3 {
        d.push_one(NewJob::now("x", &queue, "{}")).await.unwrap();
    }
    let got = take(&d, &[&queue], 5).await;
    assert_eq!(got.len(), 5);
    assert_eq!(
        d.cancel(&got[4].job.id).await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(d.cancel(&later_id).await.unwrap(), CancelOutcome::Removed);
    assert_eq!(
        d.extend_one(&got[4].lease, 60_000).await.unwrap(),
        LeaseState::Cancelled
    );
    // The first job keeps its unique key: it is released, not acked.
    let finish = [
        Finish::Release {
            lease: got[0].lease.clone(),
            available_at: now_ms(),
        },
        Finish::Fail {
            lease: got[1].lease.clone(),
            error: m.clone(),
            cancelled: false,
        },
        Finish::Ack {
            lease: got[2].lease.clone(),
            then: vec![NewJob::now("then", &next_queue, "{}")],
        },
        Finish::Retry {
            lease: got[3].lease.clone(),
            available_at: now_ms() + 60_000,
            error: m.clone(),
        },
    ];
    assert_eq!(d.complete(&finish).await.unwrap(), [true; 4]);
    let hold = LockRequest {
        key: &evil,
        capacity: 2,
        owner: &m,
        ttl_ms: 60_000,
    };
    assert_eq!(d.lock(&hold).await.unwrap(), Locked::Taken);
    d.put_entry(&evil, &evil, &evil, Some(60_000))
        .await
        .unwrap();
    let minute = now_ms() / 60_000 * 60_000;
    let count = MinuteCount {
        queue: queue.clone(),
        minute,
        done: 1,
        failed: 1,
    };
    d.add_throughput(&[count]).await.unwrap();
    d.wait(&qs(&[&queue]), Duration::from_millis(20))
        .await
        .unwrap();
    assert_eq!(d.stats().await.unwrap().len(), 2);
    for state in State::ALL {
        d.jobs(&JobQuery::new(state, 10)).await.unwrap();
    }
    assert!(d.job(&got[1].job.id).await.unwrap().is_some());
    assert_eq!(
        d.retry_failed(&rakit_job_core::FailedSelect::All)
            .await
            .unwrap(),
        2
    );

    let mut con = inspect(&redis_url());
    let keys = scan(&mut con, &format!("*{m}*"));
    assert!(
        keys.len() >= 10,
        "expected the queues' keys, found {keys:?}"
    );
    for key in &keys {
        assert!(
            key.starts_with(&format!("{prefix}:")),
            "key {key:?} is outside the prefix {prefix}"
        );
    }
    let must_expire = [
        format!("{prefix}:locks:{evil}"),
        format!("{prefix}:{{q:{queue}}}:window:{evil}"),
        format!("{prefix}:{{throughput}}:{minute}"),
    ];
    for key in &must_expire {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut con).unwrap();
        assert!(ttl > 0, "{key} has no expiry ({ttl})");
    }
    for key in [
        format!("{prefix}:{{q:{queue}}}:unique:{evil}"),
        format!("{prefix}:entries:{evil}"),
        format!("{prefix}:{{q:{next_queue}}}:ready"),
    ] {
        assert!(keys.contains(&key), "{key} is missing from {keys:?}");
    }
    delete_prefix(&mut con, &prefix);
}

/// An expired control entry is deleted, not only hidden; a lock nobody holds any more
/// leaves no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_entries_and_holds_leave_nothing_behind() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    d.put_entry("workers", "gone", "{}", Some(50))
        .await
        .unwrap();
    d.put_entry("workers", "kept", "{}", None).await.unwrap();
    assert!(d.lock_one("short", "a", 50).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.put_entry("workers", "new", "{}", Some(60_000))
        .await
        .unwrap();
    let mut con = inspect(&redis_url());
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{prefix}:entries:workers"))
        .query(&mut con)
        .unwrap();
    let mut fields = fields;
    fields.sort();
    assert_eq!(fields, ["kept", "new"], "an expired entry was kept");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}:locks:short"))
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, 0, "a lapsed hold left its key");
    delete_prefix(&mut con, &prefix);
}

/// A name filter over a backlog longer than one listing step still finds every match,
/// page by page; a walk whose last job was cancelled from the middle of the list goes on
/// without skipping any job that stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_walk_long_backlogs_and_survive_removals_in_the_middle() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    let mut jobs: Vec<NewJob> = (0..2_500)
        .map(|_| NewJob::now("other", "default", "{}"))
        .collect();
    let mut wanted = HashSet::new();
    for at in [0, 1_200, 2_499] {
        jobs[at].name = "wanted".into();
        wanted.insert(jobs[at].id.clone());
    }
    d.push(jobs).await.unwrap();
    let mut query = JobQuery::new(State::Pending, 2).named("wanted");
    let mut found = HashSet::new();
    for _ in 0..100 {
        let page = d.jobs(&query).await.unwrap();
        found.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(found, wanted);

    let queue = "middle";
    let mut ids = Vec::new();
    for _ in 0..6 {
        let job = NewJob::now("m", queue, "{}");
        ids.push(job.id.clone());
        d.push_one(job).await.unwrap();
    }
    let first = d
        .jobs(&JobQuery::new(State::Pending, 2).on_queue(queue))
        .await
        .unwrap();
    assert_eq!(first.jobs.len(), 2);
    assert_eq!(d.cancel(&ids[1]).await.unwrap(), CancelOutcome::Removed);
    let rest = JobQuery::new(State::Pending, 10)
        .on_queue(queue)
        .after(&first.next.unwrap());
    let rest: HashSet<_> = d
        .jobs(&rest)
        .await
        .unwrap()
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert!(
        ids[2..].iter().all(|id| rest.contains(id)),
        "a walk skipped a job after a cancel"
    );
    delete_prefix(&mut inspect(&redis_url()), &prefix);
}

/// Batches above what one script call writes are still written whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_bigger_than_one_script_call_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 1_234).await;
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
                pusher.push_one(job).await.unwrap();
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
            let mut mine = Vec::new();
            loop {
                let got = take(&d, &["high", "default"], 8).await;
                if got.is_empty() {
                    return mine;
                }
                let acks: Vec<Finish> = got
                    .iter()
                    .map(|r| Finish::Ack {
                        lease: r.lease.clone(),
                        then: vec![],
                    })
                    .collect();
                assert!(d.complete(&acks).await.unwrap().iter().all(|a| *a));
                for r in got {
                    assert_eq!(r.job.attempts, 1, "job {} ran twice", r.job.id);
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
    delete_prefix(&mut inspect(&redis_url()), &prefix);
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
            .push_one(NewJob::now("wake", "default", "{}"))
            .await
            .unwrap();
        let woke_at = tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the waiting instance was not woken by the push")
            .unwrap();
        slowest = slowest.max(woke_at.saturating_duration_since(pushed_at));
        let got = take(&waiter, &["default"], 1).await;
        waiter.ack(&got[0].lease).await.unwrap();
    }
    assert!(
        slowest < Duration::from_millis(250),
        "a wake-up took {slowest:?}"
    );
    delete_prefix(&mut inspect(&redis_url()), &prefix);
}

/// Pushes with no worker waiting leave at most the cap of wake-up tokens, which expire;
/// a job dispatched for now is ready at once and one dispatched for later is not.
#[tokio::test]
async fn pushes_nobody_waits_for_leave_a_capped_expiring_signal() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    for i in 0..40 {
        d.push_one(NewJob::now("wake", "default", &format!("{{\"n\":{i}}}")))
            .await
            .unwrap();
    }
    let mut later = NewJob::now("wake", "default", "{}");
    later.available_at += 60_000;
    d.push_one(later).await.unwrap();
    let mut con = inspect(&redis_url());
    let signal = format!("{prefix}:{{q:default}}:signal");
    let tokens: usize = redis::cmd("LLEN").arg(&signal).query(&mut con).unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&signal).query(&mut con).unwrap();
    assert_eq!(tokens, 32, "the signal list holds {tokens} tokens");
    assert!(ttl > 0, "the signal list does not expire (PTTL {ttl})");
    assert_eq!(take(&d, &["default"], 100).await.len(), 40);
    delete_prefix(&mut con, &prefix);
}

/// A job dispatched to run now is ready at once even when the dispatching machine's clock
/// is a minute ahead of the server's: the push does not compare it with the server's clock.
#[tokio::test]
async fn a_job_due_now_is_ready_whatever_the_dispatching_clock_says() {
    let prefix = fresh_prefix();
    let d = driver(&prefix).await;
    let mut ahead = NewJob::now("skewed", "default", "{}");
    ahead.created_at += 60_000;
    ahead.available_at = ahead.created_at;
    d.push_one(ahead).await.unwrap();
    assert_eq!(take(&d, &["default"], 10).await.len(), 1);
    delete_prefix(&mut inspect(&redis_url()), &prefix);
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
    pusher.push_one(job).await.unwrap();
    let queues = qs(&["default"]);
    assert!(take(&d, &["default"], 1).await.is_empty());
    let started = Instant::now();
    d.wait(&queues, Duration::from_secs(20)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the wait ignored the scheduled job: {waited:?}"
    );
    let got = take(&d, &["default"], 1).await;
    assert_eq!(
        got.len(),
        1,
        "the scheduled job was not due after the wait ({waited:?})"
    );
    delete_prefix(&mut inspect(&redis_url()), &prefix);
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
        let args = args.iter().map(|a| a.to_string()).collect();
        let mut server = OwnServer {
            port,
            dir: temp_dir("redis-server"),
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
    let request = ReserveRequest::new(&queues, 10, 60_000, WORKER);
    let mut pushed = HashSet::new();
    for _ in 0..50 {
        let job = NewJob::now("durable", "default", "{}");
        pushed.insert(job.id.clone());
        d.push_one(job).await.unwrap();
    }
    for r in d.reserve(&request).await.unwrap() {
        assert!(d.ack(&r.lease).await.unwrap());
        pushed.remove(&r.job.id);
    }

    server.kill();
    let err = d.reserve(&request).await.unwrap_err();
    assert!(err.is_unreachable(), "a dead server gave {err}");
    assert!(
        d.wait(&queues, Duration::from_millis(200)).await.is_err(),
        "waiting on a dead server succeeded"
    );
    server.boot();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rest = HashSet::new();
    loop {
        match d.reserve(&request).await {
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

/// A batch of finishes or renewals is one script call per queue, all in one pipeline that
/// loads the script first: one round trip, even on a server that has forgotten the scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_one_pipeline_that_survives_a_script_flush() {
    let server = OwnServer::start();
    let d = connect_to(&server.url(), "rakit.job").await;
    for queue in ["high", "default", "high", "default"] {
        d.push_one(NewJob::now("batch", queue, "{}")).await.unwrap();
    }
    // high, high, default, default
    let held = take(&d, &["high", "default"], 4).await;
    assert_eq!(held.len(), 4);
    let mut con = inspect(&server.url());
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();

    let retries: Vec<Finish> = [&held[0], &held[2]]
        .iter()
        .map(|r| Finish::Retry {
            lease: r.lease.clone(),
            available_at: now_ms() + 60_000,
            error: "later".into(),
        })
        .collect();
    assert_eq!(d.complete(&retries).await.unwrap(), [true, true]);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let leases: Vec<_> = held.iter().map(|r| r.lease.clone()).collect();
    assert_eq!(
        d.extend(&leases, 60_000).await.unwrap(),
        [
            LeaseState::Lost,
            LeaseState::Held,
            LeaseState::Lost,
            LeaseState::Held
        ]
    );
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let acks: Vec<Finish> = held
        .iter()
        .map(|r| Finish::Ack {
            lease: r.lease.clone(),
            then: vec![],
        })
        .collect();
    assert_eq!(d.complete(&acks).await.unwrap(), [false, true, false, true]);

    // Each batch loaded its script once and ran one call per queue.
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
    assert_eq!((calls("script|load"), calls("evalsha")), (3, 6), "{stats}");
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
        .push_one(NewJob::now("wake", "default", "{}"))
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
        assert_eq!(d.push_one(job).await.unwrap(), PushOutcome::Stored);
        let mut later = NewJob::now("later", queue, "{}");
        later.available_at = now_ms() + 60_000;
        later.unique_key = Some("w".into());
        later.unique_for = Some(60_000);
        d.push_one(later).await.unwrap();
    }
    let named = d
        .reserve(&ReserveRequest::new(&queues, 1, 60_000, WORKER).only_named("slot"))
        .await
        .unwrap();
    assert_eq!(named.len(), 1);
    let got = take(&d, &["high", "default", "low"], 5).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        d.cancel(&got[1].job.id).await.unwrap(),
        CancelOutcome::Requested
    );
    let leases = [
        named[0].lease.clone(),
        got[0].lease.clone(),
        got[1].lease.clone(),
    ];
    assert_eq!(
        d.extend(&leases, 60_000).await.unwrap(),
        [LeaseState::Held, LeaseState::Held, LeaseState::Cancelled]
    );
    let finish = [
        Finish::Ack {
            lease: named[0].lease.clone(),
            then: vec![
                NewJob::now("same-slot", &named[0].job.queue, "{}"),
                NewJob::now("other-slot", "elsewhere", "{}"),
            ],
        },
        Finish::Retry {
            lease: got[0].lease.clone(),
            available_at: now_ms(),
            error: "again".into(),
        },
        Finish::Fail {
            lease: got[1].lease.clone(),
            error: "cancelled".into(),
            cancelled: true,
        },
    ];
    assert_eq!(d.complete(&finish).await.unwrap(), [true, true, true]);
    let followed = take(&d, &["elsewhere"], 5).await;
    assert_eq!(
        followed.len(),
        1,
        "the follow-up of another slot was not pushed"
    );
    let again = take(&d, &["high", "default", "low"], 5).await;
    assert_eq!(
        again.len(),
        2,
        "the retried job and the same-slot follow-up"
    );
    assert!(d.release(&again[0].lease, now_ms() + 60_000).await.unwrap());
    assert!(d.fail(&again[1].lease, "broken").await.unwrap());
    d.push_one(NewJob::now("pending", "low", "{}"))
        .await
        .unwrap();
    // One job in each state but scheduled (the three windowed ones and the released one).
    for state in State::ALL {
        let page = d.jobs(&JobQuery::new(state, 1)).await.unwrap();
        assert_eq!(page.jobs.len(), 1, "{state:?}");
        assert_eq!(page.next.is_some(), state == State::Scheduled, "{state:?}");
    }
    assert_eq!(
        d.job(&got[1].job.id).await.unwrap().map(|j| j.state),
        Some(State::Cancelled)
    );
    let all = rakit_job_core::FailedSelect::All;
    assert_eq!(d.retry_failed(&all).await.unwrap(), 2);
    let back = take(&d, &["high", "default", "low"], 5).await;
    assert_eq!(back.len(), 3, "the pending job and the two put back");
    assert!(d.fail(&back[0].lease, "broken").await.unwrap());
    assert_eq!(d.forget_failed(&all).await.unwrap(), 1);
    assert_eq!(d.prune_failed(now_ms()).await.unwrap(), 0);
    let hold = LockRequest {
        key: "o",
        capacity: 2,
        owner: "me",
        ttl_ms: 60_000,
    };
    assert_eq!(d.lock(&hold).await.unwrap(), Locked::Taken);
    d.unlock("o", "me").await.unwrap();
    d.put_entry("paused", "low", "", None).await.unwrap();
    assert_eq!(d.entries("paused").await.unwrap().len(), 1);
    d.remove_entry("paused", "low").await.unwrap();
    let minute = now_ms() / 60_000 * 60_000;
    let counts: Vec<MinuteCount> = [minute - 60_000, minute]
        .into_iter()
        .map(|minute| MinuteCount {
            queue: "high".into(),
            minute,
            done: 2,
            failed: 0,
        })
        .collect();
    d.add_throughput(&counts).await.unwrap();
    assert_eq!(d.throughput(minute - 60_000).await.unwrap(), counts);
    assert_eq!(d.stats().await.unwrap().len(), 4);
    assert_eq!(d.queues().await.unwrap().len(), 4);
    d.wait(&queues, Duration::from_millis(50)).await.unwrap();
    d.push_one(NewJob::now("wake", "low", "{}")).await.unwrap();
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

/// Runs each named conformance rule on a fresh store from `$fresh`.
macro_rules! rules_on {
    ($fresh:ident: $($rule:ident),* $(,)?) => {
        $( rakit_job_core::conformance::$rule($fresh().await).await; )*
    };
}

/// The whole conformance suite, and a cross-process wake-up, on a cluster of three
/// primaries: queues live on different nodes and the driver follows each to its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_on_a_three_node_cluster() {
    use rakit_job_core::conformance::Store;
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
    rules_on!(fresh:
        pushed_job_is_reserved_with_its_payload,
        queues_are_served_in_strict_priority_order,
        jobs_of_one_queue_come_out_first_in_first_out,
        scheduled_job_is_not_reserved_before_its_time,
        leased_job_is_invisible_until_its_lease_expires,
        expired_lease_is_reserved_again_as_the_next_attempt,
        extended_lease_keeps_the_job_invisible,
        extending_many_reports_each_lease_as_held_cancelled_or_lost,
        stale_lease_cannot_finish_a_job_reserved_again,
        acked_job_is_gone,
        completing_many_writes_exactly_the_jobs_still_held,
        retried_job_waits_and_keeps_its_attempts_and_error,
        retrying_many_requeues_exactly_the_jobs_still_held,
        released_job_does_not_count_an_attempt,
        failed_job_moves_to_the_failed_store_with_its_error,
        failed_jobs_can_be_retried_forgotten_and_pruned_by_id_queue_or_age,
        an_acked_job_stores_its_follow_ups_in_the_same_step,
        a_follow_up_refused_with_a_stale_ack_is_stored_once_by_the_next_holder,
        meta_is_kept_through_retries_and_the_failed_store,
        reserve_takes_at_most_the_limit,
        reserve_by_name_takes_only_that_name,
        unique_push_is_skipped_while_the_key_is_stored,
        unique_for_skips_the_key_for_its_window_whatever_became_of_the_job,
        pushing_many_stores_each_job_once_in_order,
        lock_is_exclusive_until_unlocked_or_expired,
        lock_is_freed_only_by_its_owner,
        a_lock_of_capacity_n_has_at_most_n_holders,
        stats_count_each_state_per_queue,
        queues_lists_every_queue_with_jobs,
        listing_gives_each_job_of_a_state_once_page_by_page,
        listing_filters_by_queue_and_name,
        a_cursor_the_store_did_not_give_is_refused,
        a_job_shows_its_payload_attempts_due_time_lease_worker_and_error,
        cancelling_a_waiting_job_keeps_it_as_cancelled,
        cancelling_a_running_job_is_seen_at_its_next_renewal,
        a_cancel_racing_claims_never_lets_a_cancelled_job_run,
        entries_expire_and_kinds_are_kept_apart,
        an_entry_swaps_only_from_the_value_expected,
        concurrent_swaps_of_an_entry_lose_no_update,
        throughput_adds_up_per_queue_and_minute,
        wait_returns_within_its_timeout,
        wait_ends_when_a_job_may_have_become_claimable,
        concurrent_reservers_never_share_a_job,
    );
    rakit_job_core::conformance::big_batches_are_written_whole(fresh().await, 1_234).await;

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
        pusher
            .push_one(NewJob::now("wake", queue, "{}"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap_or_else(|_| panic!("a push to {queue} did not wake the waiter"))
            .unwrap();
        let got = take(&waiter, &[queue], 1).await;
        assert!(waiter.ack(&got[0].lease).await.unwrap());
    }
}
