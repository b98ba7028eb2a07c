//! Dispatch: the builder that stores a job when awaited.

use crate::error::Error;
use crate::job::{JobSpec, KeyRule};
use crate::queue::{Queue, default_queue};
use crate::registry;
pub use crate::when::When;
use rakit_job_core::{JobId, MAX_PAYLOAD_BYTES, NewJob, PushOutcome, now_ms, slug, validate_queue};
use serde_json::Value;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;
use tracing::Instrument;

/// Something that can be dispatched: a `#[job]` value, or a name with a JSON payload.
pub trait DispatchSource: Send + 'static {
    /// The job's name, default queue, payload and key rules, or why it cannot be stored.
    fn into_parts(self) -> Result<JobParts, Error>;
}

/// What a dispatch stores, before the builder's options apply.
#[derive(Debug)]
pub struct JobParts {
    /// The job's slug.
    pub name: String,
    /// Its default queue.
    pub queue: String,
    /// The payload.
    pub payload: Value,
    /// Its no-overlap rule.
    pub no_overlap: KeyRule,
    /// Its unique rule.
    pub unique: KeyRule,
}

impl<J: JobSpec> DispatchSource for J {
    fn into_parts(self) -> Result<JobParts, Error> {
        let payload = serde_json::to_value(&self).map_err(|e| {
            Error::InvalidPayload(format!(
                "the `{}` job cannot be turned into JSON: {e}",
                J::NAME
            ))
        })?;
        Ok(JobParts {
            name: J::NAME.to_string(),
            queue: J::QUEUE.to_string(),
            payload,
            no_overlap: J::OPTIONS.no_overlap,
            unique: J::OPTIONS.unique,
        })
    }
}

/// A job named at run time with a JSON payload: what [`crate::Job::dispatch`] sends.
pub struct NamedJob {
    name: String,
    payload: Value,
}

impl NamedJob {
    /// A job of `name` (any spelling of its slug) carrying `payload`.
    pub fn new(name: &str, payload: Value) -> Self {
        NamedJob {
            name: name.to_string(),
            payload,
        }
    }
}

impl DispatchSource for NamedJob {
    fn into_parts(self) -> Result<JobParts, Error> {
        let name = slug(&self.name);
        if name.is_empty() {
            return Err(Error::InvalidPayload(format!(
                "{:?} is not a job name; use letters, digits and dashes, e.g. \"send-email\"",
                self.name
            )));
        }
        match registry::find(&name) {
            Some(entry) => {
                entry.check(&self.payload).map_err(|e| {
                    Error::InvalidPayload(format!(
                        "the payload does not fit the `{name}` job ({}): {e}; send the fields it declares",
                        entry.type_name
                    ))
                })?;
                Ok(JobParts {
                    name,
                    queue: entry.queue.to_string(),
                    payload: self.payload,
                    no_overlap: entry.options.no_overlap,
                    unique: entry.options.unique,
                })
            }
            None => Ok(JobParts {
                name,
                queue: "default".into(),
                payload: self.payload,
                no_overlap: KeyRule::Off,
                unique: KeyRule::Off,
            }),
        }
    }
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
    source: S,
    queue: Option<String>,
    at: Option<When>,
    delay: Duration,
    via: Option<Queue>,
    no_overlap: bool,
    mode: std::marker::PhantomData<M>,
}

/// A dispatch that always stores (or errors): awaiting it gives the job's id.
pub struct Always;

/// A dispatch skipped while a job with the same key is pending: awaiting it gives `Option<JobId>`.
pub struct Unique;

/// A dispatch that is skipped while a job with the same key is pending; see [`PendingDispatch::unique`].
pub type UniqueDispatch<S> = PendingDispatch<S, Unique>;

impl<S: DispatchSource> PendingDispatch<S> {
    /// Starts a dispatch of `source` with its own defaults.
    pub fn new(source: S) -> Self {
        PendingDispatch {
            source,
            queue: None,
            at: None,
            delay: Duration::ZERO,
            via: None,
            no_overlap: false,
            mode: std::marker::PhantomData,
        }
    }

    /// Skips the dispatch while a job with the same key (the job's `unique` key, or its
    /// name) is still pending; resolves to `None` when it was skipped. The check and the
    /// insert are one atomic step in the store.
    pub fn unique(self) -> UniqueDispatch<S> {
        PendingDispatch {
            source: self.source,
            queue: self.queue,
            at: self.at,
            delay: self.delay,
            via: self.via,
            no_overlap: self.no_overlap,
            mode: std::marker::PhantomData,
        }
    }
}

impl<S: DispatchSource, M> PendingDispatch<S, M> {
    /// Sends the job to `queue` instead of its default one.
    pub fn on_queue(mut self, queue: &str) -> Self {
        self.queue = Some(queue.to_string());
        self
    }

    /// Runs the job no earlier than `delay` from now (added to [`at`](Self::at) if both are set).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Runs the job no earlier than `when`.
    pub fn at(mut self, when: impl Into<When>) -> Self {
        self.at = Some(when.into());
        self
    }

