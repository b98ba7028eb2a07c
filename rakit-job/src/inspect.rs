//! Seeing and steering the jobs: listings with a stable cursor, one job's details, cancel,
//! pause and resume, live workers, throughput and the failed store — on every store, as
//! [`Queue`] methods. The CLI's `--json` and the dashboard's `/api` print these types.

use crate::batch_meta::BatchMeta;
use crate::error::Error;
use crate::queue::Queue;
use crate::schedule::Schedule;
use rakit_job_core::{
    CancelOutcome, DriverError, FailedSelect, JobId, JobQuery, Millis, MinuteCount, PAUSED,
    QueueStats, State, WORKERS, now_ms, slug, validate_queue,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

/// Everything known about one job, in any state.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// The job's name (its slug).
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Where it is.
    pub state: State,
    /// Runs so far; a running job's current run included.
    pub attempt: u32,
    /// The payload (a string when the stored text is not JSON).
    pub payload: Value,
    /// When it was dispatched (ms since the Unix epoch).
    pub dispatched_at: Millis,
    /// Pending or scheduled: when it may run.
    pub due_at: Option<Millis>,
    /// Running: when its lease runs out unless renewed.
    pub lease_until: Option<Millis>,
    /// Running: the id of the worker holding it (see [`Queue::workers`]).
    pub worker: Option<String>,
    /// The error of its last failed attempt, or why it failed or was cancelled.
    pub error: Option<String>,
    /// Failed or cancelled: when it left its queue.
    pub failed_at: Option<Millis>,
    /// Running: a cancel was asked and its worker is stopping it.
    pub cancel_requested: bool,
    /// The jobs its chain runs after it, by name, in order (empty outside a chain); a job
    /// that failed for good keeps them, and retrying it goes on with them.
    pub then: Vec<String>,
}

impl JobInfo {
    fn from_store(info: rakit_job_core::JobInfo) -> JobInfo {
        JobInfo {
            payload: serde_json::from_str(&info.payload).unwrap_or(Value::String(info.payload)),
            id: info.id,
            name: info.name,
            queue: info.queue,
            state: info.state,
            attempt: info.attempts,
            dispatched_at: info.created_at,
            due_at: info.due_at,
            lease_until: info.lease_until,
            worker: info.worker,
            error: info.last_error,
            failed_at: info.failed_at,
            cancel_requested: info.cancel_requested,
            then: crate::chain::ChainMeta::read(info.meta.as_deref())
                .map(|chain| chain.rest())
                .unwrap_or_default(),
        }
    }

    /// The job as the CLI's `--json` and the dashboard's API print it (docs/inspect.md
    /// gives the schema): times as RFC 3339 in UTC, absent ones as `null`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rakit_job::prelude::*;
    /// let queue = rakit_job::Queue::memory();
    /// let id = Job::dispatch("json-demo", serde_json::json!({"n": 1})).via(&queue).await?;
    /// let job = queue.job(&id).await?.unwrap();
    /// assert_eq!(job.to_json()["state"], "pending");
    /// assert_eq!(job.to_json()["payload"]["n"], 1);
    /// # Ok::<(), rakit_job::Error>(()) }).unwrap();
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.as_str(),
            "name": self.name,
            "queue": self.queue,
            "state": self.state.as_str(),
            "attempt": self.attempt,
            "payload": self.payload,
            "dispatched_at": utc(self.dispatched_at),
            "due_at": self.due_at.and_then(utc),
            "lease_until": self.lease_until.and_then(utc),
            "worker": self.worker,
            "error": self.error,
            "failed_at": self.failed_at.and_then(utc),
            "cancel_requested": self.cancel_requested,
            "then": self.then,
        })
    }
}

pub use crate::when::utc;

/// A live worker process, as its heartbeat says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The worker's id (running jobs name it as their `worker`).
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The queues it serves, in priority order; empty when it serves every queue.
    pub queues: Vec<String>,
    /// How many jobs it runs at once.
    pub concurrency: usize,
    /// When it started (ms since the Unix epoch).
    pub started_at: Millis,
    /// Jobs running now.
    pub running: usize,
    /// Jobs it ran to success.
    pub done: u64,
    /// Runs that failed (retried, failed for good or cancelled).
    pub failed: u64,
    /// Its last heartbeat.
    pub last_seen: Millis,
}

