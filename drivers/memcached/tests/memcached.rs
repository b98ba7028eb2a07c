//! The memcached driver passes the shared conformance suite against a real server, loses
//! no job to concurrent dispatchers, and reports jobs memcached dropped instead of
//! hanging on them.
//!
//! The server is `RAKIT_TEST_MEMCACHED_URL`, by default `memcache://127.0.0.1:11211`.
//! These tests fail, never skip, when it cannot be reached.

use rakit_job_core::test_support::{memcached_url, unique_name, unreachable};
use rakit_job_core::{
    Admin, DriverError, Finish, JobQuery, NewJob, PushOutcome, ReserveRequest, State, Store,
    StoreExt,
};
use rakit_job_memcached::MemcachedDriver;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A key prefix no other test uses.
fn fresh_prefix() -> String {
    unique_name("t")
}

async fn connect(prefix: &str) -> MemcachedDriver {
    let url = memcached_url();
    match MemcachedDriver::connect(&url, prefix).await {
        Ok(driver) => driver,
        Err(e) => unreachable("memcached", &url, e),
    }
}

async fn store() -> rakit_job_core::conformance::Store {
    Arc::new(connect(&fresh_prefix()).await)
}

rakit_job_core::conformance_tests!(store);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 300).await;
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn request(queues: &[String], limit: usize, lease_ms: i64) -> ReserveRequest<'_> {
    ReserveRequest::new(queues, limit, lease_ms, "memcached-test")
}

