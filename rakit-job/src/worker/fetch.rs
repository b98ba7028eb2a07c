//! Fetching: which queues to ask, in which order, and backing off while the store is down.

use crate::queue::Queue;
use rakit_job_core::{DriverError, Millis, ReserveRequest, Reserved};
use std::time::{Duration, Instant};

/// The queues served first, in this order, when a worker serves every queue.
const FIRST: [&str; 3] = ["high", "default", "low"];

/// How often a worker serving every queue looks for new queue names while busy.
const REFRESH: Duration = Duration::from_secs(2);

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

    /// Reserves up to `limit` jobs from the served queues, highest priority first.
    pub(crate) async fn fetch(
        &mut self,
        limit: usize,
        lease_ms: Millis,
    ) -> Result<Vec<Reserved>, DriverError> {
        let refreshed = self.refresh_queues().await?;
        let mut jobs = self.reserve(limit, lease_ms).await?;
        // Nothing due on the queues we knew of: a job may wait on a queue created since.
        if jobs.is_empty() && !refreshed && self.fixed.is_none() {
            let before = self.known.clone();
            self.refreshed = None;
            self.refresh_queues().await?;
            if self.known != before {
                jobs = self.reserve(limit, lease_ms).await?;
            }
        }
        self.last_was_empty = jobs.is_empty();
        self.outages = 0;
        Ok(jobs)
    }

    async fn reserve(&self, limit: usize, lease_ms: Millis) -> Result<Vec<Reserved>, DriverError> {
        let queues = self.current_queues();
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = ReserveRequest::new(queues, limit, lease_ms);
        if let Some(name) = &self.only_named {
            request = request.only_named(name);
        }
        self.queue.driver().reserve(&request).await
    }

    /// The queues asked, in priority order.
    pub(crate) fn current_queues(&self) -> &[String] {
        self.fixed.as_deref().unwrap_or(&self.known)
    }

    /// Notes a failed fetch and says how long to wait before the next: 1 s doubling to 30 s.
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
            let job = fetcher.fetch(1, 60_000).await.unwrap().pop().unwrap();
            order.push(job.job.queue);
        }
        assert_eq!(order, ["high", "default", "low", "alpha", "zeta"]);
    }
}
