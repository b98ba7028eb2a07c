//! Fetching: which queues to ask, in which order, minus the paused ones, and claims that
//! run in their own tasks so the worker keeps starting and finishing jobs meanwhile.

use crate::queue::Queue;
use rakit_job_core::{DriverError, Millis, PAUSED, ReserveRequest, Reserved};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The queues served first, in this order, when a worker serves every queue.
const FIRST: [&str; 3] = ["high", "default", "low"];

/// How often a worker serving every queue looks for new queue names while busy.
const REFRESH: Duration = Duration::from_secs(2);

/// How often a worker reads the paused queues: a pause holds every worker within a second.
pub(crate) const PAUSE_CHECK: Duration = Duration::from_millis(500);

/// A claim running in its own task.
pub(crate) struct Claim {
    /// How many jobs it asked for.
    pub(crate) asked: usize,
    /// Whether the queue names were re-read just before it started.
    fresh: bool,
    /// How many runs of this worker had stored follow-ups when it started (a chain's
    /// next job, a batch's callbacks): one that ends during the claim means an empty
    /// claim does not prove the queues empty.
    pub(crate) chained_before: u64,
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
    worker: Arc<str>,
    fixed: Option<Vec<String>>,
    only_named: Option<String>,
    known: Vec<String>,
    refreshed: Option<Instant>,
    last_was_empty: bool,
    paused: Vec<String>,
    paused_read: Option<Instant>,
    outages: u32,
}

impl Fetcher {
    pub(crate) fn new(
        queue: &Queue,
        worker: Arc<str>,
        fixed: Option<Vec<String>>,
        only_named: Option<String>,
    ) -> Self {
        Fetcher {
            queue: queue.clone(),
            worker,
            fixed,
            only_named,
            known: Vec::new(),
            refreshed: None,
            last_was_empty: true,
            paused: Vec::new(),
            paused_read: None,
            outages: 0,
        }
    }

    /// Re-reads the paused queues when the last read is older than [`PAUSE_CHECK`]; the
    /// paused ones, newly read or not.
    pub(crate) async fn paused(&mut self) -> Result<&[String], DriverError> {
        if self
            .paused_read
            .is_none_or(|at| at.elapsed() >= PAUSE_CHECK)
        {
            let entries = self.queue.driver().entries(PAUSED).await?;
            self.paused = entries.into_iter().map(|(queue, _)| queue).collect();
            self.paused_read = Some(Instant::now());
        }
        Ok(&self.paused)
    }

    /// The queues served now, in priority order, paused ones left out.
    pub(crate) fn served(&self) -> Vec<String> {
        self.fixed
            .as_deref()
            .unwrap_or(&self.known)
            .iter()
            .filter(|q| !self.paused.contains(q))
            .cloned()
            .collect()
    }

    /// Whether any served queue is paused (an idle worker then looks again often).
    pub(crate) fn holds_paused(&self) -> bool {
        let all = self.fixed.as_deref().unwrap_or(&self.known);
        all.iter().any(|q| self.paused.contains(q))
    }

    /// Starts claiming up to `limit` jobs from the served queues, highest priority first,
    /// after re-reading the queue names if they are stale or the last claim found nothing.
    pub(crate) async fn start(
        &mut self,
        limit: usize,
        lease_ms: Millis,
    ) -> Result<Claim, DriverError> {
        let fresh = self.refresh_queues().await?;
        self.paused().await?;
        Ok(self.claim(self.served(), limit, lease_ms, fresh))
    }

    /// Starts a claim of up to `limit` jobs from `queues` only.
    pub(crate) fn claim(
        &self,
        queues: Vec<String>,
        limit: usize,
        lease_ms: Millis,
        fresh: bool,
    ) -> Claim {
        let name = self.only_named.clone();
        let store = self.queue.driver().clone();
        let worker = self.worker.clone();
        let task = tokio::spawn(async move {
            if queues.is_empty() || limit == 0 {
                return Ok(Vec::new());
            }
            let mut request = ReserveRequest::new(&queues, limit, lease_ms, &worker);
            if let Some(name) = &name {
                request = request.only_named(name);
            }
            store.reserve(&request).await
        });
        Claim {
            asked: limit,
            fresh,
            chained_before: 0,
            task,
        }
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

    /// Notes a failed claim and says how long to wait before the next: 1 s doubling to 30 s.
    pub(crate) fn outage(&mut self) -> Duration {
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
    use rakit_job_core::{NewJob, StoreExt};

    #[tokio::test]
    async fn every_queue_is_served_high_default_low_then_by_name_and_paused_ones_not_at_all() {
        let queue = Queue::memory();
        for q in ["zeta", "low", "alpha", "default", "high", "held"] {
            queue
                .driver()
                .push_one(NewJob::now("x", q, "{}"))
                .await
                .unwrap();
        }
        queue
            .driver()
            .put_entry(PAUSED, "held", "", None)
            .await
            .unwrap();
        let mut fetcher = Fetcher::new(&queue, "w".into(), None, None);
        let mut order = Vec::new();
        for _ in 0..6 {
            let mut claim = fetcher.start(1, 60_000).await.unwrap();
            if let Some(job) = claim.jobs().await.unwrap().pop() {
                order.push(job.job.queue);
            }
        }
        assert_eq!(order, ["high", "default", "low", "alpha", "zeta"]);
        assert!(fetcher.holds_paused());
    }
}