/// A raw client, to play memcached evicting a key behind the driver's back.
fn raw_client() -> memcache::Client {
    memcache::connect(memcached_url()).expect("memcached is reachable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_dispatchers_on_several_instances_lose_no_job() {
    let prefix = fresh_prefix();
    let mut dispatchers = Vec::new();
    for _ in 0..4 {
        let driver = Arc::new(connect(&prefix).await);
        for _ in 0..4 {
            let driver = driver.clone();
            dispatchers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..60 {
                    let queue = if i % 2 == 0 { "default" } else { "emails" };
                    let job = NewJob::now("burst", queue, "{}");
                    ids.push(job.id.clone());
                    assert_eq!(driver.push_one(job).await.unwrap(), PushOutcome::Stored);
                }
                ids
            }));
        }
    }
    let mut pushed = HashSet::new();
    for d in dispatchers {
        pushed.extend(d.await.unwrap());
    }
    assert_eq!(pushed.len(), 4 * 4 * 60);
    let reader = connect(&prefix).await;
    let stats = reader.stats().await.unwrap();
    assert_eq!(
        stats.iter().map(|s| s.ready).sum::<u64>(),
        pushed.len() as u64
    );
    assert_eq!(reader.queues().await.unwrap(), ["default", "emails"]);
    let mut got = HashSet::new();
    loop {
        let batch = reader
            .reserve(&request(&queues(&["default", "emails"]), 50, 60_000))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for r in batch {
            assert!(reader.ack(&r.lease).await.unwrap());
            assert!(
                got.insert(r.job.id.clone()),
                "job {} was reserved twice",
                r.job.id
            );
        }
    }
    assert_eq!(got, pushed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_memcached_dropped_is_reported_and_skipped_not_waited_on() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let job = NewJob::now("fragile", "default", &format!("{{\"i\":{i}}}"));
        ids.push(job.id.clone());
        driver.push_one(job).await.unwrap();
    }
    // memcached evicts the middle job's record.
    assert!(
        raw_client()
            .delete(&format!("{prefix}:job:{}", ids[1]))
            .unwrap()
    );

    let started = Instant::now();
    let got = driver
        .reserve(&request(&queues(&["default"]), 10, 60_000))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reserve hung on a vanished job"
    );
    let got_ids: Vec<_> = got.iter().map(|r| r.job.id.clone()).collect();
    assert_eq!(got_ids, [ids[0].clone(), ids[2].clone()]);
    assert_eq!(driver.vanished_jobs(), [ids[1].clone()]);

    // A job evicted while a worker holds it: the worker learns it lost the job.
    raw_client()
        .delete(&format!("{prefix}:job:{}", ids[2]))
        .unwrap();
    assert!(!driver.ack(&got[1].lease).await.unwrap());
    assert!(driver.vanished_jobs().contains(&ids[2]));
    assert!(driver.ack(&got[0].lease).await.unwrap());
    assert!(driver.stats().await.unwrap().is_empty());
    assert!(
        driver
            .reserve(&request(&queues(&["default"]), 10, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_unique_key_holder_frees_the_key() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    let unique = || {
        let mut job = NewJob::now("report", "default", "{}");
        job.unique_key = Some("report:2024-01".into());
        job
    };
    let first = unique();
    assert_eq!(
        driver.push_one(first.clone()).await.unwrap(),
        PushOutcome::Stored
    );
    assert_eq!(
        driver.push_one(unique()).await.unwrap(),
        PushOutcome::Duplicate
    );
    raw_client()
        .delete(&format!("{prefix}:job:{}", first.id))
        .unwrap();
    assert_eq!(
        driver.push_one(unique()).await.unwrap(),
        PushOutcome::Stored
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_prefixes_urls_and_oversized_payloads_are_refused_and_passwords_never_shown() {
    for bad in ["", "1abc", "a:b", "a b", "a/b"] {
        let err = MemcachedDriver::connect(&memcached_url(), bad)
            .await
            .err()
            .expect("a bad prefix was accepted");
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
    }
    let err = MemcachedDriver::connect("memcache://127.0.0.1:11211?protocol=ascii", "p")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("binary protocol"), "{err}");
    let err = MemcachedDriver::connect("memcache://app:s3cret@127.0.0.1:1", "p")
        .await
        .err()
        .unwrap();
    assert!(err.is_unreachable(), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");

    let driver = connect(&fresh_prefix()).await;
    assert!(!driver.describe().contains("s3cret"));
    let big = "x".repeat(rakit_job_core::MAX_PAYLOAD_BYTES + 1);
    let err = driver
        .push_one(NewJob::now("big", "default", &format!("\"{big}\"")))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err}");
    let err = driver
        .push_one(NewJob::now("x", "../etc", "{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Invalid(_)), "{err}");
    driver.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_scheduled_job_does_not_slow_down_the_queue_behind_it() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    let mut later = NewJob::now("later", "default", "{}");
    later.available_at = rakit_job_core::now_ms() + 3_600_000;
    driver.push_one(later.clone()).await.unwrap();
    for _ in 0..3 {
        for _ in 0..200 {
            driver
                .push_one(NewJob::now("now", "default", "{}"))
                .await
                .unwrap();
        }
        loop {
            let got = driver
                .reserve(&request(&queues(&["default"]), 50, 60_000))
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            for r in got {
                assert_ne!(r.job.id, later.id, "a scheduled job ran early");
                driver.ack(&r.lease).await.unwrap();
            }
        }
    }
    // The head moved past the finished jobs: the index window is small again.
    let raw = raw_client();
    let head: String = raw
        .get(&format!("{prefix}:q:default:head"))
        .unwrap()
        .unwrap();
    let tail: String = raw
        .get(&format!("{prefix}:q:default:tail"))
        .unwrap()
        .unwrap();
    let window = tail.parse::<u64>().unwrap() - head.parse::<u64>().unwrap();
    assert!(
        window < 300,
        "the index window kept growing: {window} slots"
    );
    let stats = driver.stats().await.unwrap();
    assert_eq!((stats[0].scheduled, stats[0].ready), (1, 0));
}

fn rewrite(raw: &memcache::Client, key: &str, change: impl FnOnce(&mut serde_json::Value)) {
    let text: String = raw.get(key).unwrap().expect("the record is there");
    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
    change(&mut record);
    raw.set(key, record.to_string().as_str(), 0).unwrap();
}

/// Writes `job` as an acker that died mid-ack leaves it: staged, seen by no worker.
fn leave_staged(raw: &memcache::Client, prefix: &str, job: &NewJob) {
    let staged = serde_json::json!({
        "id": job.id.to_string(), "name": job.name, "queue": job.queue, "payload": job.payload,
        "created_at": job.created_at, "stored_at": job.created_at,
        "available_at": job.available_at, "attempts": 0, "state": "staged",
    });
    raw.set(
        &format!("{prefix}:job:{}", job.id),
        staged.to_string().as_str(),
        0,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_whose_acker_died_after_its_commit_has_its_follow_ups_stored_once() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    let raw = raw_client();
    let first = NewJob::now("first", "default", "{}");
    driver.push_one(first.clone()).await.unwrap();
    let qs = queues(&["default", "next"]);
    let held = driver.reserve(&request(&qs, 1, 60_000)).await.unwrap();
    assert_eq!(held.len(), 1);
    // The acker staged its follow-up and committed, then died before publishing it.
    let next = NewJob::now("second", "next", r#"{"step":2}"#);
    leave_staged(&raw, &prefix, &next);
    rewrite(&raw, &format!("{prefix}:job:{}", first.id), |r| {
        r["state"] = "done".into();
        r["token"] = serde_json::Value::Null;
        r["then"] = serde_json::json!([next.id.to_string()]);
    });
    assert!(
        driver.job(&first.id).await.unwrap().is_none(),
        "the acked job shows"
    );
    assert!(
        driver.job(&next.id).await.unwrap().is_none(),
        "a staged job shows"
    );

    // The next worker walking the acked job's queue finishes the ack.
    let mut taken = Vec::new();
    for _ in 0..3 {
        taken.extend(driver.reserve(&request(&qs, 10, 60_000)).await.unwrap());
    }
    let ids: Vec<_> = taken.iter().map(|r| r.job.id.clone()).collect();
    assert_eq!(
        ids,
        [next.id],
        "the follow-up is stored once, the acked job never again"
    );
    let key: Option<String> = raw.get(&format!("{prefix}:job:{}", first.id)).unwrap();
    assert!(key.is_none(), "the acked job's record is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_whose_acker_died_before_its_commit_is_done_again_with_the_same_follow_up() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    let raw = raw_client();
    let first = NewJob::now("first", "default", "{}");
    driver.push_one(first.clone()).await.unwrap();
    let qs = queues(&["default", "next"]);
    let old = driver
        .reserve(&request(&qs, 1, 300))
        .await
        .unwrap()
        .pop()
        .unwrap();
    // The acker staged the chain's next job (its id fixed at dispatch), then died.
    let next = NewJob::now("second", "next", r#"{"step":2}"#);
    leave_staged(&raw, &prefix, &next);
    // The lease runs out; the job runs again and its ack stages the same follow-up.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = driver
        .reserve(&request(&qs, 1, 60_000))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(again.job.id, old.job.id);
    let ack = Finish::Ack {
        lease: again.lease.clone(),
        then: vec![next.clone()],
    };
    assert_eq!(driver.complete(&[ack]).await.unwrap(), [true]);
    let taken = driver.reserve(&request(&qs, 10, 60_000)).await.unwrap();
    let ids: Vec<_> = taken.iter().map(|r| r.job.id.clone()).collect();
    assert_eq!(ids, [next.id], "the follow-up is stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_of_an_ack_that_lost_its_lease_leaves_nothing_behind() {
    let prefix = fresh_prefix();
    let driver = connect(&prefix).await;
    driver
        .push_one(NewJob::now("first", "default", "{}"))
        .await
        .unwrap();
    let qs = queues(&["default"]);
    let old = driver
        .reserve(&request(&qs, 1, 300))
        .await
        .unwrap()
        .pop()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let current = driver
        .reserve(&request(&qs, 1, 60_000))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let mut next = NewJob::now("second", "default", "{}");
    next.unique_key = Some("chain:1".into());
    let stale = Finish::Ack {
        lease: old.lease.clone(),
        then: vec![next.clone()],
    };
    assert_eq!(driver.complete(&[stale]).await.unwrap(), [false]);
    let staged: Option<String> = raw_client()
        .get(&format!("{prefix}:job:{}", next.id))
        .unwrap();
    assert!(
        staged.is_none(),
        "the stale ack's follow-up was left staged"
    );
    let mut same_key = NewJob::now("second", "default", "{}");
    same_key.unique_key = Some("chain:1".into());
    assert_eq!(
        driver.push_one(same_key).await.unwrap(),
        PushOutcome::Stored,
        "the stale ack's follow-up kept its unique key"
    );
    assert!(driver.ack(&current.lease).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiries_under_a_second_end_to_the_millisecond() {
    let driver = connect(&fresh_prefix()).await;
    driver
        .put_entry("workers", "w1", "{}", Some(300))
        .await
        .unwrap();
    let windowed = || {
        let mut job = NewJob::now("sync", "default", "{}");
        job.unique_key = Some("acct:1".into());
        job.unique_for = Some(300);
        job
    };
    assert_eq!(
        driver.push_one(windowed()).await.unwrap(),
        PushOutcome::Stored
    );
    assert_eq!(
        driver.push_one(windowed()).await.unwrap(),
        PushOutcome::Duplicate
    );
    assert!(driver.lock_one("report", "a", 300).await.unwrap());
    assert!(!driver.lock_one("report", "b", 60_000).await.unwrap());
    assert_eq!(driver.entries("workers").await.unwrap().len(), 1);
    // memcached keeps each of these keys for at least a second more; the driver does not.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(driver.entries("workers").await.unwrap().is_empty());
    assert_eq!(
        driver.push_one(windowed()).await.unwrap(),
        PushOutcome::Stored
    );
    assert!(driver.lock_one("report", "b", 60_000).await.unwrap());
    let pending = driver
        .jobs(&JobQuery::new(State::Pending, 10))
        .await
        .unwrap();
    assert_eq!(pending.jobs.len(), 2);
}

/// Set in a child process: the key prefix it drains.
const CHILD_PREFIX: &str = "RAKIT_MEMCACHED_TEST_CHILD_PREFIX";
const PROCESSES: usize = 4;
const PROCESS_JOBS: usize = 10_000;
/// What a child process prints before the id of each job it ran.
const RAN: &str = "job-ran:";

/// Four worker processes drain 10,000 jobs from one server, each job run exactly once.
///
/// The test binary starts copies of itself running only this test; with the prefix in
/// the environment they act as workers and print the id of every job they ran.
#[test]
fn four_worker_processes_drain_ten_thousand_jobs_each_exactly_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(prefix) = std::env::var(CHILD_PREFIX) {
        rt.block_on(work_as_child(prefix));
        return;
    }
    let prefix = fresh_prefix();
    let pushed = rt.block_on(push_many(&prefix, PROCESS_JOBS));
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "four_worker_processes_drain_ten_thousand_jobs_each_exactly_once",
                ])
                .args(["--nocapture", "--test-threads=1"])
                .env(CHILD_PREFIX, &prefix)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("the test binary can start a copy of itself")
        })
        .collect();
    let mut ran = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a worker process failed: {}",
            out.status
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // The test harness may print its own text before ours on the first line.
            if let Some((_, id)) = line.split_once(RAN) {
                assert!(ran.insert(id.to_string()), "job {id} ran twice");
            }
        }
    }
    assert_eq!(ran.len(), pushed.len(), "some jobs never ran");
    assert_eq!(ran, pushed);
    let driver = rt.block_on(connect(&prefix));
    assert!(rt.block_on(driver.stats()).unwrap().is_empty());
    assert!(driver.vanished_jobs().is_empty());
}

async fn push_many(prefix: &str, jobs: usize) -> HashSet<String> {
    let driver = Arc::new(connect(prefix).await);
    let mut pushers = Vec::new();
    for p in 0..8 {
        let driver = driver.clone();
        pushers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (p..jobs).step_by(8) {
                let job = NewJob::now("drain", "default", &format!("{{\"i\":{i}}}"));
                ids.push(job.id.to_string());
                driver.push_one(job).await.unwrap();
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for pusher in pushers {
        all.extend(pusher.await.unwrap());
    }
    all
}

async fn work_as_child(prefix: String) {
    let driver = connect(&prefix).await;
    let qs = queues(&["default"]);
    let mut idle = 0;
    while idle < 3 {
        let got = driver
            .reserve(&ReserveRequest::new(&qs, 8, 600_000, "child"))
            .await
            .unwrap();
        if got.is_empty() {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        idle = 0;
        for r in got {
            assert!(
                driver.ack(&r.lease).await.unwrap(),
                "a held lease could not ack"
            );
            println!("{RAN}{}", r.job.id);
        }
    }
}
