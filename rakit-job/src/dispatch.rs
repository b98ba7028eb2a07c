//! Dispatch: the builder that stores one job, or many, when awaited, and the one path
//! every dispatch ends on (checks, the `dispatch` span, log lines, metrics, wake-up).

use crate::error::Error;
use crate::observe;
use crate::options::{JobOptions, KeyRule};
use crate::queue::{Queue, default_queue};
use crate::when::When;
use rakit_job_core::{
    DriverError, JobId, MAX_PAYLOAD_BYTES, NewJob, PushOutcome, now_ms, validate_queue,
};
use serde_json::Value;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;
use tracing::Instrument;

/// Something that can be dispatched: a `#[job]` value, or a name with a JSON payload.
pub trait DispatchSource: Send + 'static {
    /// The job's name, default queue, payload and options, or why it cannot be stored.
    fn into_parts(self) -> Result<JobParts, Error>;
}

/// What a dispatch stores, before the builder's options apply.
#[derive(Clone, Debug)]
pub struct JobParts {
    /// The job's slug.
    pub name: String,
    /// Its default queue.
    pub queue: String,
    /// The payload.
    pub payload: Value,
    /// Its options (keys, limits).
    pub options: JobOptions,
}

/// What a dispatch builder holds: one source, or [`Many`].
pub trait Sources: Send + 'static {
    /// The parts of every job, in order.
    fn parts(self) -> Result<Vec<JobParts>, Error>;
}

impl DispatchSource for JobParts {
    fn into_parts(self) -> Result<JobParts, Error> {
        Ok(self)
    }
}

impl<S: DispatchSource> Sources for S {
    fn parts(self) -> Result<Vec<JobParts>, Error> {
        Ok(vec![self.into_parts()?])
    }
}

/// The jobs of a bulk dispatch.
pub struct Many<S>(Vec<S>);

impl<S: DispatchSource> Sources for Many<S> {
    fn parts(self) -> Result<Vec<JobParts>, Error> {
        self.0.into_iter().map(DispatchSource::into_parts).collect()
    }
}

/// What awaiting a dispatch gives, by kind of dispatch.
pub trait Mode: Send + 'static {
    /// The awaited value.
    type Output: Send + 'static;
    /// Whether every job is unique (skipped while a job with its key is pending).
    const UNIQUE: bool;
    /// The value, from what the store did with each job.
    fn output(pushed: Vec<Pushed>) -> Result<Self::Output, Error>;
}

/// What became of one job of a dispatch.
#[derive(Debug)]
pub struct Pushed {
    /// Its id.
    pub id: JobId,
    /// Its name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Its unique key, if it has one.
    pub unique_key: Option<String>,
    /// Stored, or skipped as a duplicate.
    pub outcome: PushOutcome,
}

/// A dispatch that stores its job (or errors): awaiting it gives the job's id.
pub struct Always;

/// A dispatch skipped while a job with the same key is pending: awaiting it gives `Option<JobId>`.
pub struct Unique;

/// A bulk dispatch: awaiting it gives the ids of the jobs stored, in order.
pub struct Bulk;

impl Mode for Always {
    type Output = JobId;
    const UNIQUE: bool = false;
    fn output(pushed: Vec<Pushed>) -> Result<JobId, Error> {
        match pushed.into_iter().next() {
            Some(Pushed {
                id,
                outcome: PushOutcome::Stored,
                ..
            }) => Ok(id),
            Some(p) => Err(Error::Duplicate {
                name: p.name,
                key: p.unique_key.unwrap_or_default(),
            }),
            None => Err(Error::Driver(DriverError::store(
                "the store answered nothing",
            ))),
        }
    }
}

impl Mode for Unique {
    type Output = Option<JobId>;
    const UNIQUE: bool = true;
    fn output(pushed: Vec<Pushed>) -> Result<Option<JobId>, Error> {
        Ok(pushed
            .into_iter()
            .next()
            .filter(|p| p.outcome == PushOutcome::Stored)
            .map(|p| p.id))
    }
}

impl Mode for Bulk {
    type Output = Vec<JobId>;
    const UNIQUE: bool = false;
    fn output(pushed: Vec<Pushed>) -> Result<Vec<JobId>, Error> {
        Ok(pushed
            .into_iter()
            .filter(|p| p.outcome == PushOutcome::Stored)
            .map(|p| p.id)
            .collect())
    }
}

