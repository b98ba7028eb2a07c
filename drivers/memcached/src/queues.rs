//! The registry of queue names (`<prefix>:queues`, a small JSON list grown by
//! compare-and-swap) and the per-queue counts built by walking each queue's index.

use crate::failed;
use crate::index::Flow;
use crate::jobs::{in_queue, queue_index};
use crate::record::State;
use crate::store::Store;
use rakit_job_core::{DriverError, QueueStats, now_ms};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a process trusts that a queue it registered is still in the registry
/// (it is checked again after that, in case memcached evicted the registry).
const RECHECK: Duration = Duration::from_secs(30);
const TRIES: usize = 64;

/// Makes sure `queue` is in the registry.
pub(crate) fn register(store: &Store, queue: &str) -> Result<(), DriverError> {
    {
        let registered = store.registered.lock().unwrap_or_else(|p| p.into_inner());
        if registered
            .get(queue)
            .is_some_and(|at| at.elapsed() < RECHECK)
        {
            return Ok(());
        }
    }
    let key = store.keys.queues();
    for _ in 0..TRIES {
        let done = match store.mc.get(&key)? {
            None => store.mc.add(
                &key,
                &serde_json::to_vec(&[queue]).expect("names serialize"),
                0,
            )?,
            Some((bytes, cas)) => {
                let mut names: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
                if names.iter().any(|n| n == queue) {
                    true
                } else {
                    names.push(queue.to_string());
                    names.sort();
                    store.mc.cas(
                        &key,
                        &serde_json::to_vec(&names).expect("names serialize"),
                        0,
                        cas,
                    )?
                }
            }
        };
        if done {
            let mut registered = store.registered.lock().unwrap_or_else(|p| p.into_inner());
            registered.insert(queue.to_string(), Instant::now());
            return Ok(());
        }
    }
    Err(DriverError::store(
        "the queue registry is too contended; try again",
    ))
}

/// Every queue name ever registered.
fn registered(store: &Store) -> Result<Vec<String>, DriverError> {
    let names = match store.mc.get(&store.keys.queues())? {
        Some((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(names)
}

/// Per-queue counts of every queue holding a job, sorted by name.
pub(crate) fn stats(store: &Store) -> Result<Vec<QueueStats>, DriverError> {
    let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
    for queue in registered(store)? {
        let mut s = QueueStats {
            queue: queue.clone(),
            ..Default::default()
        };
        let now = now_ms();
        queue_index(store, &queue).walk(store, &queue, in_queue, |page| {
            for live in page {
                let r = &live.record;
                match r.state {
                    State::Ready if r.available_at <= now => s.ready += 1,
                    State::Ready => s.scheduled += 1,
                    State::Reserved if r.deadline.is_some_and(|d| d > now) => s.reserved += 1,
                    _ => s.ready += 1,
                }
            }
            Ok(Flow::Continue)
        })?;
        by_queue.insert(queue, s);
    }
    for (queue, n) in failed::counts(store)? {
        by_queue
            .entry(queue.clone())
            .or_insert_with(|| QueueStats {
                queue,
                ..Default::default()
            })
            .failed = n;
    }
    Ok(by_queue
        .into_values()
        .filter(|s| s.ready + s.scheduled + s.reserved + s.failed > 0)
        .collect())
}

/// The queues holding any job.
pub(crate) fn queues(store: &Store) -> Result<Vec<String>, DriverError> {
    Ok(stats(store)?.into_iter().map(|s| s.queue).collect())
}