impl WorkerInfo {
    /// This process's worker `id`, before any job ran.
    pub(crate) fn of_this_process(
        id: &str,
        queues: Option<Vec<String>>,
        concurrency: usize,
    ) -> Self {
        WorkerInfo {
            id: id.to_string(),
            host: host_name(),
            pid: std::process::id(),
            queues: queues.unwrap_or_default(),
            concurrency,
            started_at: now_ms(),
            running: 0,
            done: 0,
            failed: 0,
            last_seen: now_ms(),
        }
    }

    /// The worker as `--json` and the API print it (times as RFC 3339 in UTC).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": self.queues,
            "concurrency": self.concurrency,
            "started_at": utc(self.started_at),
            "running": self.running,
            "done": self.done,
            "failed": self.failed,
            "last_seen": utc(self.last_seen),
        })
    }
}

/// The machine's name, for heartbeats.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// One page of a listing, and the cursor of the next.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobPage {
    /// The jobs, oldest first within each state.
    pub jobs: Vec<JobInfo>,
    /// Pass to [`ListJobs::after`] for the next page; `None` on the last.
    pub cursor: Option<String>,
}

impl JobPage {
    /// The page as `job:jobs --json` and the dashboard's `/api/jobs` print it:
    /// `{"jobs": [...], "cursor": ...}`, each job as [`JobInfo::to_json`].
    pub fn to_json(&self) -> Value {
        json!({
            "jobs": self.jobs.iter().map(JobInfo::to_json).collect::<Vec<_>>(),
            "cursor": self.cursor,
        })
    }
}

/// Counts per queue, the paused queues and the last hour's throughput, as `job:stats
/// --json` and the dashboard's `/api/stats` print them (docs/cli.md gives the schema).
///
/// ```
/// let json = rakit_job::inspect::stats_to_json("memory", &[], &["low".into()], &[]);
/// assert_eq!(json["paused"][0], "low");
/// ```
pub fn stats_to_json(
    store: &str,
    stats: &[QueueStats],
    paused: &[String],
    throughput: &[MinuteCount],
) -> Value {
    let queues: Vec<Value> = stats
        .iter()
        .map(|s| {
            json!({
                "queue": s.queue,
                "ready": s.ready,
                "scheduled": s.scheduled,
                "reserved": s.reserved,
                "failed": s.failed,
            })
        })
        .collect();
    let minutes: Vec<Value> = throughput
        .iter()
        .map(|m| {
            json!({
                "queue": m.queue,
                "minute": utc(m.minute),
                "done": m.done,
                "failed": m.failed,
            })
        })
        .collect();
    json!({
        "store": store,
        "queues": queues,
        "paused": paused,
        "throughput": minutes,
    })
}