/// Where and when the jobs of a dispatch go.
#[derive(Default)]
struct Placement {
    queue: Option<String>,
    at: Option<When>,
    delay: Duration,
    via: Option<Queue>,
    no_overlap: bool,
    /// A unique window set by the builder, for jobs that do not set their own.
    unique_for: Option<Duration>,
    /// A unique key chosen by the runtime (a cron tick's), instead of the job's rule.
    unique_key: Option<String>,
    /// When the job counts as dispatched, if not now (a cron tick: its tick).
    dispatched_at: Option<rakit_job_core::Millis>,
    /// The jobs to run after this one, in order (a chain).
    then: Vec<Result<JobParts, Error>>,
    /// The batch the jobs make up: its id and the record to write before them.
    batch: Option<(String, String)>,
}

/// A dispatch being built; nothing is stored until it is awaited.
///
/// ```no_run
/// use rakit_job::prelude::*;
/// use std::time::Duration;
///
/// #[job(queue = "default")]
/// pub struct SendEmail { pub to: String }
/// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let id = SendEmail::dispatch(SendEmail { to: "a@b.c".into() })
///     .on_queue("high")
///     .delay(Duration::from_secs(60))
///     .without_overlapping()
///     .await?;
/// println!("stored as {id}");
/// # Ok(()) }
/// ```
#[must_use = "a dispatch stores nothing until it is awaited"]
pub struct PendingDispatch<S, M = Always> {
    sources: S,
    place: Placement,
    mode: PhantomData<M>,
}

/// A dispatch that is skipped while a job with the same key is pending; see [`PendingDispatch::unique`].
pub type UniqueDispatch<S> = PendingDispatch<S, Unique>;

/// A bulk dispatch being built: many jobs stored in a few round trips, for imports and
/// fan-outs; nothing is stored until it is awaited.
///
/// Every job is checked (queue name, payload, keys) before any is stored, so one bad job
/// refuses the whole batch. SQL stores write each batch of up to 5,000 jobs in one
/// transaction; Redis sends it in one pipeline. Awaiting it gives the ids of the stored
/// jobs, in order; a job of a `unique` type whose key is taken is skipped.
///
/// ```no_run
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct SendEmail { pub to: String }
/// # impl Jobable for SendEmail { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let users = ["a@example.com", "b@example.com"];
/// let ids = SendEmail::dispatch_many(users.iter().map(|to| SendEmail { to: to.to_string() }))
///     .on_queue("low")
///     .await?;
/// assert_eq!(ids.len(), 2);
/// # Ok(()) }
/// ```
pub type PendingBatch<S> = PendingDispatch<Many<S>, Bulk>;

/// The most jobs handed to the store in one call; SQL stores cut it further into statements.
const BULK_CHUNK: usize = 5_000;

impl<S: DispatchSource> PendingDispatch<S> {
    /// Starts a dispatch of `source` with its own defaults.
    pub fn new(source: S) -> Self {
        PendingDispatch {
            sources: source,
            place: Placement::default(),
            mode: PhantomData,
        }
    }

    /// Skips the dispatch while a job with the same key (the job's `unique` key, or its
    /// name) is still pending; resolves to `None` when it was skipped. The check and the
    /// insert are one atomic step in the store.
    pub fn unique(self) -> UniqueDispatch<S> {
        PendingDispatch {
            sources: self.sources,
            place: self.place,
            mode: PhantomData,
        }
    }

    /// Skips the dispatch when one with the same key (the job's `unique` key, or its name)
    /// was accepted less than `window` ago, whatever became of that job; resolves to `None`
    /// when it was skipped. The check and the insert are one atomic step in the store.
    ///
    /// ```no_run
    /// use rakit_job::prelude::*;
    /// use std::time::Duration;
    ///
    /// #[job(unique = "account")]
    /// pub struct SyncAccount { pub account: u64 }
    /// # impl Jobable for SyncAccount { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # async fn demo() -> Result<(), rakit_job::Error> {
    /// let first = SyncAccount::dispatch(SyncAccount { account: 7 })
    ///     .unique_for(Duration::from_secs(600))
    ///     .await?;
    /// assert!(first.is_some());
    /// # Ok(()) }
    /// ```
    pub fn unique_for(mut self, window: Duration) -> UniqueDispatch<S> {
        self.place.unique_for = Some(window);
        self.unique()
    }

