//! The store conformance suite: one set of rules every store must follow.
//!
//! A store's test file calls [`conformance_tests!`](crate::conformance_tests) with an
//! async function that returns a fresh, isolated store (its own database, key prefix or
//! folder), and gets one `#[tokio::test]` per rule, named after the rule it proves.
//! A change in store semantics extends this suite first.
//!
//! ```ignore
//! async fn store() -> std::sync::Arc<dyn rakit_job_core::Driver> {
//!     std::sync::Arc::new(rakit_job_core::MemoryDriver::new())
//! }
//! rakit_job_core::conformance_tests!(store);
//! ```

use crate::{
    CancelOutcome, Driver, FailedSelect, Finish, JobId, JobQuery, Lease, LeaseState, LockRequest,
    Locked, Millis, MinuteCount, NewJob, PushOutcome, ReserveRequest, Reserved, State, StoreExt,
    now_ms,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn Driver>;

/// A lease long enough that it never expires during a test.
const LONG: Millis = 60_000;
/// A lease short enough to watch it expire.
const SHORT: Millis = 400;
/// The worker id the suite reserves as.
const WORKER: &str = "conformance-worker";

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
            a_bulk_push_keeps_every_field_byte_for_byte,
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
    assert_eq!(store.push_one(job).await.unwrap(), PushOutcome::Stored);
    id
}

async fn push_later(store: &Store, name: &str, queue: &str, in_ms: Millis) -> JobId {
    let mut job = NewJob::now(name, queue, "{}");
    job.available_at = now_ms() + in_ms;
    let id = job.id.clone();
    assert_eq!(store.push_one(job).await.unwrap(), PushOutcome::Stored);
    id
}

async fn take(store: &Store, qs: &[&str], limit: usize, lease_ms: Millis) -> Vec<Reserved> {
    let qs = queues(qs);
    store
        .reserve(&ReserveRequest::new(&qs, limit, lease_ms, WORKER))
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

/// Every id listed in `state` (walking all pages of `limit`), in listing order.
async fn listed(store: &Store, query: JobQuery) -> Vec<JobId> {
    let mut ids = Vec::new();
    let mut query = query;
    for _ in 0..1000 {
        let page = store.jobs(&query).await.unwrap();
        assert!(
            page.jobs.len() <= query.limit,
            "a page held more jobs than its limit"
        );
        for job in &page.jobs {
            assert_eq!(job.state, query.state, "a listed job is in another state");
        }
        ids.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => return ids,
        }
    }
    panic!("the listing never ended");
}

fn set(ids: &[JobId]) -> HashSet<JobId> {
    ids.iter().cloned().collect()
}