/// The schedules with their next three ticks, as `job:schedule --json` and the
/// dashboard's `/api/schedules` print them: `{"schedules": [{"name", "expression",
/// "time_zone", "next": [...]}]}`, the ticks as RFC 3339 in UTC.
///
/// ```
/// use rakit_job::{JobOptions, JobParts, Schedule};
/// let nightly = JobParts {
///     name: "nightly-report".into(),
///     queue: "default".into(),
///     payload: serde_json::json!({}),
///     options: JobOptions::DEFAULT,
/// };
/// let schedule = Schedule::new("0 9 * * *", Some("Asia/Tokyo"), nightly)?;
/// let json = rakit_job::inspect::schedules_to_json(&[schedule]);
/// assert_eq!(json["schedules"][0]["time_zone"], "Asia/Tokyo");
/// assert!(json["schedules"][0]["next"][0].as_str().unwrap().ends_with("T00:00:00.000Z"));
/// # Ok::<(), rakit_job::Error>(())
/// ```
pub fn schedules_to_json(schedules: &[Schedule]) -> Value {
    let schedules: Vec<Value> = schedules
        .iter()
        .map(|s| {
            json!({
                "name": s.name(),
                "expression": s.expression(),
                "time_zone": s.time_zone(),
                "next": s.upcoming(3).into_iter().filter_map(utc).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "schedules": schedules })
}

/// A listing being built; awaiting it gives one [`JobPage`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rakit_job::prelude::*;
/// use rakit_job::State;
/// let q = rakit_job::Queue::memory();
/// for n in 0..3 {
///     Job::dispatch("import-row", serde_json::json!({ "n": n })).via(&q).await?;
/// }
/// let page = q.jobs().state(State::Pending).name("import-row").limit(2).await?;
/// assert_eq!(page.jobs.len(), 2);
/// let rest = q.jobs().state(State::Pending).name("import-row").after(&page.cursor.unwrap()).await?;
/// assert_eq!(rest.jobs.len(), 1);
/// # Ok::<(), rakit_job::Error>(()) }).unwrap();
/// ```
#[must_use = "a listing reads nothing until it is awaited"]
pub struct ListJobs {
    queue: Queue,
    state: Option<State>,
    on_queue: Option<String>,
    name: Option<String>,
    limit: usize,
    after: Option<String>,
}

/// The most jobs one page holds.
pub const MAX_PAGE: usize = 1_000;

impl ListJobs {
    /// Only jobs in `state` (every state when not called, running first).
    pub fn state(mut self, state: State) -> Self {
        self.state = Some(state);
        self
    }

    /// Only jobs of `queue`.
    pub fn on_queue(mut self, queue: &str) -> Self {
        self.on_queue = Some(queue.to_string());
        self
    }

    /// Only jobs named `name` (any spelling of its slug).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(slug(name));
        self
    }

    /// At most `n` jobs (1 to 1,000; 50 unless set).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The page after the one that gave `cursor` (from the same listing).
    pub fn after(mut self, cursor: &str) -> Self {
        self.after = Some(cursor.to_string());
        self
    }

    async fn fetch(self) -> Result<JobPage, Error> {
        if !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(Error::Usage(format!(
                "a page holds 1 to {MAX_PAGE} jobs, not {}; pick a limit in that range",
                self.limit
            )));
        }
        if let Some(queue) = &self.on_queue {
            validate_queue(queue)?;
        }
        let states: Vec<State> = match self.state {
            Some(state) => vec![state],
            None => State::ALL.to_vec(),
        };
        let fingerprint = self.fingerprint();
        let (mut at, mut store_cursor) = match &self.after {
            Some(text) => Cursor::read(text, fingerprint, states.len())?,
            None => (0, None),
        };
        let mut page = JobPage::default();
        while at < states.len() {
            let query = JobQuery {
                state: states[at],
                queue: self.on_queue.clone(),
                name: self.name.clone(),
                after: store_cursor.take(),
                limit: self.limit - page.jobs.len(),
            };
            let got = self
                .queue
                .driver()
                .jobs(&query)
                .await
                .map_err(stale_cursor)?;
            page.jobs
                .extend(got.jobs.into_iter().map(JobInfo::from_store));
            match got.next {
                Some(next) if page.jobs.len() >= self.limit => {
                    page.cursor = Some(Cursor::write(at, &next, fingerprint));
                    return Ok(page);
                }
                Some(next) => store_cursor = Some(next),
                None => at += 1,
            }
            if page.jobs.len() >= self.limit && at < states.len() {
                // A full page at the end of a state: point the cursor at the next state
                // that holds a job, or give none when the rest are empty.
                while at < states.len() && !self.holds_any(states[at]).await? {
                    at += 1;
                }
                if at < states.len() {
                    page.cursor = Some(Cursor::write(at, "", fingerprint));
                }
                return Ok(page);
            }
        }
        Ok(page)
    }

    /// Whether any job of this listing is in `state`.
    async fn holds_any(&self, state: State) -> Result<bool, Error> {
        let query = JobQuery {
            state,
            queue: self.on_queue.clone(),
            name: self.name.clone(),
            after: None,
            limit: 1,
        };
        Ok(!self.queue.driver().jobs(&query).await?.jobs.is_empty())
    }

    /// What identifies this listing, so a cursor of another one is refused.
    fn fingerprint(&self) -> u64 {
        let text = format!(
            "{:?}|{}|{}",
            self.state,
            self.on_queue.as_deref().unwrap_or(""),
            self.name.as_deref().unwrap_or("")
        );
        // FNV-1a: stable across builds and processes, unlike the std hasher.
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

/// A store's refusal of a cursor, said as the listing's.
fn stale_cursor(e: DriverError) -> Error {
    match e {
        DriverError::Invalid(_) => Error::Usage(
            "the cursor is not one this listing gave (or it was changed); start again without it"
                .into(),
        ),
        other => other.into(),
    }
}

/// The text of a listing's cursor: which state the walk is in, which listing it belongs
/// to, and the store's own cursor within that state.
struct Cursor;

impl Cursor {
    fn write(state: usize, store: &str, fingerprint: u64) -> String {
        let hex: String = store.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{state}.{fingerprint:016x}.{hex}")
    }

    fn read(text: &str, fingerprint: u64, states: usize) -> Result<(usize, Option<String>), Error> {
        let refused = || {
            Error::Usage(
                "the cursor is not one this listing gave (or it was changed); start again without it"
                    .into(),
            )
        };
        let mut parts = text.trim().splitn(3, '.');
        let (Some(state), Some(print), Some(hex)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(refused());
        };
        let state: usize = state.parse().map_err(|_| refused())?;
        if state >= states || u64::from_str_radix(print, 16).ok() != Some(fingerprint) {
            return Err(refused());
        }
        if hex.len() % 2 != 0 {
            return Err(refused());
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| refused())?;
        let store = String::from_utf8(bytes).map_err(|_| refused())?;
        Ok((state, (!store.is_empty()).then_some(store)))
    }
}

impl IntoFuture for ListJobs {
    type Output = Result<JobPage, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.fetch())
    }
}