    /// The dispatch of a cron tick: dispatched at `tick`, kept apart by `key` for `window`
    /// whatever the job's own rules, so each tick is stored once across every process.
    pub(crate) fn tick(
        mut self,
        tick: rakit_job_core::Millis,
        key: String,
        window: Duration,
    ) -> UniqueDispatch<S> {
        self.place.unique_key = Some(key);
        self.place.dispatched_at = Some(tick);
        self.unique_for(window)
    }
}

impl<S: DispatchSource, M: Mode> PendingDispatch<S, M> {
    /// Runs `next` once this job has succeeded, then whatever follows it: a chain. Each
    /// job is stored by the ack of the one before, in the same atomic write, so a crash
    /// neither loses it nor stores it twice. A job that fails for good stops the chain;
    /// retrying it from the failed store goes on with the rest. Each job goes to its own
    /// default queue; the builder's options apply to the first.
    ///
    /// ```no_run
    /// use rakit_job::prelude::*;
    ///
    /// #[job]
    /// pub struct Resize { pub upload: u64 }
    /// #[job]
    /// pub struct Notify { pub upload: u64 }
    /// # impl Jobable for Resize { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    /// # impl Jobable for Notify { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # async fn demo() -> Result<(), rakit_job::Error> {
    /// let first = Resize::dispatch(Resize { upload: 7 })
    ///     .then(Notify { upload: 7 })
    ///     .await?;
    /// println!("the chain starts with #{first}");
    /// # Ok(()) }
    /// ```
    pub fn then(mut self, next: impl DispatchSource) -> Self {
        self.place.then.push(next.into_parts());
        self
    }
}

impl<S: DispatchSource> PendingBatch<S> {
    /// Starts a bulk dispatch of `sources`, each with its own defaults.
    pub fn many(sources: impl IntoIterator<Item = S>) -> Self {
        PendingDispatch {
            sources: Many(sources.into_iter().collect()),
            place: Placement::default(),
            mode: PhantomData,
        }
    }
}

impl<S: Sources, M: Mode> PendingDispatch<S, M> {
    /// Sends the job to `queue` instead of its default one.
    pub fn on_queue(mut self, queue: &str) -> Self {
        self.place.queue = Some(queue.to_string());
        self
    }

