//! Fetching: which queues to ask, in which order, and backing off while the store is down.

use crate::queue::Queue;
use rakit_job_core::{DriverError, Millis, ReserveRequest, Reserved};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The queues served first, in this order, when a worker serves every queue.
const FIRST: [&str; 3] = ["high", "default", "low"];

/// How often a worker serving every queue looks for new queue names while busy.
const REFRESH: Duration = Duration::from_secs(2);

/// A claim running in its own task, so the worker keeps starting and finishing jobs while
/// the store answers.
pub(crate) struct Claim {
    /// How many jobs it asked for.
    pub(crate) asked: usize,
    /// Whether the queue names were re-read just before it started.
    fresh: bool,
    task: JoinHandle<Result<Vec<Reserved>, DriverError>>,
}

impl Claim {
    /// The jobs claimed; waiting for them is safe to cancel (the task carries on).
    pub(crate) async fn jobs(&mut self) -> Result<Vec<Reserved>, DriverError> {
        match (&mut self.task).await {
            Ok(jobs) => jobs,
            Err(e) => Err(DriverError::store(format!(
                "a claim stopped unexpectedly: {e}"
            ))),
        }
    }
}

pub(crate) struct Fetcher {
    queue: Queue,
    fixed: Option<Vec<String>>,
    only_named: Option<String>,
    known: Vec<String>,
    refreshed: Option<Instant>,
    last_was_empty: bool,
    outages: u32,
}

impl Fetcher {
    pub(crate) fn new(
        queue: &Queue,
        fixed: Option<Vec<String>>,
        only_named: Option<String>,
    ) -> Self {
        Fetcher {
            queue: queue.clone(),
            fixed,
            only_named,
            known: Vec::new(),
            refreshed: None,
            last_was_empty: true,
            outages: 0,
        }
    }

    /// Starts claiming up to `limit` jobs from the served queues, highest priority first,
    /// in a task of its own, after re-reading the queue names if they are stale or the
    /// last claim found nothing.
    pub(crate) async fn start(
        &mut self,
        limit: usize,
        lease_ms: Millis,
    ) -> Result<Claim, DriverError> {
        let fresh = self.refresh_queues().await?;
        let queues = self.current_queues().to_vec();
        let name = self.only_named.clone();
        let driver = self.queue.driver().clone();
        let task = tokio::spawn(async move {
            if queues.is_empty() {
                return Ok(Vec::new());
            }
            let mut request = ReserveRequest::new(&queues, limit, lease_ms);
            if let Some(name) = &name {
                request = request.only_named(name);
            }
            driver.reserve(&request).await
        });
        Ok(Claim {
            asked: limit,
            fresh,
            task,
        })
    }

    /// Notes what a claim brought. True when it found nothing but the served queues changed
    /// since it started (a job may wait on a queue created meanwhile): worth claiming again now.
    pub(crate) async fn finished(
        &mut self,
        claim: &Claim,
        got: usize,
    ) -> Result<bool, DriverError> {
        self.outages = 0;
        self.last_was_empty = got == 0;
        if got > 0 || claim.fresh || self.fixed.is_some() {
            return Ok(false);
        }
        let before = self.known.clone();
        self.refreshed = None;
        self.refresh_queues().await?;
        Ok(self.known != before)
    }

    /// The queues asked, in priority order.
    pub(crate) fn current_queues(&self) -> &[String] {
        self.fixed.as_deref().unwrap_or(&self.known)
    }

    /// Notes a failed claim and says how long to wait before the next: 1 s doubling to 30 s.
    pub(crate) fn outage(&mut self, _error: &DriverError) -> Duration {
        self.outages += 1;
        Duration::from_secs(1u64 << (self.outages - 1).min(5)).min(Duration::from_secs(30))
    }

    /// Re-reads the queue names when serving every queue and the list is stale or the
    /// last fetch found nothing; true when it did.
    async fn refresh_queues(&mut self) -> Result<bool, DriverError> {
        if self.fixed.is_some() {
            return Ok(false);
        }
        let stale = self.refreshed.is_none_or(|at| at.elapsed() >= REFRESH);
        if !(self.last_was_empty || stale) {
            return Ok(false);
        }
        // The usual queues are always served, so an idle worker waits on them even before
        // they hold a job (stores that signal per queue need the names to listen on).
        let mut names = self.queue.driver().queues().await?;
        names.extend(FIRST.iter().map(|q| q.to_string()));
        names.sort_by_key(|q| {
            (
                FIRST.iter().position(|f| f == q).unwrap_or(FIRST.len()),
                q.clone(),
            )
        });
        names.dedup();
        self.known = names;
        self.refreshed = Some(Instant::now());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rakit_job_core::NewJob;

    #[tokio::test]
    async fn every_queue_is_served_high_default_low_then_by_name() {
        let queue = Queue::memory();
        for q in ["zeta", "low", "alpha", "default", "high"] {
            queue
                .driver()
                .push(NewJob::now("x", q, "{}"))
                .await
                .unwrap();
        }
        let mut fetcher = Fetcher::new(&queue, None, None);
        let mut order = Vec::new();
        for _ in 0..5 {
            let mut claim = fetcher.start(1, 60_000).await.unwrap();
            let job = claim.jobs().await.unwrap().pop().unwrap();
            order.push(job.job.queue);
        }
        assert_eq!(order, ["high", "default", "low", "alpha", "zeta"]);
    }
}
