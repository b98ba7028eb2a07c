//! The driver conformance suite: one set of rules every store must follow.
//!
//! A driver's test file calls [`conformance_tests!`](crate::conformance_tests) with an
//! async function that returns a fresh, isolated store (its own database, key prefix or
//! folder), and gets one `#[tokio::test]` per rule, named after the rule it proves.
//! A change in driver semantics extends this suite first.
//!
//! ```ignore
//! async fn store() -> std::sync::Arc<dyn rakit_job_core::Driver> {
//!     std::sync::Arc::new(rakit_job_core::MemoryDriver::new())
//! }
//! rakit_job_core::conformance_tests!(store);
//! ```

use crate::{
    Driver, JobId, Lease, Millis, NewJob, PushOutcome, ReserveRequest, Reserved, Retry, now_ms,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn Driver>;

/// A lease long enough that it never expires during a test.
const LONG: Millis = 60_000;
/// A lease short enough to watch it expire.
const SHORT: Millis = 400;

/// Expands to one `#[tokio::test]` per conformance rule, each on a fresh store from `$factory`.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:path) => {
        $crate::conformance_tests!(@cases $factory;
            pushed_job_is_reserved_with_its_payload,
            queues_are_served_in_strict_priority_order,
            jobs_of_one_queue_come_out_first_in_first_out,
            scheduled_job_is_not_reserved_before_its_time,
            leased_job_is_invisible_until_its_lease_expires,
            expired_lease_is_reserved_again_as_the_next_attempt,
            extended_lease_keeps_the_job_invisible,
            stale_lease_cannot_finish_a_job_reserved_again,
            acked_job_is_gone,
            acking_many_removes_exactly_the_jobs_still_held,
            retried_job_waits_and_keeps_its_attempts_and_error,
            retrying_many_requeues_exactly_the_jobs_still_held,
            released_job_does_not_count_an_attempt,
            failed_job_moves_to_the_failed_store_with_its_error,
            failed_job_can_be_retried_forgotten_and_flushed,
            reserve_takes_at_most_the_limit,
            reserve_by_name_takes_only_that_name,
            unique_push_is_skipped_while_the_key_is_stored,
            pushing_many_stores_each_job_once_in_order,
            lock_is_exclusive_until_unlocked_or_expired,
            lock_is_freed_only_by_its_owner,
            stats_count_each_state_per_queue,
            queues_lists_every_queue_with_jobs,
            wait_returns_within_its_timeout,
            concurrent_reservers_never_share_a_job
        );
    };
    (@cases $factory:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $factory().await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn push(store: &Store, name: &str, queue: &str, payload: &str) -> JobId {
    let job = NewJob::now(name, queue, payload);
    let id = job.id.clone();
    assert_eq!(store.push(job).await.unwrap(), PushOutcome::Stored);
    id
}

async fn take(store: &Store, qs: &[&str], limit: usize, lease_ms: Millis) -> Vec<Reserved> {
    let qs = queues(qs);
    store
        .reserve(&ReserveRequest::new(&qs, limit, lease_ms))
        .await
        .unwrap()
}

async fn take_one(store: &Store, qs: &[&str]) -> Reserved {
    let mut got = take(store, qs, 1, LONG).await;
    assert_eq!(got.len(), 1, "expected one job to be reserved");
    got.pop().unwrap()
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A pushed job comes back whole: id, name, queue, payload, attempt 1.
pub async fn pushed_job_is_reserved_with_its_payload(store: Store) {
    let mut job = NewJob::now("send-email", "default", r#"{"to":"a@b.c","n":1}"#);
    job.overlap_key = Some("send-email".into());
    let id = job.id.clone();
    store.push(job).await.unwrap();
    let r = take_one(&store, &["default"]).await;
    assert_eq!(r.job.id, id);
    assert_eq!(r.lease.id, id);
    assert_eq!(r.job.name, "send-email");
    assert_eq!(r.job.queue, "default");
    assert_eq!(r.job.payload, r#"{"to":"a@b.c","n":1}"#);
    assert_eq!(r.job.attempts, 1);
    assert_eq!(r.job.overlap_key.as_deref(), Some("send-email"));
    assert!(r.job.last_error.is_none());
    assert!(take(&store, &["default"], 1, LONG).await.is_empty());
}

/// A due job on an earlier queue is always taken before any job of a later one.
pub async fn queues_are_served_in_strict_priority_order(store: Store) {
    let low = push(&store, "a", "low", "{}").await;
    let default = push(&store, "a", "default", "{}").await;
    let high = push(&store, "a", "high", "{}").await;
    let order = ["high", "default", "low"];
    assert_eq!(take_one(&store, &order).await.job.id, high);
    assert_eq!(take_one(&store, &order).await.job.id, default);
    assert_eq!(take_one(&store, &order).await.job.id, low);
    // A batch also follows the order.
    let ids = [
        push(&store, "b", "low", "{}").await,
        push(&store, "b", "high", "{}").await,
    ];
    let batch = take(&store, &order, 2, LONG).await;
    assert_eq!(
        batch.iter().map(|r| r.job.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone(), ids[0].clone()]
    );
    // A queue not asked for is never served.
    push(&store, "c", "other", "{}").await;
    assert!(take(&store, &order, 5, LONG).await.is_empty());
}

/// Within one queue, jobs come out in the order they were pushed.
pub async fn jobs_of_one_queue_come_out_first_in_first_out(store: Store) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(push(&store, "fifo", "default", &format!("{{\"i\":{i}}}")).await);
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(take_one(&store, &["default"]).await.job.id);
    }
    assert_eq!(got, ids);
}

/// A job scheduled in the future is not reserved before its time, and is after.
pub async fn scheduled_job_is_not_reserved_before_its_time(store: Store) {
    let mut job = NewJob::now("later", "default", "{}");
    let due = now_ms() + 600;
    job.available_at = due;
    store.push(job).await.unwrap();
    // On a loaded machine the push itself may outlast the wait; only a claim that
    // starts before the due time can prove the job early.
    let asked_at = now_ms();
    let got = take(&store, &["default"], 1, LONG).await;
    assert!(
        got.is_empty() || asked_at >= due,
        "a scheduled job ran early"
    );
    if !got.is_empty() {
        return;
    }
    sleep_ms(800).await;
    assert_eq!(take_one(&store, &["default"]).await.job.name, "later");
}

/// While its lease holds, a reserved job is not handed to anyone else.
pub async fn leased_job_is_invisible_until_its_lease_expires(store: Store) {
    push(&store, "leased", "default", "{}").await;
    let first = take(&store, &["default"], 1, SHORT).await;
    assert_eq!(first.len(), 1);
    assert!(
        take(&store, &["default"], 1, LONG).await.is_empty(),
        "a leased job was handed out twice"
    );
    sleep_ms(SHORT as u64 + 300).await;
    let again = take(&store, &["default"], 1, LONG).await;
    assert_eq!(
        again.len(),
        1,
        "a job whose lease expired was not reserved again"
    );
    assert_eq!(again[0].job.id, first[0].job.id);
}

/// A job whose worker vanished comes back with its attempt counted.
pub async fn expired_lease_is_reserved_again_as_the_next_attempt(store: Store) {
    push(&store, "crashy", "default", "{}").await;
    let first = take(&store, &["default"], 1, SHORT).await.pop().unwrap();
    assert_eq!(first.job.attempts, 1);
    sleep_ms(SHORT as u64 + 300).await;
    let second = take_one(&store, &["default"]).await;
    assert_eq!(second.job.attempts, 2);
    assert_ne!(second.lease.token, first.lease.token);
}

/// Extending a lease keeps the job away from other workers past the first deadline.
pub async fn extended_lease_keeps_the_job_invisible(store: Store) {
    push(&store, "long", "default", "{}").await;
    let r = take(&store, &["default"], 1, SHORT).await.pop().unwrap();
    for _ in 0..3 {
        sleep_ms(SHORT as u64 / 2).await;
        assert!(
            store.extend(&r.lease, SHORT).await.unwrap(),
            "extending a held lease failed"
        );
    }
    assert!(
        take(&store, &["default"], 1, LONG).await.is_empty(),
        "an extended lease expired"
    );
    assert!(store.ack(&r.lease).await.unwrap());
}

/// Once a job was reserved again, the old holder can no longer ack, retry, release, fail or extend it.
pub async fn stale_lease_cannot_finish_a_job_reserved_again(store: Store) {
    push(&store, "fenced", "default", "{}").await;
    let old = take(&store, &["default"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let new = take_one(&store, &["default"]).await;
    assert!(!store.ack(&old.lease).await.unwrap());
    assert!(!store.extend(&old.lease, LONG).await.unwrap());
    assert!(!store.retry(&old.lease, now_ms(), "x").await.unwrap());
    assert!(!store.release(&old.lease, now_ms()).await.unwrap());
    assert!(!store.fail(&old.lease, "x").await.unwrap());
    assert!(store.failed(10).await.unwrap().is_empty());
    assert!(store.ack(&new.lease).await.unwrap());
}

/// An acked job is gone for good.
pub async fn acked_job_is_gone(store: Store) {
    push(&store, "done", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    assert!(store.ack(&r.lease).await.unwrap());
    assert!(
        !store.ack(&r.lease).await.unwrap(),
        "a second ack claimed success"
    );
    let stats = store.stats().await.unwrap();
    assert!(
        stats
            .iter()
            .all(|s| s.ready + s.reserved + s.scheduled + s.failed == 0)
    );
}

/// A batch ack removes the jobs whose leases are current and leaves a stale lease's job alone.
pub async fn acking_many_removes_exactly_the_jobs_still_held(store: Store) {
    for i in 0..5 {
        push(&store, "batch", "default", &format!("{{\"i\":{i}}}")).await;
    }
    push(&store, "stale", "low", "{}").await;
    let held = take(&store, &["default"], 5, LONG).await;
    assert_eq!(held.len(), 5);
    let stale = take(&store, &["low"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let current = take_one(&store, &["low"]).await;
    let mut leases: Vec<_> = held.iter().map(|r| r.lease.clone()).collect();
    leases.insert(2, stale.lease.clone());
    let acked = store.ack_many(&leases).await.unwrap();
    assert_eq!(acked, [true, true, false, true, true, true]);
    assert!(store.ack_many(&[]).await.unwrap().is_empty());
    let stats = store.stats().await.unwrap();
    let reserved: u64 = stats.iter().map(|s| s.reserved).sum();
    let others: u64 = stats.iter().map(|s| s.ready + s.scheduled + s.failed).sum();
    assert_eq!(
        (reserved, others),
        (1, 0),
        "only the re-reserved job may remain"
    );
    assert!(store.ack(&current.lease).await.unwrap());
}

/// A retried job waits for its backoff, then comes back with its attempts and last error.
pub async fn retried_job_waits_and_keeps_its_attempts_and_error(store: Store) {
    push(&store, "flaky", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    assert!(
        store
            .retry(&r.lease, now_ms() + 500, "boom: disk full")
            .await
            .unwrap()
    );
    assert!(
        take(&store, &["default"], 1, LONG).await.is_empty(),
        "a retry ran before its backoff"
    );
    sleep_ms(700).await;
    let again = take_one(&store, &["default"]).await;
    assert_eq!(again.job.attempts, 2);
    assert_eq!(again.job.last_error.as_deref(), Some("boom: disk full"));
}

/// A batch retry requeues the jobs whose leases are current, each with its own due time
/// and error, and leaves a stale lease's job alone.
pub async fn retrying_many_requeues_exactly_the_jobs_still_held(store: Store) {
    let first = push(&store, "flaky", "default", r#"{"i":1}"#).await;
    let second = push(&store, "flaky", "default", r#"{"i":2}"#).await;
    let urgent = push(&store, "flaky", "high", "{}").await;
    push(&store, "stale", "low", "{}").await;
    let held = take(&store, &["high", "default"], 3, LONG).await;
    assert_eq!(held.len(), 3);
    let stale = take(&store, &["low"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let current = take_one(&store, &["low"]).await;
    let lease = |id: &JobId| {
        let r = held.iter().find(|r| &r.job.id == id).unwrap();
        r.lease.clone()
    };
    let quoted = "it's \"quoted\"; ünïcode, 10% off";
    let later = now_ms() + 500;
    let retry = |lease: Lease, available_at: Millis, error: &str| Retry {
        lease,
        available_at,
        error: error.to_string(),
    };
    let retries = [
        retry(lease(&first), later, "boom: disk full"),
        retry(stale.lease.clone(), now_ms(), "a stale holder failed"),
        retry(lease(&urgent), now_ms(), quoted),
        retry(lease(&second), later, "second"),
    ];
    assert_eq!(
        store.retry_many(&retries).await.unwrap(),
        [true, false, true, true]
    );
    assert!(store.retry_many(&[]).await.unwrap().is_empty());

    // A job retried for now is due at once, with its attempt and error kept.
    let again = take(&store, &["high", "default"], 3, LONG).await;
    assert_eq!(again.len(), 1, "a retry ran before its backoff");
    assert_eq!(again[0].job.id, urgent);
    assert_eq!(again[0].job.attempts, 2);
    assert_eq!(again[0].job.last_error.as_deref(), Some(quoted));

    // The others wait for their own time.
    sleep_ms(700).await;
    let mut waited = take(&store, &["default"], 3, LONG).await;
    waited.sort_by(|a, b| a.job.id.cmp(&b.job.id));
    let got: Vec<_> = waited
        .iter()
        .map(|r| {
            (
                r.job.id.clone(),
                r.job.attempts,
                r.job.last_error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (first, 2, Some("boom: disk full")),
            (second, 2, Some("second"))
        ]
    );

    // The stale lease's job is still its current holder's, without the stale error.
    assert!(
        take(&store, &["low"], 1, LONG).await.is_empty(),
        "a stale retry made a job ready"
    );
    assert!(store.release(&current.lease, now_ms()).await.unwrap());
    let back = take_one(&store, &["low"]).await;
    assert_eq!((back.job.attempts, back.job.last_error), (2, None));
    assert!(store.ack(&back.lease).await.unwrap());
}

/// A batch bigger than a store writes in one statement is still written whole: every
/// retry and ack in it lands on its own job. It stores `size` jobs, so it is not one of
/// [`conformance_tests!`](crate::conformance_tests)' rules: a driver that cuts batches
/// calls it with a `size` above its cut.
pub async fn big_batches_are_written_whole(store: Store, size: usize) {
    let mut pushers = Vec::new();
    for part in 0..8 {
        let store = store.clone();
        pushers.push(tokio::spawn(async move {
            for i in (part..size).step_by(8) {
                push(&store, "bulk", "default", &format!("{{\"i\":{i}}}")).await;
            }
        }));
    }
    for pusher in pushers {
        pusher.await.unwrap();
    }
    let held = take(&store, &["default"], size, LONG).await;
    assert_eq!(held.len(), size);
    let retries: Vec<Retry> = held
        .iter()
        .map(|r| Retry {
            lease: r.lease.clone(),
            available_at: now_ms(),
            error: format!("attempt of {}", r.job.id),
        })
        .collect();
    let retried = store.retry_many(&retries).await.unwrap();
    assert_eq!(retried.iter().filter(|r| **r).count(), size);

    let again = take(&store, &["default"], size, LONG).await;
    assert_eq!(again.len(), size, "a retried job did not come back");
    for r in &again {
        assert_eq!(r.job.attempts, 2);
        assert_eq!(
            r.job.last_error.as_deref(),
            Some(format!("attempt of {}", r.job.id).as_str()),
            "a job got another job's error"
        );
    }
    let leases: Vec<_> = again.iter().map(|r| r.lease.clone()).collect();
    let acked = store.ack_many(&leases).await.unwrap();
    assert_eq!(acked.iter().filter(|a| **a).count(), size);
    let stats = store.stats().await.unwrap();
    assert!(
        stats
            .iter()
            .all(|s| s.ready + s.reserved + s.scheduled + s.failed == 0),
        "{stats:?}"
    );
}

/// Releasing hands a job back without spending an attempt.
pub async fn released_job_does_not_count_an_attempt(store: Store) {
    push(&store, "busy", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    assert!(store.release(&r.lease, now_ms()).await.unwrap());
    let again = take_one(&store, &["default"]).await;
    assert_eq!(again.job.attempts, 1);
}

/// A failed job leaves the queue and is kept with its error, attempts, queue and payload.
pub async fn failed_job_moves_to_the_failed_store_with_its_error(store: Store) {
    let id = push(&store, "doomed", "low", r#"{"x":1}"#).await;
    let r = take_one(&store, &["low"]).await;
    assert!(store.fail(&r.lease, "it broke").await.unwrap());
    assert!(take(&store, &["low"], 1, LONG).await.is_empty());
    let failed = store.failed(10).await.unwrap();
    assert_eq!(failed.len(), 1);
    let f = &failed[0];
    assert_eq!(f.id, id);
    assert_eq!(f.name, "doomed");
    assert_eq!(f.queue, "low");
    assert_eq!(f.payload, r#"{"x":1}"#);
    assert_eq!(f.error, "it broke");
    assert_eq!(f.attempts, 1);
    assert!(f.failed_at >= f.created_at);
    let stats = store.stats().await.unwrap();
    let low = stats
        .iter()
        .find(|s| s.queue == "low")
        .expect("stats lists the failed job's queue");
    assert_eq!((low.failed, low.ready), (1, 0));
}

/// Failed jobs can be put back on their queue, deleted one by one, or all at once.
pub async fn failed_job_can_be_retried_forgotten_and_flushed(store: Store) {
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(push(&store, "doomed", "default", &format!("{{\"i\":{i}}}")).await);
        let r = take_one(&store, &["default"]).await;
        store.fail(&r.lease, "no").await.unwrap();
    }
    assert_eq!(store.failed(10).await.unwrap().len(), 4);
    assert_eq!(store.failed(2).await.unwrap().len(), 2);

    assert!(store.retry_failed(&ids[0]).await.unwrap());
    assert!(!store.retry_failed(&ids[0]).await.unwrap());
    let back = take_one(&store, &["default"]).await;
    assert_eq!(back.job.id, ids[0]);
    assert_eq!(
        back.job.attempts, 1,
        "a retried failed job starts its attempts afresh"
    );
    assert_eq!(back.job.payload, r#"{"i":0}"#);

    assert!(store.forget_failed(&ids[1]).await.unwrap());
    assert!(!store.forget_failed(&ids[1]).await.unwrap());
    assert_eq!(store.flush_failed().await.unwrap(), 2);
    assert!(store.failed(10).await.unwrap().is_empty());
}

/// A batch reservation never takes more than asked.
pub async fn reserve_takes_at_most_the_limit(store: Store) {
    for _ in 0..7 {
        push(&store, "many", "default", "{}").await;
    }
    assert_eq!(take(&store, &["default"], 3, LONG).await.len(), 3);
    assert_eq!(take(&store, &["default"], 10, LONG).await.len(), 4);
    assert!(take(&store, &["default"], 10, LONG).await.is_empty());
}

/// `job:run NAME` reserves only jobs of that name, in any requested queue.
pub async fn reserve_by_name_takes_only_that_name(store: Store) {
    push(&store, "other", "default", "{}").await;
    let wanted = push(&store, "wanted", "high", "{}").await;
    push(&store, "other", "high", "{}").await;
    let qs = queues(&["high", "default"]);
    let got = store
        .reserve(&ReserveRequest::new(&qs, 10, LONG).only_named("wanted"))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.id, wanted);
}

/// A unique push is skipped while a job with its key is stored, and allowed once it is done.
pub async fn unique_push_is_skipped_while_the_key_is_stored(store: Store) {
    let unique = |payload: &str| {
        let mut job = NewJob::now("report", "default", payload);
        job.unique_key = Some("report:2024-01".into());
        job
    };
    assert_eq!(store.push(unique("{}")).await.unwrap(), PushOutcome::Stored);
    assert_eq!(
        store.push(unique("{}")).await.unwrap(),
        PushOutcome::Duplicate
    );
    let r = take_one(&store, &["default"]).await;
    assert_eq!(
        store.push(unique("{}")).await.unwrap(),
        PushOutcome::Duplicate,
        "a reserved job still holds its key"
    );
    store.ack(&r.lease).await.unwrap();
    assert_eq!(store.push(unique("{}")).await.unwrap(), PushOutcome::Stored);
    let r = take_one(&store, &["default"]).await;
    store.fail(&r.lease, "x").await.unwrap();
    assert_eq!(
        store.push(unique("{}")).await.unwrap(),
        PushOutcome::Stored,
        "a failed job kept its unique key"
    );

    // Many racing pushes store exactly one.
    store.flush_failed().await.unwrap();
    let r = take_one(&store, &["default"]).await;
    store.ack(&r.lease).await.unwrap();
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let job = unique("{}");
        racers.push(tokio::spawn(async move { store.push(job).await.unwrap() }));
    }
    let mut stored = 0;
    for racer in racers {
        if racer.await.unwrap() == PushOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "racing unique pushes stored {stored} jobs");
}

/// A batch push stores every job (more than one SQL chunk's worth), skips unique keys
/// already taken or repeated within the batch, keeps a scheduled job of the batch waiting,
/// keeps dispatch order, and refuses a bad queue name without storing anything.
pub async fn pushing_many_stores_each_job_once_in_order(store: Store) {
    let mut taken = NewJob::now("report", "default", "{}");
    taken.unique_key = Some("report:taken".into());
    assert_eq!(store.push(taken).await.unwrap(), PushOutcome::Stored);

    let mut batch: Vec<NewJob> = (0..1_200)
        .map(|i| NewJob::now("bulk", ["default", "low"][i % 2], &format!("{{\"n\":{i}}}")))
        .collect();
    for (at, key) in [(10, "report:taken"), (20, "report:new"), (30, "report:new")] {
        batch[at].unique_key = Some(key.into());
    }
    batch[40].available_at = now_ms() + 3_600_000;
    let outcomes = store.push_many(batch).await.unwrap();
    assert_eq!(outcomes.len(), 1_200);
    let duplicates: Vec<usize> = (0..outcomes.len())
        .filter(|&i| outcomes[i] == PushOutcome::Duplicate)
        .collect();
    assert_eq!(
        duplicates,
        [10, 30],
        "the taken key and the repeated key are skipped"
    );

    let mut seen = Vec::new();
    loop {
        let got = take(&store, &["default", "low"], 500, LONG).await;
        if got.is_empty() {
            break;
        }
        for r in got {
            if r.job.name == "bulk" {
                seen.push((r.job.queue.clone(), r.job.payload.clone()));
            }
        }
    }
    assert_eq!(
        seen.len(),
        1_197,
        "every stored job of the batch that is due is reserved once"
    );
    let default = store.stats().await.unwrap();
    let default = default.iter().find(|s| s.queue == "default").unwrap();
    assert_eq!(default.scheduled, 1, "the scheduled job of the batch waits");
    let order = |queue: &str| -> Vec<u64> {
        seen.iter()
            .filter(|(q, _)| q == queue)
            .map(|(_, p)| p[5..p.len() - 1].parse().unwrap())
            .collect()
    };
    let mut sorted = order("default");
    sorted.sort();
    assert_eq!(
        order("default"),
        sorted,
        "a queue gives back a batch in dispatch order"
    );
    assert_eq!((order("default").len(), order("low").len()), (597, 600));

    let bad = vec![
        NewJob::now("bulk", "no spaces allowed", "{}"),
        NewJob::now("bulk", "default", "{}"),
    ];
    let refused = store.push_many(bad).await;
    assert!(
        matches!(refused, Err(crate::DriverError::Invalid(_))),
        "a bad queue name is refused: {refused:?}"
    );
    assert!(take(&store, &["default"], 10, LONG).await.is_empty());
}

/// A lock has one holder until it is freed or its time runs out.
pub async fn lock_is_exclusive_until_unlocked_or_expired(store: Store) {
    assert!(store.lock("report", "a", LONG).await.unwrap());
    assert!(!store.lock("report", "b", LONG).await.unwrap());
    assert!(
        store.lock("report", "a", LONG).await.unwrap(),
        "the holder could not renew its lock"
    );
    assert!(
        store.lock("other", "b", LONG).await.unwrap(),
        "locks of different keys collided"
    );
    store.unlock("report", "a").await.unwrap();
    assert!(store.lock("report", "b", SHORT).await.unwrap());
    assert!(!store.lock("report", "c", LONG).await.unwrap());
    sleep_ms(SHORT as u64 + 300).await;
    assert!(
        store.lock("report", "c", LONG).await.unwrap(),
        "an expired lock was still held"
    );
}

/// Only the holder's unlock frees a lock.
pub async fn lock_is_freed_only_by_its_owner(store: Store) {
    assert!(store.lock("sync", "a", LONG).await.unwrap());
    store.unlock("sync", "b").await.unwrap();
    assert!(!store.lock("sync", "b", LONG).await.unwrap());
    store.unlock("sync", "a").await.unwrap();
    store.unlock("sync", "a").await.unwrap();
    assert!(store.lock("sync", "b", LONG).await.unwrap());
}

/// Stats count ready, scheduled, reserved and failed jobs per queue.
pub async fn stats_count_each_state_per_queue(store: Store) {
    push(&store, "s", "default", "{}").await;
    push(&store, "s", "default", "{}").await;
    let mut later = NewJob::now("s", "default", "{}");
    later.available_at = now_ms() + 60_000;
    store.push(later).await.unwrap();
    push(&store, "s", "high", "{}").await;
    let r = take_one(&store, &["high"]).await;
    push(&store, "s", "high", "{}").await;
    let f = take_one(&store, &["high"]).await;
    store.fail(&f.lease, "x").await.unwrap();
    let stats = store.stats().await.unwrap();
    let names: Vec<&str> = stats.iter().map(|s| s.queue.as_str()).collect();
    assert_eq!(names, ["default", "high"]);
    let d = &stats[0];
    assert_eq!((d.ready, d.scheduled, d.reserved, d.failed), (2, 1, 0, 0));
    let h = &stats[1];
    assert_eq!((h.ready, h.scheduled, h.reserved, h.failed), (0, 0, 1, 1));
    store.ack(&r.lease).await.unwrap();
}

/// Every queue holding a job shows up, once.
pub async fn queues_lists_every_queue_with_jobs(store: Store) {
    assert!(store.queues().await.unwrap().is_empty());
    push(&store, "q", "low", "{}").await;
    push(&store, "q", "emails", "{}").await;
    push(&store, "q", "emails", "{}").await;
    let mut got = store.queues().await.unwrap();
    got.sort();
    assert_eq!(got, ["emails", "low"]);
}

/// `wait` never sleeps much past its timeout, and wakes early where the store can signal.
pub async fn wait_returns_within_its_timeout(store: Store) {
    let qs = queues(&["default"]);
    let started = std::time::Instant::now();
    store.wait(&qs, Duration::from_millis(200)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "wait overslept its timeout"
    );
    if store.capabilities().wakes_across_processes {
        let pusher = store.clone();
        let waiter = tokio::spawn({
            let store = store.clone();
            async move {
                let started = std::time::Instant::now();
                store
                    .wait(&queues(&["default"]), Duration::from_secs(30))
                    .await
                    .unwrap();
                started.elapsed()
            }
        });
        // Keep pushing until the waiter is woken, so the test does not depend on when it subscribed.
        let mut pushes = 0;
        while !waiter.is_finished() {
            push(&pusher, "wake", "default", "{}").await;
            pushes += 1;
            assert!(pushes < 100, "wait did not wake on a push");
            sleep_ms(100).await;
        }
        assert!(waiter.await.unwrap() < Duration::from_secs(15));
    }
}

/// Several workers reserving at once never get the same job, and together get them all.
pub async fn concurrent_reservers_never_share_a_job(store: Store) {
    const JOBS: usize = 200;
    let mut pushed = HashSet::new();
    for i in 0..JOBS {
        pushed.insert(
            push(
                &store,
                "race",
                if i % 2 == 0 { "high" } else { "default" },
                "{}",
            )
            .await,
        );
    }
    let mut workers = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let qs = queues(&["high", "default"]);
            let mut mine = Vec::new();
            loop {
                let got = store
                    .reserve(&ReserveRequest::new(&qs, 3, LONG))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                for r in got {
                    assert!(store.ack(&r.lease).await.unwrap());
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
    assert_eq!(seen, pushed, "some jobs were never reserved");
}

/// For stores that write a batch in one transaction (the SQL stores): a batch the store
/// refuses part-way (here a job reusing a stored id, past the first 1,000) stores nothing.
pub async fn a_refused_batch_stores_nothing(store: Store) {
    let first = NewJob::now("bulk", "default", "{}");
    let reused = first.id.clone();
    assert_eq!(store.push(first).await.unwrap(), PushOutcome::Stored);
    let mut batch: Vec<NewJob> = (0..1_500)
        .map(|_| NewJob::now("bulk", "default", "{}"))
        .collect();
    batch[1_200].id = reused.clone();
    let refused = store.push_many(batch).await;
    assert!(refused.is_err(), "a reused id is refused");
    let left: Vec<JobId> = take(&store, &["default"], 2_000, LONG)
        .await
        .into_iter()
        .map(|r| r.job.id)
        .collect();
    assert_eq!(left, [reused], "nothing of the refused batch was stored");
}