    /// Runs the job no earlier than `delay` from now (added to [`at`](Self::at) if both are set).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.place.delay = delay;
        self
    }

    /// Runs the job no earlier than `when`.
    pub fn at(mut self, when: impl Into<When>) -> Self {
        self.place.at = Some(when.into());
        self
    }

    /// Stores the job through `queue` instead of the default connection.
    pub fn via(mut self, queue: &Queue) -> Self {
        self.place.via = Some(queue.clone());
        self
    }

    /// Never runs this job while another job with the same name (or the job's own
    /// no-overlap key) is running, on any worker.
    pub fn without_overlapping(mut self) -> Self {
        self.place.no_overlap = true;
        self
    }

    /// Makes the jobs batch `id`, each knowing its place, and writes the batch's `record`
    /// once every job is checked, just before they are stored. They are never skipped for
    /// a unique key, since a batch waits for every one of its jobs.
    pub(crate) fn in_batch(mut self, id: &str, record: String) -> Self {
        self.place.batch = Some((id.to_string(), record));
        self
    }

    /// Checks everything and builds the records; nothing is stored yet.
    async fn prepare(self) -> Result<(Queue, Vec<NewJob>), Error> {
        let mut place = self.place;
        let then = std::mem::take(&mut place.then);
        let now = place.dispatched_at.unwrap_or_else(now_ms);
        let mut available_at = match &place.at {
            Some(when) => when.millis()?,
            None => now,
        };
        available_at =
            available_at.saturating_add(place.delay.as_millis().min(i64::MAX as u128) as i64);
        let mut jobs = self
            .sources
            .parts()?
            .into_iter()
            .map(|parts| record(parts, &place, M::UNIQUE, now, available_at))
            .collect::<Result<Vec<_>, Error>>()?;
        if let (Some(first), false) = (jobs.first_mut(), then.is_empty()) {
            let own = Placement::default();
            let next = then
                .into_iter()
                .map(|parts| record(parts?, &own, false, now, now))
                .collect::<Result<Vec<_>, Error>>()?;
            crate::chain::link(first, next).map_err(Error::InvalidPayload)?;
        }
        let queue = match place.via {
            Some(q) => q,
            None => default_queue().await?,
        };
        if let Some((batch, record)) = &place.batch {
            for (index, job) in jobs.iter_mut().enumerate() {
                job.meta = Some(crate::batch_meta::member_meta(batch, index as u64));
                (job.unique_key, job.unique_for) = (None, None);
            }
            create_batch(&queue, batch, record).await?;
        }
        Ok((queue, jobs))
    }

    /// Stores the jobs with `push` on the one path every dispatch ends on: the `dispatch`
    /// span around it all (refusals included), a log line and a metric per stored job,
    /// and one wake-up of this process's idle workers.
    async fn send<F, Fut>(self, push: F) -> Result<M::Output, Error>
    where
        F: FnOnce(Queue, Vec<NewJob>) -> Fut,
        Fut: Future<Output = Result<Vec<PushOutcome>, Error>>,
    {
        let seen = observe::Dispatch::start();
        let pushed: Result<Vec<Pushed>, Error> = async {
            let (queue, jobs) = self.prepare().await?;
            seen.jobs(&jobs);
            let sent: Vec<Pushed> = jobs
                .iter()
                .map(|j| Pushed {
                    id: j.id.clone(),
                    name: j.name.clone(),
                    queue: j.queue.clone(),
                    unique_key: j.unique_key.clone(),
                    outcome: PushOutcome::Duplicate,
                })
                .collect();
            let outcomes = push(queue.clone(), jobs).await?;
            let pushed: Vec<Pushed> = sent
                .into_iter()
                .zip(outcomes)
                .map(|(p, outcome)| Pushed { outcome, ..p })
                .collect();
            let stored = pushed.iter().filter(|p| p.outcome == PushOutcome::Stored);
            if queue.config().logging {
                for p in stored.clone() {
                    tracing::info!(target: "rakit_job", "Job added: {} - #{} (queue: {})", p.name, p.id, p.queue);
                }
            }
            if stored.count() > 0 {
                queue.notify_pushed();
            }
            Ok(pushed)
        }
        .instrument(seen.span())
        .await;
        let stored = pushed
            .iter()
            .flatten()
            .filter(|p| p.outcome == PushOutcome::Stored);
        let outcome = match (&pushed, stored.clone().next()) {
            (Err(_), _) => "refused",
            (Ok(_), Some(_)) => "stored",
            (Ok(_), None) => "skipped",
        };
        seen.end(outcome, stored.map(|p| (p.name.as_str(), p.queue.as_str())));
        M::output(pushed?)
    }

    /// Stores the jobs in the queue's store, in chunks of at most [`BULK_CHUNK`].
    async fn store(self) -> Result<M::Output, Error> {
        self.send(|queue, jobs| async move {
            let mut outcomes = Vec::with_capacity(jobs.len());
            let mut jobs = jobs.into_iter().peekable();
            while jobs.peek().is_some() {
                let chunk: Vec<NewJob> = jobs.by_ref().take(BULK_CHUNK).collect();
                outcomes.extend(queue.driver().push(chunk).await?);
            }
            Ok(outcomes)
        })
        .await
    }

    /// Stores the job inside the application's own SQL transaction: workers see it only
    /// if `tx` commits, and it vanishes if `tx` rolls back. The connection (the default,
    /// or [`via`](Self::via)) must be the same PostgreSQL or MySQL database as `tx`.
    ///
    /// ```no_run
    /// use rakit_job::prelude::*;
    /// use rakit_job::sqlx;
    ///
    /// #[job]
    /// pub struct SendWelcome { pub email: String }
    /// # impl Jobable for SendWelcome { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
    ///
    /// # async fn demo(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO users (email) VALUES ('a@b.c')").execute(&mut *tx).await?;
    /// SendWelcome::dispatch(SendWelcome { email: "a@b.c".into() }).with_tx(&mut tx).await?;
    /// tx.commit().await?; // the user and the job appear together, or neither does
    /// # Ok(()) }
    /// ```
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub async fn with_tx<DB: rakit_job_sql::TransactionDatabase>(
        self,
        tx: &mut rakit_job_sql::sqlx::Transaction<'_, DB>,
    ) -> Result<M::Output, Error> {
        self.send(|queue, jobs| async move {
            let Some(sql) = queue.sql_driver() else {
                return Err(Error::Config(format!(
                    "{} is not an SQL database, so a transaction cannot hold its jobs; dispatch without `with_tx`",
                    queue.describe()
                )));
            };
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in jobs {
                outcomes.push(sql.push_in(&mut *tx, job).await?);
            }
            Ok(outcomes)
        })
        .await
    }
}

