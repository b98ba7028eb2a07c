//! Batches: jobs that run in parallel and, once all have finished, lead to a `then`,
//! `catch` and `finally` job.
//!
//! A batch is one record, a control entry of kind `batches`, changed only by
//! compare-and-swap ([`Admin::swap_entry`]), so any number of workers in any number of
//! processes keep it right. Each job of a batch carries its batch and its place in it.
//! When a job ends for good (succeeded, failed or cancelled), before its final write, its
//! worker sets the job's bit in the record and counts it: a bit set already counts
//! nothing, so a job run again after a crash, or retried from the failed store, is
//! counted once. The first failure names the job that stores `catch`; the last job to
//! end names the job that stores `then` (when none failed) and `finally`. That job stores
//! them, and stores them again if it runs again; each callback carries a unique key while
//! it waits, and when it starts it claims its place in the record, so a second copy of
//! one (stored after the first had run) sees the first's claim and ends without running.

use crate::batch_meta::{BatchMeta, CallbackOf, KIND, Member, Meta};
use crate::dispatch::{DispatchSource, JobParts, PendingDispatch, record_now};
use crate::error::Error;
use crate::queue::{Queue, default_queue};
use rakit_job_core::{
    Admin, DriverError, JobId, JobQuery, Millis, NewJob, PushOutcome, State, now_ms,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// How many times a worker tries to count a job against a busy record before it gives
/// up (the job then runs again once its lease runs out).
const SWAP_TRIES: usize = 400;

/// The id of a batch, from [`Batch::dispatch`].
///
/// ```
/// let id = rakit_job::BatchId::parse("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e").unwrap();
/// assert_eq!(id.to_string(), "0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(String);

impl BatchId {
    /// Reads a batch id typed by a user; the error says what one looks like.
    pub fn parse(text: &str) -> Result<BatchId, Error> {
        JobId::parse(text)
            .map(|id| BatchId(id.to_string()))
            .map_err(|_| {
                Error::Driver(DriverError::Invalid(format!(
                    "{:?} is not a batch id; batch ids look like 0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e",
                    text.chars().take(60).collect::<String>()
                )))
            })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a batch stands, from [`Queue::batch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchInfo {
    /// Its id.
    pub id: BatchId,
    /// The name it was given.
    pub name: String,
    /// How many jobs it holds.
    pub total: u64,
    /// Jobs that succeeded.
    pub done: u64,
    /// Jobs that failed for good or were cancelled.
    pub failed: u64,
    /// Jobs still to end: `total - done - failed`.
    pub pending: u64,
    /// It was cancelled: its waiting jobs were removed and no callback runs.
    pub cancelled: bool,
    /// When it was dispatched, in ms.
    pub created_at: Millis,
    /// When its last job ended, in ms.
    pub finished_at: Option<Millis>,
}

impl BatchInfo {
    /// The batch as `job:batches --json` prints it and `/api/batches` returns it.
    ///
    /// ```
    /// # let info = rakit_job::BatchInfo { id: rakit_job::BatchId::parse("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e").unwrap(),
    /// #     name: "import".into(), total: 3, done: 1, failed: 0, pending: 2, cancelled: false, created_at: 0, finished_at: None };
    /// assert_eq!(info.to_json()["pending"], 2);
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.as_str(),
            "name": self.name,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "cancelled": self.cancelled,
            "created_at": crate::when::utc(self.created_at),
            "finished_at": self.finished_at.and_then(crate::when::utc),
        })
    }
}

/// A callback as the record keeps it, stored when its time comes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Callback {
    name: String,
    queue: String,
    payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    overlap_key: Option<String>,
}

/// The three callbacks, by the name the record and the job meta use.
const CALLBACKS: [&str; 3] = ["then", "catch", "finally"];

/// A batch's record, as kept in its entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Record {
    name: String,
    total: u64,
    done: u64,
    failed: u64,
    /// One bit a job, set when it ended, in hex (job 0 is the low bit of the first byte).
    ended: String,
    created_at: Millis,
    #[serde(default)]
    finished_at: Option<Millis>,
    #[serde(default)]
    cancelled: bool,
    /// The job whose failure came first: it stores `catch`.
    #[serde(default)]
    first_failure: Option<u64>,
    /// The job that ended last: it stores `then` and `finally`.
    #[serde(default)]
    last: Option<u64>,
    #[serde(default)]
    callbacks: BTreeMap<String, Callback>,
    /// Per callback, the id of the copy that claimed to run it.
    #[serde(default)]
    ran: BTreeMap<String, String>,
}

