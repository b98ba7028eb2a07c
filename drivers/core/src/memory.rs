//! A driver that keeps everything in process memory: for tests and examples only,
//! since nothing survives the process.

use crate::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, StoredJob, now_ms,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// An in-memory store with the same semantics as the durable drivers.
///
/// ```
/// use rakit_job_core::{Driver, MemoryDriver, NewJob};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let driver = MemoryDriver::new();
/// driver.push(NewJob::now("ping", "default", "{}")).await.unwrap();
/// assert_eq!(driver.stats().await.unwrap()[0].ready, 1);
/// # });
/// ```
#[derive(Default)]
pub struct MemoryDriver {
    state: Mutex<State>,
    pushed: Notify,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, Entry>,
    failed: BTreeMap<JobId, FailedJob>,
    locks: HashMap<String, (String, Millis)>,
}

struct Entry {
    job: StoredJob,
    available_at: Millis,
    /// The current lease token and its deadline, while reserved.
    lease: Option<(u64, Millis)>,
}

impl MemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn held(&mut self, lease: &Lease) -> Option<&mut Entry> {
        self.jobs
            .get_mut(&lease.id)
            .filter(|e| matches!(e.lease, Some((token, _)) if token == lease.token))
    }
}

#[async_trait::async_trait]
impl Driver for MemoryDriver {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn check(&self) -> Result<(), DriverError> {
        Ok(())
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        job.check()?;
        {
            let mut state = self.state();
            if let Some(key) = &job.unique_key
                && state
                    .jobs
                    .values()
                    .any(|e| e.job.unique_key.as_ref() == Some(key))
            {
                return Ok(PushOutcome::Duplicate);
            }
            let entry = Entry {
                available_at: job.available_at,
                lease: None,
                job: StoredJob {
                    id: job.id.clone(),
                    name: job.name,
                    queue: job.queue,
                    payload: job.payload,
                    attempts: 0,
                    created_at: job.created_at,
                    overlap_key: job.overlap_key,
                    unique_key: job.unique_key,
                    last_error: None,
                },
            };
            state.jobs.insert(job.id, entry);
        }
        self.pushed.notify_waiters();
        Ok(PushOutcome::Stored)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let now = now_ms();
        let mut state = self.state();
        let mut taken = Vec::new();
        for queue in request.queues {
            let mut due: Vec<(&JobId, Millis)> = state
                .jobs
                .iter()
                .filter(|(_, e)| &e.job.queue == queue)
                .filter(|(_, e)| request.name.is_none_or(|n| e.job.name == n))
                .filter_map(|(id, e)| match e.lease {
                    None if e.available_at <= now => Some((id, e.available_at)),
                    Some((_, until)) if until <= now => Some((id, until)),
                    _ => None,
                })
                .collect();
            due.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
            let ids: Vec<JobId> = due
                .into_iter()
                .take(request.limit - taken.len())
                .map(|(id, _)| id.clone())
                .collect();
            for id in ids {
                let entry = state.jobs.get_mut(&id).expect("id was just listed");
                let lease = Lease::new(id, queue);
                entry.lease = Some((lease.token, now + request.lease_ms));
                entry.job.attempts += 1;
                taken.push(Reserved {
                    job: entry.job.clone(),
                    lease,
                });
            }
            if taken.len() >= request.limit {
                break;
            }
        }
        Ok(taken)
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        let mut state = self.state();
        Ok(match state.held(lease) {
            Some(entry) => {
                entry.lease = Some((lease.token, now_ms() + lease_ms));
                true
            }
            None => false,
        })
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        let mut state = self.state();
        if state.held(lease).is_none() {
            return Ok(false);
        }
        state.jobs.remove(&lease.id);
        Ok(true)
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        let mut state = self.state();
        Ok(match state.held(lease) {
            Some(entry) => {
                entry.lease = None;
                entry.available_at = available_at;
                entry.job.last_error = Some(error.to_string());
                true
            }
            None => false,
        })
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        let released = {
            let mut state = self.state();
            match state.held(lease) {
                Some(entry) => {
                    entry.lease = None;
                    entry.available_at = available_at;
                    entry.job.attempts = entry.job.attempts.saturating_sub(1);
                    true
                }
                None => false,
            }
        };
        if released {
            self.pushed.notify_waiters();
        }
        Ok(released)
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let mut state = self.state();
        if state.held(lease).is_none() {
            return Ok(false);
        }
        let entry = state.jobs.remove(&lease.id).expect("held implies present");
        let job = entry.job;
        let failed = FailedJob {
            id: job.id.clone(),
            name: job.name,
            queue: job.queue,
            payload: job.payload,
            error: error.to_string(),
            attempts: job.attempts,
            overlap_key: job.overlap_key,
            created_at: job.created_at,
            failed_at: now_ms(),
        };
        state.failed.insert(job.id, failed);
        Ok(true)
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let now = now_ms();
        let mut state = self.state();
        match state.locks.get(key) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                state
                    .locks
                    .insert(key.to_string(), (owner.to_string(), now + ttl_ms));
                Ok(true)
            }
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let mut state = self.state();
        if state
            .locks
            .get(key)
            .is_some_and(|(holder, _)| holder == owner)
        {
            state.locks.remove(key);
        }
        Ok(())
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        let state = self.state();
        let mut queues: Vec<String> = state
            .jobs
            .values()
            .map(|e| e.job.queue.clone())
            .chain(state.failed.values().map(|f| f.queue.clone()))
            .collect();
        queues.sort();
        queues.dedup();
        Ok(queues)
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        let now = now_ms();
        let state = self.state();
        let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
        for e in state.jobs.values() {
            let s = by_queue
                .entry(e.job.queue.clone())
                .or_insert_with(|| QueueStats {
                    queue: e.job.queue.clone(),
                    ..Default::default()
                });
            match e.lease {
                Some((_, until)) if until > now => s.reserved += 1,
                Some(_) => s.ready += 1,
                None if e.available_at <= now => s.ready += 1,
                None => s.scheduled += 1,
            }
        }
        for f in state.failed.values() {
            by_queue
                .entry(f.queue.clone())
                .or_insert_with(|| QueueStats {
                    queue: f.queue.clone(),
                    ..Default::default()
                })
                .failed += 1;
        }
        Ok(by_queue.into_values().collect())
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        let state = self.state();
        let mut all: Vec<FailedJob> = state.failed.values().cloned().collect();
        all.sort_by(|a, b| (b.failed_at, &b.id).cmp(&(a.failed_at, &a.id)));
        all.truncate(limit);
        Ok(all)
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        let failed = self.state().failed.remove(id);
        let Some(f) = failed else { return Ok(false) };
        let job = NewJob {
            id: f.id,
            name: f.name,
            queue: f.queue,
            payload: f.payload,
            available_at: now_ms(),
            created_at: f.created_at,
            overlap_key: f.overlap_key,
            unique_key: None,
        };
        self.push(job).await?;
        Ok(true)
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        Ok(self.state().failed.remove(id).is_some())
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        let mut state = self.state();
        let n = state.failed.len() as u64;
        state.failed.clear();
        Ok(n)
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let _ = tokio::time::timeout(timeout, self.pushed.notified()).await;
        Ok(())
    }
}
