//! Stored values that broke the memcached driver's decoding, kept as tests so they stay
//! fixed. The `stored_job` fuzz target (in `fuzz/`) reaches the record decoder; the first
//! test needs no server, the others run against `RAKIT_TEST_MEMCACHED_URL`, by default
//! `memcache://127.0.0.1:11211`.

use rakit_job_core::test_support::{memcached_url, unique_name, unreachable};
use rakit_job_core::{NewJob, ReserveRequest, Store, StoreExt};
use rakit_job_memcached::{MemcachedDriver, decode_record};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000_000;

fn record(attempts: u64, stored_at: i64) -> Vec<u8> {
    json!({
        "id": "0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e",
        "name": "send-email",
        "queue": "default",
        "payload": "{}",
        "created_at": NOW,
        "stored_at": stored_at,
        "available_at": NOW,
        "attempts": attempts,
        "state": "ready",
        "slot": 0,
    })
    .to_string()
    .into_bytes()
}

/// Found reading the decoder and replayed through `stored_job`: a record counting u32::MAX
/// attempts (the claim's `attempts += 1` overflowed) and one stored at i64::MIN (the age
/// check's `now - stored_at` overflowed); panics in a debug build, wraps in a release build.
#[test]
fn records_with_extreme_counts_and_times_decode_without_overflow() {
    let (job, _) = decode_record(&record(u32::MAX.into(), NOW), NOW).unwrap();
    assert_eq!(job.attempts, u32::MAX);
    for stored_at in [i64::MIN, i64::MAX, -1] {
        let (job, _) = decode_record(&record(0, stored_at), NOW).unwrap();
        assert_eq!(job.attempts, 1);
    }
    assert!(decode_record(&record(u64::from(u32::MAX) + 1, NOW), NOW).is_err());
}

/// A driver on a key prefix no other test uses, and a raw client to tamper with its keys.
async fn store() -> (MemcachedDriver, memcache::Client, String) {
    let prefix = unique_name("t");
    let url = memcached_url();
    let driver = MemcachedDriver::connect(&url, &prefix)
        .await
        .unwrap_or_else(|e| unreachable("memcached", &url, e));
    let raw = memcache::connect(url).expect("memcached is reachable");
    (driver, raw, prefix)
}

fn rewrite_record(raw: &memcache::Client, key: &str, change: impl FnOnce(&mut Value)) -> Value {
    let text: String = raw.get(key).unwrap().expect("the job's record");
    let mut record: Value = serde_json::from_str(&text).unwrap();
    change(&mut record);
    raw.set(key, record.to_string().as_str(), 0).unwrap();
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_record_counting_u32_max_attempts_is_handed_out_with_that_count() {
    let (driver, raw, prefix) = store().await;
    let job = NewJob::now("send-email", "default", "{}");
    driver.push_one(job.clone()).await.unwrap();
    rewrite_record(&raw, &format!("{prefix}:job:{}", job.id), |r| {
        r["attempts"] = json!(u32::MAX);
        r["stored_at"] = json!(i64::MIN);
    });

    let queues = vec!["default".to_string()];
    let taken = driver
        .reserve(&ReserveRequest::new(&queues, 1, 30_000, "fuzz"))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].job.attempts, u32::MAX);
    assert!(driver.ack(&taken[0].lease).await.unwrap());
}

/// Found reading the index walk beside the record decoder: an index entry is
/// `<id> <published_at>`, and `now - published_at` overflowed on a time of i64::MIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_entry_published_at_i64_min_is_walked_without_overflow() {
    let (driver, raw, prefix) = store().await;
    let job = NewJob::now("send-email", "default", "{}");
    driver.push_one(job.clone()).await.unwrap();
    let record: String = raw
        .get(&format!("{prefix}:job:{}", job.id))
        .unwrap()
        .unwrap();
    let slot = serde_json::from_str::<Value>(&record).unwrap()["slot"]
        .as_u64()
        .expect("a pushed record names its slot");
    raw.set(
        &format!("{prefix}:q:default:{slot}"),
        format!("{} {}", job.id, i64::MIN).as_str(),
        0,
    )
    .unwrap();

    let queues = vec!["default".to_string()];
    let taken = driver
        .reserve(&ReserveRequest::new(&queues, 1, 30_000, "fuzz"))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].job.id, job.id);
    assert!(driver.ack(&taken[0].lease).await.unwrap());
}