impl Record {
    fn new(name: &str, total: u64, callbacks: BTreeMap<String, Callback>) -> Record {
        Record {
            name: name.to_string(),
            total,
            done: 0,
            failed: 0,
            ended: "00".repeat(total.div_ceil(8) as usize),
            created_at: now_ms(),
            finished_at: (total == 0).then(now_ms),
            cancelled: false,
            first_failure: None,
            last: None,
            callbacks,
            ran: BTreeMap::new(),
        }
    }

    fn read(text: &str) -> Result<Record, Error> {
        serde_json::from_str(text).map_err(|e| {
            Error::Driver(DriverError::store(format!(
                "a batch record cannot be read ({e}); it was changed outside rakit-job"
            )))
        })
    }

    fn write(&self) -> String {
        serde_json::to_string(self).expect("a batch record always serializes")
    }

    /// Sets job `index`'s bit; false when it was set already.
    fn end(&mut self, index: u64) -> Result<bool, Error> {
        let byte = (index / 8) as usize * 2;
        let hex = self
            .ended
            .get(byte..byte + 2)
            .filter(|_| index < self.total)
            .ok_or_else(|| {
                Error::Driver(DriverError::store(format!(
                    "job {index} is not in batch {:?} of {} jobs",
                    self.name, self.total
                )))
            })?;
        let bits = u8::from_str_radix(hex, 16).unwrap_or(0);
        let bit = 1u8 << (index % 8);
        if bits & bit != 0 {
            return Ok(false);
        }
        self.ended
            .replace_range(byte..byte + 2, &format!("{:02x}", bits | bit));
        Ok(true)
    }

    /// Counts job `index` as ended (once, whatever the calls): the callbacks it is the one
    /// to store, and whether this call changed the record.
    fn count(&mut self, index: u64, failed: bool) -> Result<(Vec<&'static str>, bool), Error> {
        let first = self.end(index)?;
        if first {
            if failed {
                self.failed += 1;
                self.first_failure.get_or_insert(index);
            } else {
                self.done += 1;
            }
            if self.done + self.failed == self.total {
                self.last = Some(index);
                self.finished_at = Some(now_ms());
            }
        }
        Ok((self.callbacks_of(Some(index)), first))
    }