/// What [`Queue::cancel`] did.
pub use rakit_job_core::CancelOutcome as Cancelled;

impl Queue {
    /// Lists jobs: by state, queue and name, a page at a time with a stable cursor.
    pub fn jobs(&self) -> ListJobs {
        ListJobs {
            queue: self.clone(),
            state: None,
            on_queue: None,
            name: None,
            limit: 50,
            after: None,
        }
    }

    /// One job in any state, failed store included; `None` when no job has this id.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let q = rakit_job::Queue::memory();
    /// assert!(q.job(&rakit_job::JobId::generate()).await?.is_none());
    /// # Ok::<(), rakit_job::Error>(()) }).unwrap();
    /// ```
    pub async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, Error> {
        Ok(self.driver().job(id).await?.map(JobInfo::from_store))
    }

    /// Cancels a job: a pending or scheduled one is removed at once and kept as cancelled;
    /// a running one is stopped by its worker within one lease renewal (its
    /// [`JobContext`](crate::JobContext) cancellation fires, and it is aborted after a
    /// short grace), and is not retried. `job:retry` brings a cancelled job back.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use rakit_job::{Cancelled, prelude::*};
    /// let q = rakit_job::Queue::memory();
    /// let id = Job::dispatch("report", serde_json::json!({})).via(&q).await?;
    /// assert_eq!(q.cancel(&id).await?, Cancelled::Removed);
    /// assert_eq!(q.job(&id).await?.unwrap().state, rakit_job::State::Cancelled);
    /// # Ok::<(), rakit_job::Error>(()) }).unwrap();
    /// ```
    pub async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, Error> {
        let stored = self.driver().job(id).await?;
        let member = stored.and_then(|job| BatchMeta::read(job.meta.as_deref()).member);
        let outcome = self.driver().cancel(id).await?;
        if let (CancelOutcome::Removed, Some(member)) = (outcome, member) {
            // Removed without a worker: it ends here, so its batch counts it here.
            crate::batch::job_ended(self, &member, true).await?;
        }
        Ok(outcome)
    }

    /// Holds `queue` for every worker process on every host (within a second): no new job
    /// of it starts, running ones finish, dispatch to it still works. Kept in the store, so
    /// it survives worker restarts.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let q = rakit_job::Queue::memory();
    /// q.pause("low").await?;
    /// assert_eq!(q.paused().await?, ["low"]);
    /// q.resume("low").await?;
    /// assert!(q.paused().await?.is_empty());
    /// # Ok::<(), rakit_job::Error>(()) }).unwrap();
    /// ```
    pub async fn pause(&self, queue: &str) -> Result<(), Error> {
        validate_queue(queue)?;
        Ok(self.driver().put_entry(PAUSED, queue, "", None).await?)
    }