/// A pushed job comes back whole: id, name, queue, payload, attempt 1.
pub async fn pushed_job_is_reserved_with_its_payload(store: Store) {
    let mut job = NewJob::now("send-email", "default", r#"{"to":"a@b.c","n":1}"#);
    job.overlap_key = Some("send-email".into());
    let id = job.id.clone();
    store.push_one(job).await.unwrap();
    let r = take_one(&store, &["default"]).await;
    assert_eq!(r.job.id, id);
    assert_eq!(r.lease.id, id);
    assert_eq!(r.job.name, "send-email");
    assert_eq!(r.job.queue, "default");
    assert_eq!(r.job.payload, r#"{"to":"a@b.c","n":1}"#);
    assert_eq!(r.job.attempts, 1);
    assert_eq!(r.job.overlap_key.as_deref(), Some("send-email"));
    assert!(r.job.last_error.is_none());
    assert!(!r.job.cancelled);
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
    store.push_one(job).await.unwrap();
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
        assert_eq!(
            store.extend_one(&r.lease, SHORT).await.unwrap(),
            LeaseState::Held,
            "extending a held lease failed"
        );
    }
    assert!(
        take(&store, &["default"], 1, LONG).await.is_empty(),
        "an extended lease expired"
    );
    assert!(store.ack(&r.lease).await.unwrap());
}

/// One renewal call reports each lease: held, held but cancelled, or lost.
pub async fn extending_many_reports_each_lease_as_held_cancelled_or_lost(store: Store) {
    for i in 0..3 {
        push(&store, "renew", "default", &format!("{{\"i\":{i}}}")).await;
    }
    let held = take(&store, &["default"], 3, LONG).await;
    assert_eq!(held.len(), 3);
    assert_eq!(
        store.cancel(&held[1].job.id).await.unwrap(),
        CancelOutcome::Requested
    );
    assert!(store.ack(&held[2].lease).await.unwrap());
    let leases: Vec<Lease> = held.iter().map(|r| r.lease.clone()).collect();
    assert_eq!(
        store.extend(&leases, LONG).await.unwrap(),
        [LeaseState::Held, LeaseState::Cancelled, LeaseState::Lost]
    );
    assert!(store.extend(&[], LONG).await.unwrap().is_empty());
}

/// Once a job was reserved again, the old holder can no longer finish or extend it.
pub async fn stale_lease_cannot_finish_a_job_reserved_again(store: Store) {
    push(&store, "fenced", "default", "{}").await;
    let old = take(&store, &["default"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let new = take_one(&store, &["default"]).await;
    assert!(!store.ack(&old.lease).await.unwrap());
    assert_eq!(
        store.extend_one(&old.lease, LONG).await.unwrap(),
        LeaseState::Lost
    );
    assert!(!store.retry(&old.lease, now_ms(), "x").await.unwrap());
    assert!(!store.release(&old.lease, now_ms()).await.unwrap());
    assert!(!store.fail(&old.lease, "x").await.unwrap());
    let follow_up = NewJob::now("next", "default", "{}");
    let ack = Finish::Ack {
        lease: old.lease.clone(),
        then: vec![follow_up],
    };
    assert_eq!(store.complete(&[ack]).await.unwrap(), [false]);
    let failed = listed(&store, JobQuery::new(State::Failed, 10)).await;
    assert!(failed.is_empty(), "a stale fail reached the failed store");
    assert!(store.ack(&new.lease).await.unwrap());
    assert!(
        take(&store, &["default"], 5, LONG).await.is_empty(),
        "a stale ack stored its follow-up"
    );
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
    assert!(store.job(&r.job.id).await.unwrap().is_none());
}

/// One batch of final writes (acks, retries, fails, releases) lands each on its own job and
/// leaves a stale lease's job alone.
pub async fn completing_many_writes_exactly_the_jobs_still_held(store: Store) {
    for i in 0..5 {
        push(&store, "batch", "default", &format!("{{\"i\":{i}}}")).await;
    }
    push(&store, "stale", "low", "{}").await;
    let held = take(&store, &["default"], 5, LONG).await;
    assert_eq!(held.len(), 5);
    let stale = take(&store, &["low"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let current = take_one(&store, &["low"]).await;
    let lease = |i: usize| held[i].lease.clone();
    let later = now_ms() + 60_000;
    let batch = [
        Finish::Ack {
            lease: lease(0),
            then: vec![],
        },
        Finish::Ack {
            lease: stale.lease.clone(),
            then: vec![],
        },
        Finish::Retry {
            lease: lease(1),
            available_at: later,
            error: "boom".into(),
        },
        Finish::Fail {
            lease: lease(2),
            error: "for good".into(),
            cancelled: false,
        },
        Finish::Release {
            lease: lease(3),
            available_at: now_ms(),
        },
        Finish::Ack {
            lease: lease(4),
            then: vec![],
        },
    ];
    assert_eq!(
        store.complete(&batch).await.unwrap(),
        [true, false, true, true, true, true]
    );
    assert!(store.complete(&[]).await.unwrap().is_empty());
    let stats = store.stats().await.unwrap();
    let total = |f: fn(&crate::QueueStats) -> u64| stats.iter().map(f).sum::<u64>();
    assert_eq!(
        (
            total(|s| s.ready),
            total(|s| s.scheduled),
            total(|s| s.reserved),
            total(|s| s.failed)
        ),
        (1, 1, 1, 1),
        "released, retried, the re-reserved stale job, failed: {stats:?}"
    );
    let back = take_one(&store, &["default"]).await;
    assert_eq!(back.job.id, held[3].job.id);
    assert_eq!(back.job.attempts, 1, "a release counted an attempt");
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
    let retry = |lease: Lease, available_at: Millis, error: &str| Finish::Retry {
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
        store.complete(&retries).await.unwrap(),
        [true, false, true, true]
    );

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
/// [`conformance_tests!`](crate::conformance_tests)' rules: a store that cuts batches
/// calls it with a `size` above its cut.
pub async fn big_batches_are_written_whole(store: Store, size: usize) {
    let jobs: Vec<NewJob> = (0..size)
        .map(|i| NewJob::now("bulk", "default", &format!("{{\"i\":{i}}}")))
        .collect();
    store.push(jobs).await.unwrap();
    let held = take(&store, &["default"], size, LONG).await;
    assert_eq!(held.len(), size);
    let retries: Vec<Finish> = held
        .iter()
        .map(|r| Finish::Retry {
            lease: r.lease.clone(),
            available_at: now_ms(),
            error: format!("attempt of {}", r.job.id),
        })
        .collect();
    let retried = store.complete(&retries).await.unwrap();
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
    let acks: Vec<Finish> = again
        .iter()
        .map(|r| Finish::Ack {
            lease: r.lease.clone(),
            then: vec![],
        })
        .collect();
    let acked = store.complete(&acks).await.unwrap();
    assert_eq!(acked.iter().filter(|a| **a).count(), size);
    let leases: Vec<Lease> = again.iter().map(|r| r.lease.clone()).collect();
    let renewed = store.extend(&leases, LONG).await.unwrap();
    assert!(renewed.iter().all(|s| *s == LeaseState::Lost));
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
    let page = store.jobs(&JobQuery::new(State::Failed, 10)).await.unwrap();
    assert_eq!(page.jobs.len(), 1);
    let f = &page.jobs[0];
    assert_eq!(f.id, id);
    assert_eq!(f.name, "doomed");
    assert_eq!(f.queue, "low");
    assert_eq!(f.state, State::Failed);
    assert_eq!(f.payload, r#"{"x":1}"#);
    assert_eq!(f.last_error.as_deref(), Some("it broke"));
    assert_eq!(f.attempts, 1);
    assert!(f.failed_at.is_some_and(|at| at >= f.created_at));
    let stats = store.stats().await.unwrap();
    let low = stats
        .iter()
        .find(|s| s.queue == "low")
        .expect("stats lists the failed job's queue");
    assert_eq!((low.failed, low.ready), (1, 0));
}

/// Failed jobs can be put back on their queue or deleted: one by id, a queue's, all, or
/// those older than a time.
pub async fn failed_jobs_can_be_retried_forgotten_and_pruned_by_id_queue_or_age(store: Store) {
    let mut ids = Vec::new();
    for (i, queue) in ["default", "default", "low", "low", "low", "high"]
        .iter()
        .enumerate()
    {
        ids.push(push(&store, "doomed", queue, &format!("{{\"i\":{i}}}")).await);
        let r = take_one(&store, &[queue]).await;
        assert!(store.fail(&r.lease, "no").await.unwrap());
    }
    let all_failed = listed(&store, JobQuery::new(State::Failed, 4)).await;
    assert_eq!(set(&all_failed), set(&ids));

    let one = FailedSelect::One(ids[0].clone());
    assert_eq!(store.retry_failed(&one).await.unwrap(), 1);
    assert_eq!(store.retry_failed(&one).await.unwrap(), 0);
    let back = take_one(&store, &["default"]).await;
    assert_eq!(back.job.id, ids[0]);
    assert_eq!(
        back.job.attempts, 1,
        "a retried failed job starts its attempts afresh"
    );
    assert_eq!(back.job.payload, r#"{"i":0}"#);
    assert!(store.ack(&back.lease).await.unwrap());

    let low = FailedSelect::Queue("low".into());
    assert_eq!(store.retry_failed(&low).await.unwrap(), 3);
    assert_eq!(take(&store, &["low"], 10, LONG).await.len(), 3);

    assert_eq!(
        store
            .forget_failed(&FailedSelect::One(ids[1].clone()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .forget_failed(&FailedSelect::One(ids[1].clone()))
            .await
            .unwrap(),
        0
    );
    // Only the `high` one is left; pruning before its failure keeps it, after removes it.
    assert_eq!(store.prune_failed(now_ms() - 60_000).await.unwrap(), 0);
    assert_eq!(store.prune_failed(now_ms() + 1_000).await.unwrap(), 1);
    assert!(
        listed(&store, JobQuery::new(State::Failed, 10))
            .await
            .is_empty()
    );

    push(&store, "doomed", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    store.fail(&r.lease, "again").await.unwrap();
    assert_eq!(store.forget_failed(&FailedSelect::All).await.unwrap(), 1);
    assert_eq!(store.retry_failed(&FailedSelect::All).await.unwrap(), 0);
}

/// An ack that carries follow-up jobs stores them in the same step, due as they say.
pub async fn an_acked_job_stores_its_follow_ups_in_the_same_step(store: Store) {
    push(&store, "first", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    let mut next = NewJob::now("second", "low", r#"{"step":2}"#);
    next.meta = Some(r#"{"chain":["third"]}"#.into());
    let next_id = next.id.clone();
    let later = {
        let mut job = NewJob::now("later", "default", "{}");
        job.available_at = now_ms() + 60_000;
        job
    };
    let ack = Finish::Ack {
        lease: r.lease.clone(),
        then: vec![next, later],
    };
    assert_eq!(store.complete(&[ack]).await.unwrap(), [true]);
    let got = take_one(&store, &["default", "low"]).await;
    assert_eq!(got.job.id, next_id);
    assert_eq!((got.job.name.as_str(), got.job.attempts), ("second", 1));
    assert_eq!(got.job.meta.as_deref(), Some(r#"{"chain":["third"]}"#));
    let scheduled = listed(&store, JobQuery::new(State::Scheduled, 10)).await;
    assert_eq!(scheduled.len(), 1, "the later follow-up waits for its time");
}

/// A chain's next job keeps the id it was given at dispatch: a holder whose lease ran out
/// acks with it and is refused (storing nothing), then the job's next holder acks with
/// the same one, and it is stored once.
pub async fn a_follow_up_refused_with_a_stale_ack_is_stored_once_by_the_next_holder(store: Store) {
    push(&store, "first", "default", "{}").await;
    let old = take(&store, &["default"], 1, SHORT).await.pop().unwrap();
    sleep_ms(SHORT as u64 + 300).await;
    let new = take_one(&store, &["default"]).await;
    let next = NewJob::now("second", "low", r#"{"step":2}"#);
    let ack = |lease: &Lease| Finish::Ack {
        lease: lease.clone(),
        then: vec![next.clone()],
    };
    assert_eq!(store.complete(&[ack(&old.lease)]).await.unwrap(), [false]);
    assert_eq!(store.complete(&[ack(&new.lease)]).await.unwrap(), [true]);
    let got = take(&store, &["default", "low"], 5, LONG).await;
    let ids: Vec<JobId> = got.into_iter().map(|r| r.job.id).collect();
    assert_eq!(ids, [next.id], "the follow-up is stored once");
}

/// The runtime's meta text survives every state: reserved, retried, failed, retried again.
pub async fn meta_is_kept_through_retries_and_the_failed_store(store: Store) {
    let meta = r#"{"chain":[{"name":"b"}],"quote":"it's"}"#;
    let mut job = NewJob::now("chained", "default", "{}");
    job.meta = Some(meta.into());
    let id = job.id.clone();
    store.push_one(job).await.unwrap();
    let r = take_one(&store, &["default"]).await;
    assert_eq!(r.job.meta.as_deref(), Some(meta));
    store.retry(&r.lease, now_ms(), "once").await.unwrap();
    let r = take_one(&store, &["default"]).await;
    assert_eq!(r.job.meta.as_deref(), Some(meta));
    store.fail(&r.lease, "twice").await.unwrap();
    let failed = store
        .job(&id)
        .await
        .unwrap()
        .expect("the failed job is shown");
    assert_eq!(failed.meta.as_deref(), Some(meta));
    assert_eq!(
        store
            .retry_failed(&FailedSelect::One(id.clone()))
            .await
            .unwrap(),
        1
    );
    let r = take_one(&store, &["default"]).await;
    assert_eq!(r.job.meta.as_deref(), Some(meta));
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
        .reserve(&ReserveRequest::new(&qs, 10, LONG, WORKER).only_named("wanted"))
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
    assert_eq!(
        store.push_one(unique("{}")).await.unwrap(),
        PushOutcome::Stored
    );
    assert_eq!(
        store.push_one(unique("{}")).await.unwrap(),
        PushOutcome::Duplicate
    );
    let r = take_one(&store, &["default"]).await;
    assert_eq!(
        store.push_one(unique("{}")).await.unwrap(),
        PushOutcome::Duplicate,
        "a reserved job still holds its key"
    );
    store.ack(&r.lease).await.unwrap();
    assert_eq!(
        store.push_one(unique("{}")).await.unwrap(),
        PushOutcome::Stored
    );
    let r = take_one(&store, &["default"]).await;
    store.fail(&r.lease, "x").await.unwrap();
    assert_eq!(
        store.push_one(unique("{}")).await.unwrap(),
        PushOutcome::Stored,
        "a failed job kept its unique key"
    );

    // Many racing pushes store exactly one.
    store.forget_failed(&FailedSelect::All).await.unwrap();
    let r = take_one(&store, &["default"]).await;
    store.ack(&r.lease).await.unwrap();
    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let job = unique("{}");
        racers.push(tokio::spawn(
            async move { store.push_one(job).await.unwrap() },
        ));
    }
    let mut stored = 0;
    for racer in racers {
        if racer.await.unwrap() == PushOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "racing unique pushes stored {stored} jobs");
}

/// A push with a unique window is skipped while an earlier push of its key is within the
/// window, whether that job still waits, already ran, or failed; after the window it is
/// stored again. Racing pushes store one.
pub async fn unique_for_skips_the_key_for_its_window_whatever_became_of_the_job(store: Store) {
    let windowed = |key: &str, window: Millis| {
        let mut job = NewJob::now("sync-account", "default", "{}");
        job.unique_key = Some(key.into());
        job.unique_for = Some(window);
        job
    };
    assert_eq!(
        store.push_one(windowed("acct:1", 60_000)).await.unwrap(),
        PushOutcome::Stored
    );
    let r = take_one(&store, &["default"]).await;
    assert!(store.ack(&r.lease).await.unwrap());
    assert_eq!(
        store.push_one(windowed("acct:1", 60_000)).await.unwrap(),
        PushOutcome::Duplicate,
        "a key accepted within its window was taken again after its job ran"
    );
    assert_eq!(
        store.push_one(windowed("acct:2", 60_000)).await.unwrap(),
        PushOutcome::Stored
    );

    // A short window lapses whatever the first job is doing (here: still waiting).
    assert_eq!(
        store.push_one(windowed("acct:3", 1_000)).await.unwrap(),
        PushOutcome::Stored
    );
    assert_eq!(
        store.push_one(windowed("acct:3", 1_000)).await.unwrap(),
        PushOutcome::Duplicate
    );
    sleep_ms(2_500).await;
    assert_eq!(
        store.push_one(windowed("acct:3", 1_000)).await.unwrap(),
        PushOutcome::Stored,
        "a window that ran out still held its key"
    );

    let mut racers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let job = windowed("acct:race", 60_000);
        racers.push(tokio::spawn(
            async move { store.push_one(job).await.unwrap() },
        ));
    }
    let mut stored = 0;
    for racer in racers {
        if racer.await.unwrap() == PushOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1, "racing windowed pushes stored {stored} jobs");
    let batch = vec![
        windowed("acct:batch", 60_000),
        windowed("acct:batch", 60_000),
    ];
    assert_eq!(
        store.push(batch).await.unwrap(),
        [PushOutcome::Stored, PushOutcome::Duplicate]
    );
}

/// A bulk push stores every job as given, byte for byte: payloads with tabs, line breaks,
/// backslashes, quotes and characters beyond ASCII (what a store's bulk path must escape),
/// overlap keys and metas; and each starts at no attempts.
pub async fn a_bulk_push_keeps_every_field_byte_for_byte(store: Store) {
    let tricky = [
        "tab\there",
        "line\nbreak\r\n",
        "back\\slash \\N \\t",
        "\"quoted\" 'single'",
        "é ü 漢字 🚀",
        "",
    ];
    let jobs: Vec<NewJob> = (0..200)
        .map(|i| {
            let payload = format!("{{\"i\":{i},\"s\":\"{}\"}}", tricky[i % tricky.len()]);
            let mut job = NewJob::now("bulk-bytes", "default", &payload);
            if i % 3 == 0 {
                job.overlap_key = Some(format!("key\\{i} é"));
            }
            if i % 4 == 0 {
                job.meta = Some(format!("{{\"m\":\"\\\\{i}\\n\"}}"));
            }
            job
        })
        .collect();
    let sent: HashMap<JobId, NewJob> = jobs.iter().map(|j| (j.id.clone(), j.clone())).collect();
    let outcomes = store.push(jobs).await.unwrap();
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Stored),
        "{outcomes:?}"
    );
    let got = take(&store, &["default"], 200, LONG).await;
    assert_eq!(got.len(), 200);
    for r in got {
        let job = &sent[&r.job.id];
        let stored = (&r.job.name, &r.job.payload, &r.job.overlap_key, &r.job.meta);
        assert_eq!(
            stored,
            (&job.name, &job.payload, &job.overlap_key, &job.meta)
        );
        assert_eq!(
            r.job.attempts, 1,
            "a job's first reservation is its attempt 1"
        );
    }
}

/// A batch push stores every job (more than one SQL chunk's worth), skips unique keys
/// already taken or repeated within the batch, keeps a scheduled job of the batch waiting,
/// keeps dispatch order, and refuses a bad queue name without storing anything.
pub async fn pushing_many_stores_each_job_once_in_order(store: Store) {
    let mut taken = NewJob::now("report", "default", "{}");
    taken.unique_key = Some("report:taken".into());
    assert_eq!(store.push_one(taken).await.unwrap(), PushOutcome::Stored);

    let mut batch: Vec<NewJob> = (0..1_200)
        .map(|i| NewJob::now("bulk", ["default", "low"][i % 2], &format!("{{\"n\":{i}}}")))
        .collect();
    for (at, key) in [(10, "report:taken"), (20, "report:new"), (30, "report:new")] {
        batch[at].unique_key = Some(key.into());
    }
    batch[40].available_at = now_ms() + 3_600_000;
    let outcomes = store.push(batch).await.unwrap();
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
    let refused = store.push(bad).await;
    assert!(
        matches!(refused, Err(crate::DriverError::Invalid(_))),
        "a bad queue name is refused: {refused:?}"
    );
    assert!(take(&store, &["default"], 10, LONG).await.is_empty());
}

/// A lock has one holder until it is freed or its time runs out.
pub async fn lock_is_exclusive_until_unlocked_or_expired(store: Store) {
    assert!(store.lock_one("report", "a", LONG).await.unwrap());
    assert!(!store.lock_one("report", "b", LONG).await.unwrap());
    assert!(
        store.lock_one("report", "a", LONG).await.unwrap(),
        "the holder could not renew its lock"
    );
    assert!(
        store.lock_one("other", "b", LONG).await.unwrap(),
        "locks of different keys collided"
    );
    store.unlock("report", "a").await.unwrap();
    assert!(store.lock_one("report", "b", SHORT).await.unwrap());
    assert!(!store.lock_one("report", "c", LONG).await.unwrap());
    sleep_ms(SHORT as u64 + 300).await;
    assert!(
        store.lock_one("report", "c", LONG).await.unwrap(),
        "an expired lock was still held"
    );
}

/// Only the holder's unlock frees a lock.
pub async fn lock_is_freed_only_by_its_owner(store: Store) {
    assert!(store.lock_one("sync", "a", LONG).await.unwrap());
    store.unlock("sync", "b").await.unwrap();
    assert!(!store.lock_one("sync", "b", LONG).await.unwrap());
    store.unlock("sync", "a").await.unwrap();
    store.unlock("sync", "a").await.unwrap();
    assert!(store.lock_one("sync", "b", LONG).await.unwrap());
}

/// A key of capacity N has at most N holders at once, even when many ask at the same
/// time; a refused owner learns when the earliest hold ends.
pub async fn a_lock_of_capacity_n_has_at_most_n_holders(store: Store) {
    let ask = |owner: String, ttl_ms: Millis| {
        let store = store.clone();
        async move {
            let request = LockRequest {
                key: "transcode",
                capacity: 3,
                owner: &owner,
                ttl_ms,
            };
            store.lock(&request).await.unwrap()
        }
    };
    let mut racers = Vec::new();
    for i in 0..10 {
        racers.push(tokio::spawn(ask(format!("w{i}"), LONG)));
    }
    let mut taken = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Locked::Taken => taken += 1,
            Locked::Busy { until } => assert!(
                until > now_ms() + LONG / 2,
                "a busy answer named a time that has passed"
            ),
        }
    }
    assert_eq!(taken, 3, "a capacity-3 key had {taken} holders");
    for i in 0..10 {
        store.unlock("transcode", &format!("w{i}")).await.unwrap();
    }
    // Short holds lapse and make room again; the busy answer says when.
    for owner in ["a", "b", "c"] {
        assert_eq!(ask(owner.into(), SHORT).await, Locked::Taken);
    }
    let asked_at = now_ms();
    match ask("d".into(), LONG).await {
        Locked::Busy { until } => assert!(
            until >= asked_at && until <= asked_at + SHORT + 500,
            "the busy answer named {} ms from now",
            until - asked_at
        ),
        Locked::Taken => panic!("a fourth holder took a capacity-3 key"),
    }
    sleep_ms(SHORT as u64 + 300).await;
    assert_eq!(ask("d".into(), LONG).await, Locked::Taken);
}

/// Stats count ready, scheduled, reserved and failed jobs per queue.
pub async fn stats_count_each_state_per_queue(store: Store) {
    push(&store, "s", "default", "{}").await;
    push(&store, "s", "default", "{}").await;
    push_later(&store, "s", "default", 60_000).await;
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

/// Paging through a state with a small limit gives every job in that state exactly once,
/// for each of the five states.
pub async fn listing_gives_each_job_of_a_state_once_page_by_page(store: Store) {
    let mut pending = Vec::new();
    for i in 0..7 {
        let queue = ["default", "low"][i % 2];
        pending.push(push(&store, "listed", queue, &format!("{{\"i\":{i}}}")).await);
    }
    let scheduled = [
        push_later(&store, "listed", "default", 60_000).await,
        push_later(&store, "listed", "low", 60_000).await,
    ];
    let running: Vec<JobId> = take(&store, &["default", "low"], 3, LONG)
        .await
        .into_iter()
        .map(|r| r.job.id)
        .collect();
    pending.retain(|id| !running.contains(id));
    let doomed = take_one(&store, &["default", "low"]).await;
    store.fail(&doomed.lease, "broken").await.unwrap();
    pending.retain(|id| id != &doomed.job.id);
    let cancelled = pending.pop().unwrap();
    assert_eq!(
        store.cancel(&cancelled).await.unwrap(),
        CancelOutcome::Removed
    );

    let expect = [
        (State::Pending, pending.clone()),
        (State::Scheduled, scheduled.to_vec()),
        (State::Running, running.clone()),
        (State::Failed, vec![doomed.job.id.clone()]),
        (State::Cancelled, vec![cancelled.clone()]),
    ];
    for (state, ids) in expect {
        let got = listed(&store, JobQuery::new(state, 2)).await;
        assert_eq!(
            got.len(),
            ids.len(),
            "{state:?}: a job listed twice or missed"
        );
        assert_eq!(set(&got), set(&ids), "{state:?} lists other jobs");
    }
    // Pages stay stable while other states change: finishing a running job does not
    // disturb a walk through the pending ones.
    let first = store.jobs(&JobQuery::new(State::Pending, 1)).await.unwrap();
    let r = take_one(&store, &["default", "low"]).await;
    store.ack(&r.lease).await.unwrap();
    let rest = listed(
        &store,
        JobQuery::new(State::Pending, 1).after(&first.next.expect("more than one pending")),
    )
    .await;
    let mut walked: Vec<JobId> = first.jobs.iter().map(|j| j.id.clone()).collect();
    walked.extend(rest);
    let left: HashSet<JobId> = set(&pending)
        .into_iter()
        .filter(|id| id != &r.job.id)
        .collect();
    let walked: HashSet<JobId> = set(&walked)
        .into_iter()
        .filter(|id| id != &r.job.id)
        .collect();
    assert_eq!(walked, left, "a walk missed a job that stayed pending");
}

/// A listing can be narrowed to one queue, one job name, or both.
pub async fn listing_filters_by_queue_and_name(store: Store) {
    let a_high = push(&store, "alpha", "high", "{}").await;
    let b_high = push(&store, "beta", "high", "{}").await;
    let a_low = push(&store, "alpha", "low", "{}").await;
    let query = |queue: Option<&str>, name: Option<&str>| {
        let mut q = JobQuery::new(State::Pending, 10);
        q.queue = queue.map(str::to_string);
        q.name = name.map(str::to_string);
        q
    };
    let high = listed(&store, query(Some("high"), None)).await;
    assert_eq!(set(&high), set(&[a_high.clone(), b_high]));
    let alpha = listed(&store, query(None, Some("alpha"))).await;
    assert_eq!(set(&alpha), set(&[a_high.clone(), a_low]));
    let both = listed(&store, query(Some("high"), Some("alpha"))).await;
    assert_eq!(both, [a_high]);
    assert!(
        listed(&store, query(Some("nowhere"), None))
            .await
            .is_empty()
    );
}

/// A cursor that is not one the store gave is refused with an error, not misread.
pub async fn a_cursor_the_store_did_not_give_is_refused(store: Store) {
    for _ in 0..3 {
        push(&store, "paged", "default", "{}").await;
    }
    for state in [State::Pending, State::Failed] {
        let bad = JobQuery::new(state, 1).after("not a cursor; DROP TABLE jobs");
        assert!(
            matches!(store.jobs(&bad).await, Err(crate::DriverError::Invalid(_))),
            "{state:?}: a tampered cursor was accepted"
        );
    }
}

/// A job's details tell its payload, attempts, due time, lease, worker and last error.
pub async fn a_job_shows_its_payload_attempts_due_time_lease_worker_and_error(store: Store) {
    let id = push(&store, "shown", "default", r#"{"to":"<a@b.c>"}"#).await;
    let waiting = store
        .job(&id)
        .await
        .unwrap()
        .expect("a pending job is shown");
    assert_eq!(waiting.state, State::Pending);
    assert_eq!(waiting.payload, r#"{"to":"<a@b.c>"}"#);
    assert!(waiting.due_at.is_some_and(|d| d <= now_ms()));
    assert_eq!((waiting.worker.as_deref(), waiting.attempts), (None, 0));

    let r = take_one(&store, &["default"]).await;
    let running = store.job(&id).await.unwrap().unwrap();
    assert_eq!(running.state, State::Running);
    assert_eq!(running.worker.as_deref(), Some(WORKER));
    assert_eq!(running.attempts, 1);
    assert!(
        running
            .lease_until
            .is_some_and(|until| until > now_ms() + LONG / 2)
    );

    let retry_at = now_ms() + 60_000;
    store
        .retry(&r.lease, retry_at, "smtp said no")
        .await
        .unwrap();
    let retrying = store.job(&id).await.unwrap().unwrap();
    assert_eq!(retrying.state, State::Scheduled);
    assert_eq!(retrying.last_error.as_deref(), Some("smtp said no"));
    assert_eq!(retrying.due_at, Some(retry_at));
    assert_eq!(retrying.lease_until, None);

    assert!(store.job(&JobId::generate()).await.unwrap().is_none());
}

/// Cancelling a pending or scheduled job removes it from its queue at once and keeps it in
/// the failed store as cancelled, from where it can be retried.
pub async fn cancelling_a_waiting_job_keeps_it_as_cancelled(store: Store) {
    let pending = push(&store, "victim", "default", r#"{"n":1}"#).await;
    let scheduled = push_later(&store, "victim", "default", 60_000).await;
    for id in [&pending, &scheduled] {
        assert_eq!(store.cancel(id).await.unwrap(), CancelOutcome::Removed);
        assert_eq!(store.cancel(id).await.unwrap(), CancelOutcome::NotFound);
        let shown = store
            .job(id)
            .await
            .unwrap()
            .expect("the cancelled job is kept");
        assert_eq!(shown.state, State::Cancelled);
    }
    assert!(take(&store, &["default"], 10, LONG).await.is_empty());
    assert_eq!(
        store.cancel(&JobId::generate()).await.unwrap(),
        CancelOutcome::NotFound
    );
    assert!(
        listed(&store, JobQuery::new(State::Failed, 10))
            .await
            .is_empty(),
        "a cancelled job shows as failed"
    );
    assert_eq!(
        store
            .retry_failed(&FailedSelect::One(pending.clone()))
            .await
            .unwrap(),
        1
    );
    let back = take_one(&store, &["default"]).await;
    assert_eq!((back.job.id, back.job.cancelled), (pending, false));
}

/// Cancelling a running job leaves it with its worker, which sees the cancel at its next
/// renewal and fails it as cancelled; if that worker died, the next one to reserve it is
/// told it was cancelled.
pub async fn cancelling_a_running_job_is_seen_at_its_next_renewal(store: Store) {
    let id = push(&store, "long-report", "default", "{}").await;
    let r = take_one(&store, &["default"]).await;
    assert_eq!(store.cancel(&id).await.unwrap(), CancelOutcome::Requested);
    let shown = store.job(&id).await.unwrap().unwrap();
    assert_eq!(
        (shown.state, shown.cancel_requested),
        (State::Running, true)
    );
    assert_eq!(
        store.extend_one(&r.lease, LONG).await.unwrap(),
        LeaseState::Cancelled
    );
    let cancel = Finish::Fail {
        lease: r.lease.clone(),
        error: "cancelled while running".into(),
        cancelled: true,
    };
    assert!(store.complete_one(cancel).await.unwrap());
    assert_eq!(
        store.job(&id).await.unwrap().unwrap().state,
        State::Cancelled
    );

    // A worker that dies after the cancel: the job comes back marked, to be failed unrun.
    let id = push(&store, "long-report", "default", "{}").await;
    take(&store, &["default"], 1, SHORT).await;
    assert_eq!(store.cancel(&id).await.unwrap(), CancelOutcome::Requested);
    sleep_ms(SHORT as u64 + 300).await;
    let again = take_one(&store, &["default"]).await;
    assert_eq!((again.job.id, again.job.cancelled), (id, true));
}

/// Cancels racing claims: a job is either cancelled before any worker took it, and then
/// never handed out, or taken first, and then only asked to stop.
pub async fn a_cancel_racing_claims_never_lets_a_cancelled_job_run(store: Store) {
    const JOBS: usize = 60;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob::now("race", "default", &format!("{{\"i\":{i}}}")))
        .collect();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    store.push(jobs).await.unwrap();
    let canceller = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut removed = HashSet::new();
            for id in &ids {
                if store.cancel(id).await.unwrap() == CancelOutcome::Removed {
                    removed.insert(id.clone());
                }
                tokio::task::yield_now().await;
            }
            removed
        })
    };
    let mut taken = HashSet::new();
    loop {
        let done = canceller.is_finished();
        let got = take(&store, &["default"], 2, LONG).await;
        if got.is_empty() && done {
            break;
        }
        taken.extend(got.into_iter().map(|r| r.job.id));
        tokio::task::yield_now().await;
    }
    let removed = canceller.await.unwrap();
    assert!(
        taken.is_disjoint(&removed),
        "a job was both cancelled and handed to a worker"
    );
    assert_eq!(
        taken.len() + removed.len(),
        JOBS,
        "a job was neither cancelled nor taken"
    );
}

/// Entries of a kind are set, replaced, removed and listed by key; an entry with a time to
/// live is gone once it ran out; kinds never mix.
pub async fn entries_expire_and_kinds_are_kept_apart(store: Store) {
    store
        .put_entry("workers", "w1", r#"{"pid":1}"#, Some(1_000))
        .await
        .unwrap();
    store
        .put_entry("workers", "w2", r#"{"pid":2}"#, None)
        .await
        .unwrap();
    store.put_entry("paused", "low", "", None).await.unwrap();
    store
        .put_entry("workers", "w2", r#"{"pid":22}"#, None)
        .await
        .unwrap();
    assert_eq!(
        store.entries("workers").await.unwrap(),
        [
            ("w1".to_string(), r#"{"pid":1}"#.to_string()),
            ("w2".to_string(), r#"{"pid":22}"#.to_string())
        ]
    );
    assert_eq!(
        store.entries("paused").await.unwrap(),
        [("low".to_string(), String::new())]
    );
    sleep_ms(2_500).await;
    assert_eq!(
        store.entries("workers").await.unwrap(),
        [("w2".to_string(), r#"{"pid":22}"#.to_string())],
        "an entry outlived its time to live"
    );
    store.remove_entry("paused", "low").await.unwrap();
    store.remove_entry("paused", "never-there").await.unwrap();
    assert!(store.entries("paused").await.unwrap().is_empty());
    assert!(store.entries("nothing").await.unwrap().is_empty());
}

/// A swap sets an entry only from the value expected (none: only when it has no live
/// value, an entry that ran out counting as none); a plain read sees what it holds.
pub async fn an_entry_swaps_only_from_the_value_expected(store: Store) {
    let swap = |expected: Option<&'static str>, value: &'static str| {
        let store = store.clone();
        async move {
            store
                .swap_entry("batch", "b1", expected, value)
                .await
                .unwrap()
        }
    };
    assert_eq!(store.entry("batch", "b1").await.unwrap(), None);
    assert!(swap(None, "v1").await, "a swap from nothing was refused");
    assert!(!swap(None, "v2").await, "a second swap from nothing won");
    assert!(
        !swap(Some("V1"), "v2").await,
        "a swap from another value won"
    );
    assert_eq!(
        store.entry("batch", "b1").await.unwrap().as_deref(),
        Some("v1")
    );
    assert!(swap(Some("v1"), "v2").await);
    assert!(!swap(Some("v1"), "v3").await, "a stale swap won");
    assert_eq!(
        store.entry("batch", "b1").await.unwrap().as_deref(),
        Some("v2")
    );
    assert_eq!(store.entry("other", "b1").await.unwrap(), None);
    assert_eq!(
        store.entries("batch").await.unwrap(),
        [("b1".to_string(), "v2".to_string())]
    );

    store
        .put_entry("batch", "short", "old", Some(500))
        .await
        .unwrap();
    sleep_ms(1_500).await;
    assert_eq!(store.entry("batch", "short").await.unwrap(), None);
    assert!(
        !store
            .swap_entry("batch", "short", Some("old"), "new")
            .await
            .unwrap(),
        "a swap from a value that ran out won"
    );
    assert!(
        store
            .swap_entry("batch", "short", None, "new")
            .await
            .unwrap(),
        "an entry that ran out did not count as none"
    );
    assert_eq!(
        store.entry("batch", "short").await.unwrap().as_deref(),
        Some("new")
    );
}

/// Many tasks adding to one counter by read-and-swap end with every addition counted.
pub async fn concurrent_swaps_of_an_entry_lose_no_update(store: Store) {
    const TASKS: u64 = 6;
    const EACH: u64 = 15;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..EACH {
                    loop {
                        let now = store.entry("count", "n").await.unwrap();
                        let next = now.as_deref().map_or(0, |n| n.parse::<u64>().unwrap()) + 1;
                        let next = next.to_string();
                        if store
                            .swap_entry("count", "n", now.as_deref(), &next)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.entry("count", "n").await.unwrap(),
        Some((TASKS * EACH).to_string()),
        "an update was lost"
    );
}

/// Throughput counts add up per queue and minute, and are read back from a given minute on.
pub async fn throughput_adds_up_per_queue_and_minute(store: Store) {
    let minute = now_ms() / 60_000 * 60_000;
    let count = |queue: &str, minute: Millis, done: u64, failed: u64| MinuteCount {
        queue: queue.to_string(),
        minute,
        done,
        failed,
    };
    store
        .add_throughput(&[
            count("default", minute - 120_000, 5, 0),
            count("default", minute, 10, 1),
            count("high", minute, 3, 0),
        ])
        .await
        .unwrap();
    store
        .add_throughput(&[count("default", minute, 7, 2)])
        .await
        .unwrap();
    store.add_throughput(&[]).await.unwrap();
    assert_eq!(
        store.throughput(minute - 60_000).await.unwrap(),
        [count("default", minute, 17, 3), count("high", minute, 3, 0)]
    );
    assert_eq!(store.throughput(minute - 180_000).await.unwrap().len(), 3);
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
        push_until_finished(&pusher, "default", &waiter, "wait did not wake on a push").await;
        assert!(waiter.await.unwrap() < Duration::from_secs(15));
    }
}

/// A store whose wait ends whenever a job may have become claimable (`wakes_when_due`)
/// wakes its waiter when a scheduled job comes due, when a lease runs out, and on a push
/// to a queue it did not hold before; its idle workers rely on that instead of polling.
pub async fn wait_ends_when_a_job_may_have_become_claimable(store: Store) {
    if !store.capabilities().wakes_when_due {
        return;
    }
    let scheduled = push_later(&store, "later", "default", 300).await;
    let first = claimed_after_waiting(&store, "a scheduled job came due").await;
    assert_eq!(first.job.id, scheduled);
    let again = claimed_after_waiting(&store, "a lease ran out").await;
    assert_eq!(again.job.id, scheduled, "the job whose lease ran out");
    assert!(store.ack(&again.lease).await.unwrap());
    a_push_to_a_new_queue_ends_a_wait(store.clone(), store).await;
}

/// A wait on `default` ends when `pusher` — the same store, or another instance of it —
/// pushes to a queue nobody pushed to before; for stores that say `wakes_when_due`.
pub async fn a_push_to_a_new_queue_ends_a_wait(waiter: Store, pusher: Store) {
    let qs = queues(&["default"]);
    settle_waits(&waiter, &qs).await;
    let waiting = tokio::spawn(async move { waiter.wait(&qs, Duration::from_secs(600)).await });
    let what = "wait did not end on a push to a new queue";
    push_until_finished(&pusher, "brand-new", &waiting, what).await;
    waiting.await.unwrap().unwrap();
}

/// Pushes a job to `queue` every 100 ms until `waiting` ends, so a test does not depend on
/// when the waiter subscribed; fails with `what` after 100 pushes.
async fn push_until_finished<T>(
    pusher: &Store,
    queue: &str,
    waiting: &tokio::task::JoinHandle<T>,
    what: &str,
) {
    let mut pushes = 0;
    while !waiting.is_finished() {
        push(pusher, "wake", queue, "{}").await;
        pushes += 1;
        assert!(pushes < 100, "{what}");
        sleep_ms(100).await;
    }
}

/// A job due now that the waiter did not take ends a long wait within seconds: another
/// worker's claim may hold it for a moment (a claim on PostgreSQL skips the rows a claim
/// in flight has locked), and a waiter that slept past it would not learn of the lease that
/// claim then wrote. For the SQL stores that say `wakes_when_due`; the folder's claim is a
/// rename, which its waiters see.
pub async fn a_due_job_left_untaken_ends_a_wait(store: Store) {
    let qs = queues(&["default"]);
    push(&store, "untaken", "default", "{}").await;
    // The push's own wake-up passes: what may end the wait below is the job, due.
    settle_waits(&store, &qs).await;
    let wait = store.wait(&qs, Duration::from_secs(600));
    let ended = tokio::time::timeout(Duration::from_secs(10), wait).await;
    assert!(
        ended.is_ok(),
        "a wait slept on while a job of its queue was due"
    );
}

/// A wait on `default` ends when `other`, another instance of the store, retries a job
/// of it due shortly: the waiter learns the new due time. For stores that say
/// `wakes_when_due`; without it the waiter would sleep until the job's old lease ran out.
pub async fn another_instances_retry_ends_a_wait(waiter: Store, other: Store) {
    let qs = queues(&["default"]);
    push(&other, "flaky", "default", "{}").await;
    let held = take_one(&other, &["default"]).await;
    settle_waits(&waiter, &qs).await;
    let waiting = tokio::spawn(async move { waiter.wait(&qs, Duration::from_secs(600)).await });
    // Retry only once the waiter sleeps, or it would read the new due time anyway.
    sleep_ms(300).await;
    assert!(
        other
            .retry(&held.lease, now_ms() + 300, "boom")
            .await
            .unwrap()
    );
    let ended = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    ended
        .expect("wait did not end after another instance's retry")
        .unwrap()
        .unwrap();
}

/// Spends the waits that end at once (a file watch or a LISTEN connection just started,
/// news not yet seen), so that the next wait ends only on news or a due time. As in a
/// worker, a claim comes between waits; it asks for a name no job has, as `job:run NAME`
/// would, so it takes nothing and leaves any job of `qs` where it is.
async fn settle_waits(waiter: &Store, qs: &[String]) {
    let nothing = ReserveRequest::new(qs, 1, LONG, "settle").only_named("no-such-job");
    waiter.wait(qs, Duration::from_millis(50)).await.unwrap();
    sleep_ms(300).await;
    for _ in 0..2 {
        assert!(waiter.reserve(&nothing).await.unwrap().is_empty());
        waiter.wait(qs, Duration::from_millis(50)).await.unwrap();
    }
    assert!(waiter.reserve(&nothing).await.unwrap().is_empty());
}

/// Claims a job of `default` with a short lease, waiting (each wait far longer than the
/// test allows) while there is none; fails unless the waits end within 10 s because `what`.
async fn claimed_after_waiting(store: &Store, what: &str) -> Reserved {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let qs = queues(&["default"]);
    loop {
        if let Some(job) = take(store, &["default"], 1, SHORT).await.pop() {
            return job;
        }
        let wait = store.wait(&qs, Duration::from_secs(600));
        let ended = tokio::time::timeout_at(deadline, wait).await;
        ended
            .unwrap_or_else(|_| panic!("wait did not end when {what}"))
            .unwrap();
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
                    .reserve(&ReserveRequest::new(&qs, 3, LONG, WORKER))
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
    assert_eq!(store.push_one(first).await.unwrap(), PushOutcome::Stored);
    let mut batch: Vec<NewJob> = (0..1_500)
        .map(|_| NewJob::now("bulk", "default", "{}"))
        .collect();
    batch[1_200].id = reused.clone();
    let refused = store.push(batch).await;
    assert!(refused.is_err(), "a reused id is refused");
    let left: Vec<JobId> = take(&store, &["default"], 2_000, LONG)
        .await
        .into_iter()
        .map(|r| r.job.id)
        .collect();
    assert_eq!(left, [reused], "nothing of the refused batch was stored");
}
