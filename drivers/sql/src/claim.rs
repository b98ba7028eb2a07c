//! Pieces of the claim every dialect shares: which queues to look at, and turning the
//! picked rows into leased jobs.

use rakit_job_core::{Lease, QueueStats, ReserveRequest, Reserved, StoredJob};
use std::collections::BTreeMap;

/// The requested queues in priority order, each once.
pub(crate) fn distinct_queues(request: &ReserveRequest<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(request.queues.len());
    for q in request.queues {
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    out
}

/// A fresh lease for each picked job, in the same order.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn leases_for(picked: &[StoredJob]) -> Vec<Lease> {
    picked
        .iter()
        .map(|job| Lease::new(job.id.clone(), &job.queue))
        .collect()
}

/// `n` fresh lease tokens, for a claim that writes them before it knows the job ids.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn fresh_tokens(n: usize) -> Vec<i64> {
    // Lease::new is the one place tokens are made; the id it is given does not matter.
    let id = rakit_job_core::JobId::generate();
    (0..n)
        .map(|_| Lease::new(id.clone(), "").token as i64)
        .collect()
}

/// The picked jobs as reserved: one more attempt each, with their leases.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn reserved(picked: Vec<StoredJob>, leases: Vec<Lease>) -> Vec<Reserved> {
    picked
        .into_iter()
        .zip(leases)
        .map(|(mut job, lease)| {
            job.attempts = job.attempts.saturating_add(1);
            Reserved { job, lease }
        })
        .collect()
}

/// Per-queue counts from the jobs table and the failed table, sorted by queue.
pub(crate) fn merge_stats(
    jobs: impl IntoIterator<Item = (String, i64, i64, i64)>,
    failed: impl IntoIterator<Item = (String, i64)>,
) -> Vec<QueueStats> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
    for (queue, ready, scheduled, reserved) in jobs {
        let s = by_queue.entry(queue.clone()).or_insert_with(|| QueueStats {
            queue,
            ..Default::default()
        });
        s.ready += count(ready);
        s.scheduled += count(scheduled);
        s.reserved += count(reserved);
    }
    for (queue, failed) in failed {
        by_queue
            .entry(queue.clone())
            .or_insert_with(|| QueueStats {
                queue,
                ..Default::default()
            })
            .failed += count(failed);
    }
    by_queue.into_values().collect()
}
