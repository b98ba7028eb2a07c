//! Counting: which queues hold jobs, and how many in each state.

use crate::failed;
use crate::fsio::{self, io_error};
use crate::layout::{JobName, Layout};
use crate::queue::{Folder, scan};
use rakit_job_core::{DriverError, Millis, QueueStats, now_ms, validate_queue};
use std::collections::BTreeMap;

/// Per-queue counts of every queue holding a job, sorted by queue name.
pub(crate) fn stats(layout: &Layout) -> Result<Vec<QueueStats>, DriverError> {
    let now = now_ms();
    let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
    let root = layout.queues();
    for queue in fsio::subfolders(&root).map_err(|e| io_error(&root, e))? {
        if validate_queue(&queue).is_err() {
            continue;
        }
        let mut s = QueueStats {
            queue: queue.clone(),
            ..Default::default()
        };
        for job in scan(layout, &queue, Folder::Ready)? {
            if job.name.time <= now {
                s.ready += 1;
            } else {
                s.scheduled += 1;
            }
        }
        for job in scan(layout, &queue, Folder::Reserved)? {
            if job.name.time > now {
                s.reserved += 1;
            } else {
                s.ready += 1;
            }
        }
        by_queue.insert(queue, s);
    }
    for (queue, n) in failed::counts(layout)? {
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

/// The queues holding any job, ready, scheduled, reserved or failed.
pub(crate) fn queues(layout: &Layout) -> Result<Vec<String>, DriverError> {
    Ok(stats(layout)?.into_iter().map(|s| s.queue).collect())
}

/// The earliest time after `now` at which a job of `queues` becomes due (a scheduled job
/// or a lease running out), so an idle worker sleeps no longer than that.
pub(crate) fn next_due(layout: &Layout, queues: &[String], now: Millis) -> Option<Millis> {
    let mut next = None;
    for queue in queues {
        for dir in [layout.ready(queue), layout.reserved(queue)] {
            for entry in fsio::list(&dir).unwrap_or_default() {
                if let Some(name) = JobName::parse(&entry.name)
                    && name.time > now
                    && next.is_none_or(|n| name.time < n)
                {
                    next = Some(name.time);
                }
            }
        }
    }
    next
}