    /// Releases a paused queue.
    pub async fn resume(&self, queue: &str) -> Result<(), Error> {
        validate_queue(queue)?;
        self.driver().remove_entry(PAUSED, queue).await?;
        self.notify_pushed();
        Ok(())
    }

    /// The paused queues, by name.
    pub async fn paused(&self) -> Result<Vec<String>, Error> {
        let entries = self.driver().entries(PAUSED).await?;
        Ok(entries.into_iter().map(|(queue, _)| queue).collect())
    }

    /// The live worker processes (those whose heartbeat is younger than two leases).
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>, Error> {
        let entries = self.driver().entries(WORKERS).await?;
        let mut workers: Vec<WorkerInfo> = entries
            .into_iter()
            .filter_map(|(_, text)| serde_json::from_str(&text).ok())
            .collect();
        workers.sort_by(|a, b| (&a.host, a.started_at, &a.id).cmp(&(&b.host, b.started_at, &b.id)));
        Ok(workers)
    }

    /// Per queue and minute, the runs that succeeded and failed in the last hour.
    pub async fn throughput(&self) -> Result<Vec<MinuteCount>, Error> {
        let since = (now_ms() - 3_600_000) / 60_000 * 60_000;
        Ok(self.driver().throughput(since).await?)
    }

    /// Per queue, how many jobs are pending, scheduled, running and failed.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, Error> {
        Ok(self.driver().stats().await?)
    }

    /// Puts failed (or cancelled) jobs back on their queues, due now with their attempts
    /// reset: one, a queue's, or all; how many.
    pub async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, Error> {
        check_select(which)?;
        let n = self.driver().retry_failed(which).await?;
        if n > 0 {
            self.notify_pushed();
        }
        Ok(n)
    }

    /// Deletes failed (or cancelled) jobs: one, a queue's, or all; how many.
    pub async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, Error> {
        check_select(which)?;
        Ok(self.driver().forget_failed(which).await?)
    }

    /// Deletes the failed (and cancelled) jobs that left their queue more than `older_than`
    /// ago; how many.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let q = rakit_job::Queue::memory();
    /// let week = std::time::Duration::from_secs(7 * 86_400);
    /// assert_eq!(q.prune_failed(week).await?, 0);
    /// # Ok::<(), rakit_job::Error>(()) }).unwrap();
    /// ```
    pub async fn prune_failed(&self, older_than: Duration) -> Result<u64, Error> {
        let age = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        Ok(self
            .driver()
            .prune_failed(now_ms().saturating_sub(age))
            .await?)
    }
}

fn check_select(which: &FailedSelect) -> Result<(), Error> {
    if let FailedSelect::Queue(queue) = which {
        validate_queue(queue)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facade::Job;

    #[tokio::test]
    async fn a_walk_over_every_state_gives_each_job_once_and_refuses_foreign_cursors() {
        let q = Queue::memory();
        for n in 0..5 {
            Job::dispatch("walk", json!({ "n": n }))
                .via(&q)
                .await
                .unwrap();
        }
        Job::dispatch("walk", json!({}))
            .via(&q)
            .delay(Duration::from_secs(60))
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut page = q.jobs().limit(2).await.unwrap();
        loop {
            seen.extend(page.jobs.iter().map(|j| j.id.clone()));
            let Some(cursor) = page.cursor.clone() else {
                break;
            };
            assert!(
                q.jobs().on_queue("default").after(&cursor).await.is_err(),
                "a cursor of another listing was accepted"
            );
            let mut tampered = cursor.clone();
            tampered.push('x');
            assert!(q.jobs().limit(2).after(&tampered).await.is_err());
            page = q.jobs().limit(2).after(&cursor).await.unwrap();
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 6);
        assert!(q.jobs().limit(0).await.is_err());
        assert!(q.jobs().on_queue("no spaces").await.is_err());
    }
}