/// The record of one job: its parts with the builder's placement applied, checked.
fn record(
    parts: JobParts,
    place: &Placement,
    unique: bool,
    now: rakit_job_core::Millis,
    available_at: rakit_job_core::Millis,
) -> Result<NewJob, Error> {
    let queue = place.queue.clone().unwrap_or(parts.queue);
    validate_queue(&queue)?;
    let payload = serde_json::to_string(&parts.payload).map_err(|e| {
        Error::InvalidPayload(format!("the payload cannot be written as JSON: {e}"))
    })?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::InvalidPayload(format!(
            "the `{}` payload is {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; store the data elsewhere and dispatch its id",
            parts.name,
            payload.len()
        )));
    }
    let options = parts.options;
    let overlap_rule = match (options.no_overlap, place.no_overlap) {
        (KeyRule::Off, true) => KeyRule::Name,
        (rule, _) => rule,
    };
    let unique_for = place.unique_for.or(options.unique_for);
    let unique_rule = match (options.unique, unique || unique_for.is_some()) {
        (KeyRule::Off, true) => KeyRule::Name,
        (rule, _) => rule,
    };
    let unique_key = match &place.unique_key {
        Some(key) => Some(key.clone()),
        None => key_for(unique_rule, &parts.name, &parts.payload)?,
    };
    Ok(NewJob {
        id: JobId::generate(),
        overlap_key: key_for(overlap_rule, &parts.name, &parts.payload)?,
        unique_key,
        unique_for: unique_for.map(|w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX).max(1)),
        meta: None,
        name: parts.name,
        queue,
        payload,
        available_at,
        created_at: now,
    })
}

/// Writes the record of a new batch.
pub(crate) async fn create_batch(queue: &Queue, id: &str, record: &str) -> Result<(), Error> {
    if queue
        .driver()
        .swap_entry(crate::batch_meta::KIND, id, None, record)
        .await?
    {
        return Ok(());
    }
    Err(Error::Driver(DriverError::store(format!(
        "a batch with id {id} exists already; dispatch again"
    ))))
}

/// The record of one job on its own queue, due now, checked: a batch keeps its callbacks
/// this way until their time comes.
pub(crate) fn record_now(parts: JobParts) -> Result<NewJob, Error> {
    let now = now_ms();
    record(parts, &Placement::default(), false, now, now)
}

/// The key a rule gives for this payload: the name, or the name plus one field's value.
pub(crate) fn key_for(rule: KeyRule, name: &str, payload: &Value) -> Result<Option<String>, Error> {
    Ok(match rule {
        KeyRule::Off => None,
        KeyRule::Name => Some(name.to_string()),
        KeyRule::Field(field) => {
            let value = payload.get(field).ok_or_else(|| {
                Error::InvalidPayload(format!(
                    "the `{name}` job keys on the field `{field}`, but the payload has no such field"
                ))
            })?;
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(format!("{name}:{text}"))
        }
    })
}

impl<S: Sources, M: Mode> IntoFuture for PendingDispatch<S, M> {
    type Output = Result<M::Output, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.store())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NamedJob;
    use serde_json::json;

    #[tokio::test]
    async fn every_job_of_a_bulk_dispatch_is_stored_and_a_bad_job_refuses_it_whole() {
        let queue = Queue::memory();
        let jobs = (0..12_000).map(|n| NamedJob::new("import-row", json!({ "n": n })));
        let ids = PendingBatch::many(jobs)
            .on_queue("imports")
            .via(&queue)
            .await
            .unwrap();
        assert_eq!(ids.len(), 12_000, "three store calls, every job stored");
        let stats = queue.driver().stats().await.unwrap();
        assert_eq!(
            (stats[0].queue.as_str(), stats[0].ready),
            ("imports", 12_000)
        );

        let bad = [NamedJob::new("ok", json!({})), NamedJob::new("", json!({}))];
        let refused = PendingBatch::many(bad).on_queue("other").via(&queue).await;
        assert!(
            matches!(refused, Err(Error::InvalidPayload(_))),
            "{refused:?}"
        );
        let stats = queue.driver().stats().await.unwrap();
        assert_eq!(stats.len(), 1, "nothing of the refused batch was stored");
    }
}
