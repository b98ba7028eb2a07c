//! A store that keeps everything in process memory: for tests and examples only, since
//! nothing survives the process. It is the reference for the contract: the simplest
//! store that passes the conformance suite.

use crate::{
    Admin, CancelOutcome, Capabilities, DriverError, FailedSelect, Finish, JobId, JobInfo, JobPage,
    JobQuery, Lease, LeaseState, LockRequest, Locked, Millis, MinuteCount, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, State, Store, StoredJob, now_ms,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// How long throughput counts are kept.
const KEEP_THROUGHPUT: Millis = 3 * 3_600_000;

/// An in-memory store with the same semantics as the durable ones.
///
/// ```
/// use rakit_job_core::{Admin, MemoryDriver, NewJob, StoreExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = MemoryDriver::new();
/// store.push_one(NewJob::now("ping", "default", "{}")).await.unwrap();
/// assert_eq!(store.stats().await.unwrap()[0].ready, 1);
/// # });
/// ```
#[derive(Default)]
pub struct MemoryDriver {
    state: Mutex<Tables>,
    pushed: Notify,
}

#[derive(Default)]
struct Tables {
    jobs: BTreeMap<JobId, Entry>,
    failed: BTreeMap<JobId, FailedEntry>,
    /// Per key, its holders and when each hold ends.
    locks: HashMap<String, Vec<(String, Millis)>>,
    /// Unique keys held by a window, and when each window ends.
    windows: HashMap<String, Millis>,
    entries: BTreeMap<(String, String), (String, Option<Millis>)>,
    throughput: BTreeMap<(Millis, String), (u64, u64)>,
}

struct Entry {
    job: StoredJob,
    available_at: Millis,
    /// Whether its unique key is held by the job itself (a unique key without a window).
    holds_unique: bool,
    /// The current lease: token, deadline, worker.
    lease: Option<(u64, Millis, String)>,
}

struct FailedEntry {
    job: StoredJob,
    error: String,
    failed_at: Millis,
    cancelled: bool,
}

impl MemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Entry {
    fn state(&self, now: Millis) -> State {
        match &self.lease {
            Some((_, until, _)) if *until > now => State::Running,
            Some(_) => State::Pending,
            None if self.available_at <= now => State::Pending,
            None => State::Scheduled,
        }
    }

    fn info(&self, now: Millis) -> JobInfo {
        let state = self.state(now);
        let running = state == State::Running;
        JobInfo {
            id: self.job.id.clone(),
            name: self.job.name.clone(),
            queue: self.job.queue.clone(),
            state,
            payload: self.job.payload.clone(),
            attempts: self.job.attempts,
            created_at: self.job.created_at,
            due_at: (!running).then_some(self.available_at),
            lease_until: self.lease.as_ref().filter(|_| running).map(|l| l.1),
            worker: self.lease.as_ref().filter(|_| running).map(|l| l.2.clone()),
            last_error: self.job.last_error.clone(),
            failed_at: None,
            cancel_requested: running && self.job.cancelled,
            overlap_key: self.job.overlap_key.clone(),
            unique_key: self.job.unique_key.clone(),
            meta: self.job.meta.clone(),
        }
    }
}

impl FailedEntry {
    fn state(&self) -> State {
        if self.cancelled {
            State::Cancelled
        } else {
            State::Failed
        }
    }

    fn info(&self) -> JobInfo {
        JobInfo {
            id: self.job.id.clone(),
            name: self.job.name.clone(),
            queue: self.job.queue.clone(),
            state: self.state(),
            payload: self.job.payload.clone(),
            attempts: self.job.attempts,
            created_at: self.job.created_at,
            due_at: None,
            lease_until: None,
            worker: None,
            last_error: Some(self.error.clone()),
            failed_at: Some(self.failed_at),
            cancel_requested: false,
            overlap_key: self.job.overlap_key.clone(),
            unique_key: None,
            meta: self.job.meta.clone(),
        }
    }

    fn selected(&self, which: &FailedSelect) -> bool {
        match which {
            FailedSelect::One(id) => &self.job.id == id,
            FailedSelect::Queue(queue) => &self.job.queue == queue,
            FailedSelect::All => true,
        }
    }
}

impl Tables {
    fn held(&mut self, lease: &Lease) -> Option<&mut Entry> {
        self.jobs
            .get_mut(&lease.id)
            .filter(|e| matches!(&e.lease, Some((token, _, _)) if *token == lease.token))
    }

    fn insert(&mut self, job: NewJob, now: Millis) -> PushOutcome {
        if let Some(key) = &job.unique_key {
            match job.unique_for {
                Some(window) => {
                    if self.windows.get(key).is_some_and(|until| *until > now) {
                        return PushOutcome::Duplicate;
                    }
                    self.windows.insert(key.clone(), now + window);
                }
                None => {
                    let taken = self
                        .jobs
                        .values()
                        .any(|e| e.holds_unique && e.job.unique_key.as_ref() == Some(key));
                    if taken {
                        return PushOutcome::Duplicate;
                    }
                }
            }
        }
        let entry = Entry {
            available_at: job.available_at,
            holds_unique: job.unique_key.is_some() && job.unique_for.is_none(),
            lease: None,
            job: StoredJob {
                id: job.id.clone(),
                name: job.name,
                queue: job.queue,
                payload: job.payload,
                attempts: 0,
                created_at: job.created_at,
                overlap_key: job.overlap_key,
                unique_key: job.unique_key.filter(|_| job.unique_for.is_none()),
                last_error: None,
                meta: job.meta,
                cancelled: false,
            },
        };
        self.jobs.insert(job.id, entry);
        PushOutcome::Stored
    }

    fn move_to_failed(&mut self, id: &JobId, error: &str, cancelled: bool) {
        if let Some(entry) = self.jobs.remove(id) {
            let failed = FailedEntry {
                job: entry.job,
                error: error.to_string(),
                failed_at: now_ms(),
                cancelled,
            };
            self.failed.insert(id.clone(), failed);
        }
    }

    /// Writes one final outcome; true when the lease was current. Sets `wake` when a job
    /// became due now.
    fn finish(&mut self, finish: &Finish, now: Millis, wake: &mut bool) -> bool {
        let Some(entry) = self.held(finish.lease()) else {
            return false;
        };
        match finish {
            Finish::Ack { lease, then } => {
                self.jobs.remove(&lease.id);
                for job in then {
                    *wake |= job.available_at <= now;
                    self.insert(job.clone(), now);
                }
            }
            Finish::Retry {
                available_at,
                error,
                ..
            } => {
                entry.lease = None;
                entry.available_at = *available_at;
                entry.job.last_error = Some(error.clone());
                *wake |= *available_at <= now;
            }
            Finish::Fail {
                lease,
                error,
                cancelled,
            } => self.move_to_failed(&lease.id, error, *cancelled),
            Finish::Release { available_at, .. } => {
                entry.lease = None;
                entry.available_at = *available_at;
                entry.job.attempts = entry.job.attempts.saturating_sub(1);
                *wake |= *available_at <= now;
            }
        }
        true
    }
}

/// Whether `info` passes the query's filters.
fn matches(query: &JobQuery, queue: &str, name: &str) -> bool {
    query.queue.as_deref().is_none_or(|q| q == queue)
        && query.name.as_deref().is_none_or(|n| n == name)
}

#[async_trait::async_trait]
impl Store for MemoryDriver {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    async fn check(&self) -> Result<(), DriverError> {
        Ok(())
    }

    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(NewJob::check)?;
        let now = now_ms();
        let outcomes: Vec<PushOutcome> = {
            let mut tables = self.tables();
            jobs.into_iter()
                .map(|job| tables.insert(job, now))
                .collect()
        };
        self.pushed.notify_waiters();
        Ok(outcomes)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let now = now_ms();
        let mut tables = self.tables();
        let mut taken = Vec::new();
        for queue in request.queues {
            if taken.len() >= request.limit {
                break;
            }
            let mut due: Vec<(Millis, JobId)> = tables
                .jobs
                .iter()
                .filter(|(_, e)| &e.job.queue == queue)
                .filter(|(_, e)| request.name.is_none_or(|n| e.job.name == n))
                .filter_map(|(id, e)| match &e.lease {
                    None if e.available_at <= now => Some((e.available_at, id.clone())),
                    Some((_, until, _)) if *until <= now => Some((*until, id.clone())),
                    _ => None,
                })
                .collect();
            due.sort();
            due.truncate(request.limit - taken.len());
            for (_, id) in due {
                let entry = tables.jobs.get_mut(&id).expect("id was just listed");
                let lease = Lease::new(id, queue);
                entry.lease = Some((
                    lease.token,
                    now + request.lease_ms,
                    request.worker.to_string(),
                ));
                entry.job.attempts = entry.job.attempts.saturating_add(1);
                taken.push(Reserved {
                    job: entry.job.clone(),
                    lease,
                });
            }
        }
        Ok(taken)
    }

    async fn extend(
        &self,
        leases: &[Lease],
        lease_ms: Millis,
    ) -> Result<Vec<LeaseState>, DriverError> {
        let deadline = now_ms() + lease_ms;
        let mut tables = self.tables();
        Ok(leases
            .iter()
            .map(|lease| match tables.held(lease) {
                Some(entry) => {
                    if let Some(held) = &mut entry.lease {
                        held.1 = deadline;
                    }
                    match entry.job.cancelled {
                        true => LeaseState::Cancelled,
                        false => LeaseState::Held,
                    }
                }
                None => LeaseState::Lost,
            })
            .collect())
    }

    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        finished
            .iter()
            .filter_map(|f| match f {
                Finish::Ack { then, .. } => Some(then),
                _ => None,
            })
            .flatten()
            .try_for_each(NewJob::check)?;
        let now = now_ms();
        let mut wake = false;
        let written = {
            let mut tables = self.tables();
            finished
                .iter()
                .map(|f| tables.finish(f, now, &mut wake))
                .collect()
        };
        if wake {
            self.pushed.notify_waiters();
        }
        Ok(written)
    }

    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        let now = now_ms();
        let mut tables = self.tables();
        let holders = tables.locks.entry(request.key.to_string()).or_default();
        holders.retain(|(_, until)| *until > now);
        let until = now + request.ttl_ms;
        if let Some(mine) = holders.iter_mut().find(|(o, _)| o == request.owner) {
            mine.1 = until;
            return Ok(Locked::Taken);
        }
        if holders.len() < request.capacity.max(1) as usize {
            holders.push((request.owner.to_string(), until));
            return Ok(Locked::Taken);
        }
        let until = holders.iter().map(|(_, u)| *u).min().unwrap_or(now);
        Ok(Locked::Busy { until })
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let mut tables = self.tables();
        if let Some(holders) = tables.locks.get_mut(key) {
            holders.retain(|(o, _)| o != owner);
        }
        Ok(())
    }

    async fn wait(&self, _queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let _ = tokio::time::timeout(timeout, self.pushed.notified()).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Admin for MemoryDriver {
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        let tables = self.tables();
        let mut queues: Vec<String> = tables
            .jobs
            .values()
            .map(|e| e.job.queue.clone())
            .chain(tables.failed.values().map(|f| f.job.queue.clone()))
            .collect();
        queues.sort();
        queues.dedup();
        Ok(queues)
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        let now = now_ms();
        let tables = self.tables();
        let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
        fn of<'a>(map: &'a mut BTreeMap<String, QueueStats>, queue: &str) -> &'a mut QueueStats {
            map.entry(queue.to_string()).or_insert_with(|| QueueStats {
                queue: queue.to_string(),
                ..Default::default()
            })
        }
        for e in tables.jobs.values() {
            let s = of(&mut by_queue, &e.job.queue);
            match e.state(now) {
                State::Running => s.reserved += 1,
                State::Scheduled => s.scheduled += 1,
                _ => s.ready += 1,
            }
        }
        for f in tables.failed.values() {
            of(&mut by_queue, &f.job.queue).failed += 1;
        }
        Ok(by_queue.into_values().collect())
    }

    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        let after = query.after.as_deref().map(JobId::parse).transpose()?;
        let start = match &after {
            Some(id) => std::ops::Bound::Excluded(id.clone()),
            None => std::ops::Bound::Unbounded,
        };
        let limit = query.limit.max(1);
        let now = now_ms();
        let tables = self.tables();
        let mut jobs: Vec<JobInfo> = if query.state.is_failed() {
            tables
                .failed
                .range((start, std::ops::Bound::Unbounded))
                .filter(|(_, f)| f.state() == query.state)
                .filter(|(_, f)| matches(query, &f.job.queue, &f.job.name))
                .take(limit + 1)
                .map(|(_, f)| f.info())
                .collect()
        } else {
            tables
                .jobs
                .range((start, std::ops::Bound::Unbounded))
                .filter(|(_, e)| e.state(now) == query.state)
                .filter(|(_, e)| matches(query, &e.job.queue, &e.job.name))
                .take(limit + 1)
                .map(|(_, e)| e.info(now))
                .collect()
        };
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        let next = more
            .then(|| jobs.last().map(|j| j.id.to_string()))
            .flatten();
        Ok(JobPage { jobs, next })
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        let tables = self.tables();
        Ok(match tables.jobs.get(id) {
            Some(entry) => Some(entry.info(now_ms())),
            None => tables.failed.get(id).map(FailedEntry::info),
        })
    }

    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        let now = now_ms();
        let mut tables = self.tables();
        let Some(entry) = tables.jobs.get_mut(id) else {
            return Ok(CancelOutcome::NotFound);
        };
        if entry.state(now) == State::Running {
            entry.job.cancelled = true;
            return Ok(CancelOutcome::Requested);
        }
        tables.move_to_failed(id, "cancelled", true);
        Ok(CancelOutcome::Removed)
    }

    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let now = now_ms();
        let back: Vec<FailedEntry> = {
            let mut tables = self.tables();
            let ids: Vec<JobId> = tables
                .failed
                .values()
                .filter(|f| f.selected(which))
                .map(|f| f.job.id.clone())
                .collect();
            let back: Vec<FailedEntry> = ids
                .iter()
                .filter_map(|id| tables.failed.remove(id))
                .collect();
            for f in &back {
                let entry = Entry {
                    available_at: now,
                    holds_unique: false,
                    lease: None,
                    job: StoredJob {
                        attempts: 0,
                        last_error: None,
                        cancelled: false,
                        unique_key: None,
                        ..f.job.clone()
                    },
                };
                tables.jobs.insert(f.job.id.clone(), entry);
            }
            back
        };
        if !back.is_empty() {
            self.pushed.notify_waiters();
        }
        Ok(back.len() as u64)
    }

    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let mut tables = self.tables();
        let before = tables.failed.len();
        tables.failed.retain(|_, f| !f.selected(which));
        Ok((before - tables.failed.len()) as u64)
    }

    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        let mut tables = self.tables();
        let count = tables.failed.len();
        tables.failed.retain(|_, f| f.failed_at >= before);
        Ok((count - tables.failed.len()) as u64)
    }

    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        let until = ttl_ms.map(|ttl| now_ms() + ttl);
        self.tables().entries.insert(
            (kind.to_string(), key.to_string()),
            (value.to_string(), until),
        );
        Ok(())
    }

    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        self.tables()
            .entries
            .remove(&(kind.to_string(), key.to_string()));
        Ok(())
    }

    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        let now = now_ms();
        let mut tables = self.tables();
        tables
            .entries
            .retain(|_, (_, until)| until.is_none_or(|u| u > now));
        Ok(tables
            .entries
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, key), (value, _))| (key.clone(), value.clone()))
            .collect())
    }

    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        let now = now_ms();
        let tables = self.tables();
        let found = tables.entries.get(&(kind.to_string(), key.to_string()));
        Ok(found
            .filter(|(_, until)| until.is_none_or(|u| u > now))
            .map(|(value, _)| value.clone()))
    }

    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        let now = now_ms();
        let mut tables = self.tables();
        let slot = (kind.to_string(), key.to_string());
        let live = tables
            .entries
            .get(&slot)
            .filter(|(_, until)| until.is_none_or(|u| u > now))
            .map(|(value, _)| value.as_str());
        if live != expected {
            return Ok(false);
        }
        tables.entries.insert(slot, (value.to_string(), None));
        Ok(true)
    }

    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        let oldest = now_ms() - KEEP_THROUGHPUT;
        let mut tables = self.tables();
        for c in counts {
            let slot = tables
                .throughput
                .entry((c.minute, c.queue.clone()))
                .or_default();
            slot.0 += c.done;
            slot.1 += c.failed;
        }
        tables.throughput.retain(|(minute, _), _| *minute >= oldest);
        Ok(())
    }

    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        let tables = self.tables();
        Ok(tables
            .throughput
            .range((since, String::new())..)
            .map(|((minute, queue), (done, failed))| MinuteCount {
                queue: queue.clone(),
                minute: *minute,
                done: *done,
                failed: *failed,
            })
            .collect())
    }
}