    /// Stores the job through `queue` instead of the default connection.
    pub fn via(mut self, queue: &Queue) -> Self {
        self.via = Some(queue.clone());
        self
    }

    /// Never runs this job while another job with the same name (or the job's own
    /// no-overlap key) is running, on any worker.
    pub fn without_overlapping(mut self) -> Self {
        self.no_overlap = true;
        self
    }

    async fn store(self, force_unique: bool) -> Result<Option<JobId>, Error> {
        let mut seen = crate::observe::Dispatch::start();
        let span = seen.span();
        let result = async {
            let (queue, job) = self.prepare(force_unique).await?;
            seen.job(&job);
            let summary = Summary::of(&job);
            let outcome = queue.driver().push(job).await?;
            summary.finish(&queue, outcome, force_unique)
        }
        .instrument(span)
        .await;
        seen.end(&result);
        result
    }

    /// Checks everything and builds the record; nothing is stored yet.
    pub(crate) async fn prepare(self, force_unique: bool) -> Result<(Queue, NewJob), Error> {
        let parts = self.source.into_parts()?;
        let queue_name = self.queue.unwrap_or(parts.queue);
        validate_queue(&queue_name)?;
        let text = serde_json::to_string(&parts.payload).map_err(|e| {
            Error::InvalidPayload(format!("the payload cannot be written as JSON: {e}"))
        })?;
        if text.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::InvalidPayload(format!(
                "the `{}` payload is {} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; store the data elsewhere and dispatch its id",
                parts.name,
                text.len()
            )));
        }
        let now = now_ms();
        let mut available_at = match &self.at {
            Some(when) => when.millis()?,
            None => now,
        };
        available_at =
            available_at.saturating_add(self.delay.as_millis().min(i64::MAX as u128) as i64);
        let overlap_rule = match (parts.no_overlap, self.no_overlap) {
            (KeyRule::Off, true) => KeyRule::Name,
            (rule, _) => rule,
        };
        let unique_rule = match (parts.unique, force_unique) {
            (KeyRule::Off, true) => KeyRule::Name,
            (rule, _) => rule,
        };
        let overlap_key = key_for(overlap_rule, &parts.name, &parts.payload)?;
        let unique_key = key_for(unique_rule, &parts.name, &parts.payload)?;
        let queue = match self.via.or_else(crate::testing::scoped_queue) {
            Some(q) => q,
            None => default_queue().await?,
        };
        let job = NewJob {
            id: JobId::generate(),
            name: parts.name,
            queue: queue_name,
            payload: text,
            available_at,
            created_at: now,
            overlap_key,
            unique_key,
        };
        Ok((queue, job))
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
    ) -> Result<JobId, Error> {
        let mut seen = crate::observe::Dispatch::start();
        let span = seen.span();
        let result = async {
            let (queue, job) = self.prepare(false).await?;
            seen.job(&job);
            let Some(sql) = queue.sql_driver() else {
                return Err(Error::Config(format!(
                    "{} is not an SQL database, so a transaction cannot hold its jobs; dispatch without `with_tx`",
                    queue.describe()
                )));
            };
            let summary = Summary::of(&job);
            let outcome = sql.push_in(tx, job).await?;
            summary.finish(&queue, outcome, false)
        }
        .instrument(span)
        .await;
        seen.end(&result);
        Ok(result?.expect("a non-unique dispatch either stores or errors"))
    }
}

/// What is logged and returned about a push, kept while the record itself is moved into the store.
struct Summary {
    id: JobId,
    name: String,
    queue: String,
    unique_key: Option<String>,
}

impl Summary {
    fn of(job: &NewJob) -> Self {
        Summary {
            id: job.id.clone(),
            name: job.name.clone(),
            queue: job.queue.clone(),
            unique_key: job.unique_key.clone(),
        }
    }

    fn finish(
        self,
        queue: &Queue,
        outcome: PushOutcome,
        force_unique: bool,
    ) -> Result<Option<JobId>, Error> {
        match outcome {
            PushOutcome::Stored => {
                if queue.config().logging {
                    tracing::info!(target: "rakit_job", "Job added: {} - #{} (queue: {})", self.name, self.id, self.queue);
                }
                queue.notify_pushed();
                Ok(Some(self.id))
            }
            PushOutcome::Duplicate if force_unique => Ok(None),
            PushOutcome::Duplicate => Err(Error::Duplicate {
                name: self.name,
                key: self.unique_key.unwrap_or_default(),
            }),
        }
    }
}

/// The key a rule gives for this payload: the name, or the name plus one field's value.
fn key_for(rule: KeyRule, name: &str, payload: &Value) -> Result<Option<String>, Error> {
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

impl<S: DispatchSource> IntoFuture for PendingDispatch<S> {
    type Output = Result<JobId, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let stored = self.store(false).await?;
            Ok(stored.expect("a non-unique dispatch either stores or errors"))
        })
    }
}

impl<S: DispatchSource> IntoFuture for UniqueDispatch<S> {
    type Output = Result<Option<JobId>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.store(true))
    }
}