    /// The callbacks job `index` stores (`None`: those of an empty batch).
    fn callbacks_of(&self, index: Option<u64>) -> Vec<&'static str> {
        if self.cancelled {
            return Vec::new();
        }
        let last = self.last == index && self.done + self.failed == self.total;
        CALLBACKS
            .into_iter()
            .filter(|kind| match *kind {
                "then" => last && self.failed == 0,
                "catch" => index.is_some() && self.first_failure == index,
                _ => last,
            })
            .filter(|kind| self.callbacks.contains_key(*kind))
            .collect()
    }

    fn info(&self, id: &str) -> BatchInfo {
        BatchInfo {
            id: BatchId(id.to_string()),
            name: self.name.clone(),
            total: self.total,
            done: self.done,
            failed: self.failed,
            pending: self.total.saturating_sub(self.done + self.failed),
            cancelled: self.cancelled,
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

/// Reads, changes and swaps a batch record until the swap lands; `change` gives what to
/// answer and whether the record changed. `None` when the record is gone.
async fn update<T>(
    store: &dyn Admin,
    id: &str,
    mut change: impl FnMut(&mut Record) -> Result<(T, bool), Error>,
) -> Result<Option<T>, Error> {
    for _ in 0..SWAP_TRIES {
        let Some(text) = store.entry(KIND, id).await? else {
            return Ok(None);
        };
        let mut record = Record::read(&text)?;
        let (answer, changed) = change(&mut record)?;
        if !changed
            || store
                .swap_entry(KIND, id, Some(&text), &record.write())
                .await?
        {
            return Ok(Some(answer));
        }
        // Another worker counted a job in between: read again, after a short, spread wait.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        tokio::time::sleep(Duration::from_micros(u64::from(nanos % 3_000))).await;
    }
    Err(Error::Driver(DriverError::store(format!(
        "batch {id} is too busy to count a job after {SWAP_TRIES} tries; the job runs again"
    ))))
}

/// Counts a batch job that ended for good, then stores the callbacks it is the one to
/// store (again, when it runs again: the copies settle it, see the module); whether it
/// stored any. Called before the job's final write, so a crash in between only runs it
/// again.
pub(crate) async fn job_ended(queue: &Queue, member: &Member, failed: bool) -> Result<bool, Error> {
    let store = queue.driver();
    let due = update(&**store, &member.id, |record| {
        let (kinds, changed) = record.count(member.index, failed)?;
        let callbacks: Vec<(String, Callback)> = kinds
            .into_iter()
            .map(|k| (k.to_string(), record.callbacks[k].clone()))
            .collect();
        Ok((callbacks, changed))
    })
    .await?;
    match due {
        Some(callbacks) => store_callbacks(queue, &member.id, callbacks).await,
        None => {
            tracing::warn!(target: "rakit_job", "batch {} is gone; a job of it ended uncounted", member.id);
            Ok(false)
        }
    }
}

/// Stores callbacks of batch `id`, each waiting under a unique key of its own; whether
/// there were any.
async fn store_callbacks(
    queue: &Queue,
    id: &str,
    callbacks: Vec<(String, Callback)>,
) -> Result<bool, Error> {
    if callbacks.is_empty() {
        return Ok(false);
    }
    let now = now_ms();
    let jobs: Vec<NewJob> = callbacks
        .into_iter()
        .map(|(kind, c)| NewJob {
            id: JobId::generate(),
            name: c.name,
            queue: c.queue,
            payload: c.payload,
            available_at: now,
            created_at: now,
            overlap_key: c.overlap_key,
            unique_key: Some(format!("batch:{id}:{kind}")),
            unique_for: None,
            meta: Some(
                serde_json::to_string(&Meta {
                    batch: None,
                    callback: Some(CallbackOf {
                        batch: id.to_string(),
                        kind,
                    }),
                })
                .expect("meta always serializes"),
            ),
        })
        .collect();
    let outcomes = queue.driver().push(jobs).await?;
    if outcomes.contains(&PushOutcome::Stored) {
        queue.notify_pushed();
    }
    Ok(true)
}

/// Claims the run of callback `of` for the job `job`: false when another copy of it
/// claimed it first (this one then ends without running).
pub(crate) async fn claim_callback(
    queue: &Queue,
    of: &CallbackOf,
    job: &JobId,
) -> Result<bool, Error> {
    let mine = job.to_string();
    let claimed = update(&**queue.driver(), &of.batch, |record| {
        match record.ran.get(&of.kind) {
            Some(owner) => Ok((*owner == mine, false)),
            None => {
                record.ran.insert(of.kind.clone(), mine.clone());
                Ok((true, true))
            }
        }
    })
    .await?;
    // A record that is gone cannot say: the callback runs.
    Ok(claimed.unwrap_or(true))
}

/// A batch of jobs that run in parallel, with callbacks once they have all ended.
///
/// `then` runs once when every job succeeded, `catch` once when any failed for good (at
/// the first failure), `finally` once when every job has ended either way; each exactly
/// once, across processes and crashes. Jobs go to their own default queues unless
/// [`on_queue`](Batch::on_queue) says otherwise; the callbacks always go to theirs.
///
/// ```no_run
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct CsvRow { pub row: u64 }
/// #[job]
/// pub struct CsvDone { pub file: String }
/// # impl Jobable for CsvRow { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
/// # impl Jobable for CsvDone { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let id = Batch::new("import-2026-12")
///     .add_all((0..100).map(|row| CsvRow { row }))
///     .then(CsvDone { file: "2026-12.csv".into() })
///     .dispatch()
///     .await?;
/// println!("batch {id} dispatched");
/// # Ok(()) }
/// ```
#[must_use = "a batch stores nothing until it is dispatched"]
pub struct Batch {
    name: String,
    jobs: Vec<Result<JobParts, Error>>,
    callbacks: Vec<(&'static str, Result<JobParts, Error>)>,
    queue: Option<String>,
    via: Option<Queue>,
}

impl Batch {
    /// An empty batch called `name` (shown by `job:batches` and the dashboard).
    pub fn new(name: &str) -> Batch {
        Batch {
            name: name.to_string(),
            jobs: Vec::new(),
            callbacks: Vec::new(),
            queue: None,
            via: None,
        }
    }

    /// Adds one job.
    #[allow(
        clippy::should_implement_trait,
        reason = "the builder's word from Laravel's Bus::batch and DESIGN.md; not arithmetic"
    )]
    pub fn add(mut self, job: impl DispatchSource) -> Batch {
        self.jobs.push(job.into_parts());
        self
    }

    /// Adds every job of `jobs`.
    pub fn add_all<S: DispatchSource>(mut self, jobs: impl IntoIterator<Item = S>) -> Batch {
        self.jobs
            .extend(jobs.into_iter().map(DispatchSource::into_parts));
        self
    }

    /// Runs `job` once every job of the batch has succeeded.
    pub fn then(self, job: impl DispatchSource) -> Batch {
        self.callback("then", job)
    }

    /// Runs `job` once, when the first job of the batch fails for good.
    pub fn catch(self, job: impl DispatchSource) -> Batch {
        self.callback("catch", job)
    }

    /// Runs `job` once every job of the batch has ended, succeeded or not.
    pub fn finally(self, job: impl DispatchSource) -> Batch {
        self.callback("finally", job)
    }

    fn callback(mut self, kind: &'static str, job: impl DispatchSource) -> Batch {
        self.callbacks.retain(|(k, _)| *k != kind);
        self.callbacks.push((kind, job.into_parts()));
        self
    }

    /// Sends the batch's jobs (not its callbacks) to `queue` instead of their own.
    pub fn on_queue(mut self, queue: &str) -> Batch {
        self.queue = Some(queue.to_string());
        self
    }

    /// Stores the batch through `queue` instead of the default connection.
    pub fn via(mut self, queue: &Queue) -> Batch {
        self.via = Some(queue.clone());
        self
    }

    /// Checks every job, writes the batch's record, then stores its jobs on the bulk
    /// path (one dispatch: one span, a log line per job, one wake-up). If storing the
    /// jobs fails part way, the batch never ends: cancel it.
    pub async fn dispatch(self) -> Result<BatchId, Error> {
        let jobs = self.jobs.into_iter().collect::<Result<Vec<_>, Error>>()?;
        let mut callbacks = BTreeMap::new();
        for (kind, parts) in self.callbacks {
            let job = record_now(parts?)?;
            callbacks.insert(
                kind.to_string(),
                Callback {
                    name: job.name,
                    queue: job.queue,
                    payload: job.payload,
                    overlap_key: job.overlap_key,
                },
            );
        }
        let queue = match self.via {
            Some(q) => q,
            None => default_queue().await?,
        };
        let id = JobId::generate().to_string();
        let record = Record::new(&self.name, jobs.len() as u64, callbacks);
        if jobs.is_empty() {
            crate::dispatch::create_batch(&queue, &id, &record.write()).await?;
            let due = record.callbacks_of(None);
            let callbacks = due
                .into_iter()
                .map(|k| (k.to_string(), record.callbacks[k].clone()))
                .collect();
            store_callbacks(&queue, &id, callbacks).await?;
        } else {
            // The jobs are checked, then the record written, then the jobs stored.
            let mut dispatch = PendingDispatch::many(jobs)
                .via(&queue)
                .in_batch(&id, record.write());
            if let Some(q) = &self.queue {
                dispatch = dispatch.on_queue(q);
            }
            dispatch.await?;
        }
        Ok(BatchId(id))
    }
}

impl Queue {
    /// Where batch `id` stands, or `None` when there is no such batch.
    ///
    /// ```no_run
    /// # async fn demo(q: rakit_job::Queue, id: rakit_job::BatchId) -> Result<(), rakit_job::Error> {
    /// if let Some(batch) = q.batch(&id).await? {
    ///     println!("{} of {} done", batch.done, batch.total);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn batch(&self, id: &BatchId) -> Result<Option<BatchInfo>, Error> {
        let text = self.driver().entry(KIND, id.as_str()).await?;
        text.map(|t| Record::read(&t).map(|r| r.info(id.as_str())))
            .transpose()
    }

    /// Every batch, newest first.
    pub async fn batches(&self) -> Result<Vec<BatchInfo>, Error> {
        let mut all = self
            .driver()
            .entries(KIND)
            .await?
            .into_iter()
            .map(|(id, text)| Record::read(&text).map(|r| r.info(&id)))
            .collect::<Result<Vec<_>, Error>>()?;
        all.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(all)
    }

    /// Cancels batch `id`: no callback of it runs any more, and its waiting and running
    /// jobs are cancelled (they show as cancelled in the failed store, and count as
    /// failed). False when there is no such batch.
    pub async fn cancel_batch(&self, id: &BatchId) -> Result<bool, Error> {
        let found = update(&**self.driver(), id.as_str(), |record| {
            let changed = !record.cancelled;
            record.cancelled = true;
            Ok(((), changed))
        })
        .await?;
        if found.is_none() {
            return Ok(false);
        }
        let store = self.driver();
        for state in [State::Pending, State::Scheduled, State::Running] {
            let mut query = JobQuery::new(state, 500);
            loop {
                let page = store.jobs(&query).await?;
                for job in &page.jobs {
                    let meta = BatchMeta::read(job.meta.as_deref());
                    if meta.member.is_some_and(|m| m.id == id.as_str()) {
                        self.cancel(&job.id).await?;
                    }
                }
                match page.next {
                    Some(next) => query = query.after(&next),
                    None => break,
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(total: u64) -> Record {
        let callback = |name: &str| Callback {
            name: name.to_string(),
            queue: "default".to_string(),
            payload: "{}".to_string(),
            overlap_key: None,
        };
        let callbacks = CALLBACKS
            .iter()
            .map(|k| (k.to_string(), callback(k)))
            .collect();
        Record::new("import", total, callbacks)
    }

    #[test]
    fn each_job_counts_once_and_the_last_stores_then_and_finally() {
        let mut r = record(10);
        for i in 0..9 {
            assert!(r.count(i, false).unwrap().0.is_empty());
            assert!(
                r.count(i, true).unwrap().0.is_empty(),
                "a job counted twice"
            );
        }
        assert_eq!((r.done, r.failed), (9, 0));
        assert_eq!(r.count(9, false).unwrap().0, ["then", "finally"]);
        assert_eq!(
            r.count(9, false).unwrap().0,
            ["then", "finally"],
            "the last job, run again, did not store its callbacks again"
        );
        assert!(r.finished_at.is_some());
        assert!(r.count(10, false).is_err());
    }

    #[test]
    fn the_first_failure_stores_catch_and_the_last_job_finally_only() {
        let mut r = record(3);
        assert_eq!(r.count(1, true).unwrap().0, ["catch"]);
        assert!(r.count(2, true).unwrap().0.is_empty());
        assert_eq!(r.count(0, false).unwrap().0, ["finally"]);
        assert_eq!(r.count(1, false).unwrap().0, ["catch"]);
        assert_eq!((r.done, r.failed), (1, 2));
        let text = r.write();
        assert_eq!(Record::read(&text).unwrap(), r);
    }

    /// A callback stored twice (its batch's last job ran again after a crash between
    /// storing it and its ack) runs once: while the first copy waits, the second is
    /// skipped for its unique key; after the first ran, the second ends without running.
    #[tokio::test]
    async fn a_callback_stored_twice_runs_once() {
        use crate::{NamedJob, Worker};
        use std::sync::atomic::{AtomicU32, Ordering};
        static RAN: AtomicU32 = AtomicU32::new(0);
        crate::listen("batch-unit-row", |_| async { Ok(()) });
        crate::listen("batch-unit-then", |_| async {
            RAN.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let q = Queue::memory();
        let row = || NamedJob::new("batch-unit-row", serde_json::json!({}));
        let id = Batch::new("unit")
            .add(row())
            .then(NamedJob::new("batch-unit-then", serde_json::json!({})))
            .via(&q)
            .dispatch()
            .await
            .unwrap();
        let member = Member {
            id: id.to_string(),
            index: 0,
        };
        let run = || Worker::new(&q).quiet().stop_when_empty().run();
        assert!(job_ended(&q, &member, false).await.unwrap());
        assert!(job_ended(&q, &member, false).await.unwrap());
        assert_eq!(
            q.stats().await.unwrap()[0].ready,
            2,
            "the row and one `then`"
        );
        run().await.unwrap();
        assert_eq!(RAN.load(Ordering::SeqCst), 1);
        assert!(job_ended(&q, &member, false).await.unwrap());
        let report = run().await.unwrap();
        assert_eq!(report.succeeded, 1, "the second copy ends as done");
        assert_eq!(RAN.load(Ordering::SeqCst), 1, "a callback ran twice");
        let info = q.batch(&id).await.unwrap().unwrap();
        assert_eq!((info.done, info.failed, info.pending), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_fake_records_a_batch_and_runs_it_to_its_callbacks() {
        use crate::NamedJob;
        crate::listen("batch-fake-row", |_| async { Ok(()) });
        crate::listen("batch-fake-done", |_| async { Ok(()) });
        let fake = crate::testing::QueueFake::new();
        let row = || NamedJob::new("batch-fake-row", serde_json::json!({}));
        let id = Batch::new("fake")
            .add_all([row(), row()])
            .then(NamedJob::new("batch-fake-done", serde_json::json!({})))
            .via(fake.queue())
            .dispatch()
            .await
            .unwrap();
        let names = |fake: &crate::testing::QueueFake| {
            fake.records()
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&fake), ["batch-fake-row", "batch-fake-row"]);
        let report = fake.run_all().await.unwrap();
        assert_eq!(report.succeeded, 3);
        assert_eq!(
            names(&fake),
            ["batch-fake-row", "batch-fake-row", "batch-fake-done"]
        );
        let info = fake.queue().batch(&id).await.unwrap().unwrap();
        assert_eq!((info.done, info.pending), (2, 0));
    }

    #[tokio::test]
    async fn an_empty_batch_runs_then_and_finally_at_once() {
        use crate::{NamedJob, Worker};
        use std::sync::atomic::{AtomicU32, Ordering};
        static THEN: AtomicU32 = AtomicU32::new(0);
        static FINALLY: AtomicU32 = AtomicU32::new(0);
        crate::listen("batch-empty-then", |_| async {
            THEN.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        crate::listen("batch-empty-finally", |_| async {
            FINALLY.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let q = Queue::memory();
        let none: Vec<NamedJob> = Vec::new();
        let id = Batch::new("empty")
            .add_all(none)
            .then(NamedJob::new("batch-empty-then", serde_json::json!({})))
            .catch(NamedJob::new("batch-empty-catch", serde_json::json!({})))
            .finally(NamedJob::new("batch-empty-finally", serde_json::json!({})))
            .via(&q)
            .dispatch()
            .await
            .unwrap();
        let info = q.batch(&id).await.unwrap().unwrap();
        assert_eq!((info.total, info.pending), (0, 0));
        assert!(info.finished_at.is_some());
        Worker::new(&q)
            .quiet()
            .stop_when_empty()
            .run()
            .await
            .unwrap();
        assert_eq!(
            (THEN.load(Ordering::SeqCst), FINALLY.load(Ordering::SeqCst)),
            (1, 1)
        );
        assert!(q.stats().await.unwrap().is_empty(), "catch was stored");
    }

    #[test]
    fn a_members_meta_reads_back_as_its_batch_and_place() {
        let meta = crate::batch_meta::member_meta("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e", 41);
        let member = BatchMeta::read(Some(&meta)).member.unwrap();
        assert_eq!(
            (member.id.as_str(), member.index),
            ("0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e", 41)
        );
    }

    #[test]
    fn a_cancelled_batch_stores_no_callback() {
        let mut r = record(1);
        r.cancelled = true;
        assert!(r.count(0, true).unwrap().0.is_empty());
        assert_eq!(r.info("x").failed, 1);
    }
}
