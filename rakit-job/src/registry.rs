//! Where workers find jobs by name: the link-time slice `#[job]` fills, and the
//! run-time listeners of the legacy event API.

use crate::context::JobContext;
use crate::options::JobOptions;
use crate::spec::{JobResult, Jobable};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

/// A running job, boxed so jobs of every type fit one table.
pub type BoxJobFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;

/// One registered job type, as `#[job]` records it.
pub struct JobEntry {
    /// The job's slug.
    pub name: &'static str,
    /// The Rust path of its type, for messages.
    pub type_name: &'static str,
    /// Its default queue.
    pub queue: &'static str,
    /// Its options.
    pub options: JobOptions,
    start: fn(&str, JobContext) -> Result<BoxJobFuture, String>,
    check: fn(&Value) -> Result<(), String>,
}

impl JobEntry {
    /// The entry for job type `T`; `#[job]` calls this in a `static`.
    pub const fn of<T: Jobable>(type_name: &'static str) -> JobEntry {
        JobEntry {
            name: T::NAME,
            type_name,
            queue: T::QUEUE,
            options: T::OPTIONS,
            start: start_job::<T>,
            check: check_payload::<T>,
        }
    }

    /// Decodes a stored payload and starts the job; the error says why it does not decode.
    pub(crate) fn start(&self, payload: &str, ctx: JobContext) -> Result<BoxJobFuture, String> {
        (self.start)(payload, ctx)
    }

    /// Checks that a by-name payload fits this job's fields.
    pub(crate) fn check(&self, payload: &Value) -> Result<(), String> {
        (self.check)(payload)
    }
}

fn start_job<T: Jobable>(payload: &str, ctx: JobContext) -> Result<BoxJobFuture, String> {
    let job: T = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    Ok(Box::pin(async move { job.run(&ctx).await }))
}

fn check_payload<T: Jobable>(payload: &Value) -> Result<(), String> {
    T::deserialize(payload)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Every job type linked into this binary.
#[linkme::distributed_slice]
pub static JOBS: [JobEntry];

/// A `#[job(cron = ...)]` type: its schedule and how to make the payload it dispatches.
pub struct ScheduleEntry {
    /// The job's slug.
    pub name: &'static str,
    /// Its schedule.
    pub cron: crate::options::Cron,
    payload: fn() -> Result<Value, String>,
}

impl ScheduleEntry {
    /// The schedule of job type `T`, dispatched as `T::default()`; `#[job]` calls this.
    pub const fn of<T: Jobable + Default>() -> ScheduleEntry {
        ScheduleEntry {
            name: T::NAME,
            cron: match T::OPTIONS.cron {
                Some(cron) => cron,
                None => crate::options::Cron {
                    expression: "",
                    tz: None,
                },
            },
            payload: default_payload::<T>,
        }
    }

    /// The payload each tick dispatches.
    pub(crate) fn payload(&self) -> Result<Value, String> {
        (self.payload)()
    }
}

fn default_payload<T: Jobable + Default>() -> Result<Value, String> {
    serde_json::to_value(T::default()).map_err(|e| e.to_string())
}

/// Every scheduled job type linked into this binary.
#[linkme::distributed_slice]
pub static SCHEDULES: [ScheduleEntry];

fn by_name() -> &'static HashMap<&'static str, &'static JobEntry> {
    static INDEX: OnceLock<HashMap<&'static str, &'static JobEntry>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for entry in JOBS.iter() {
            map.entry(entry.name).or_insert(entry);
        }
        map
    })
}

/// The registered job with this name (any spelling of its slug).
pub fn find(name: &str) -> Option<&'static JobEntry> {
    let entry = by_name().get(name).copied();
    entry.or_else(|| by_name().get(rakit_job_core::slug(name).as_str()).copied())
}

/// Every registered job, sorted by name.
pub fn all() -> Vec<&'static JobEntry> {
    let mut all: Vec<&'static JobEntry> = JOBS.iter().collect();
    all.sort_by_key(|e| (e.name, e.type_name));
    all
}

/// Job names registered by more than one type, as `(name, first type, second type)`.
pub fn duplicates() -> Vec<(&'static str, &'static str, &'static str)> {
    let all = all();
    all.windows(2)
        .filter(|w| w[0].name == w[1].name)
        .map(|w| (w[0].name, w[0].type_name, w[1].type_name))
        .collect()
}

/// Refuses a binary in which two job types share a name, naming both types.
pub(crate) fn check_unique_names() -> Result<(), crate::Error> {
    match duplicates().first() {
        Some((name, a, b)) => Err(crate::Error::Config(format!(
            "two job types are named `{name}`: {a} and {b}; give one of them another #[job(name = \"...\")]"
        ))),
        None => Ok(()),
    }
}

/// A legacy listener: a closure run for every job of one name.
pub(crate) type Listener = Arc<dyn Fn(Value) -> BoxJobFuture + Send + Sync>;

fn listeners() -> &'static RwLock<HashMap<String, Listener>> {
    static LISTENERS: OnceLock<RwLock<HashMap<String, Listener>>> = OnceLock::new();
    LISTENERS.get_or_init(Default::default)
}

/// The prefix of Rakit's hook for running a job (`rakit.jobs.run: send-notification`).
const RAKIT_RUN_HOOK: &str = "rakit.jobs.run:";

/// Registers a closure that runs every job named `name` (the legacy event API).
///
/// A `#[job]` type of the same name takes precedence. The closure gets the payload as JSON.
/// Rakit's hook name for the same thing, `rakit.jobs.run: NAME`, is accepted too.
///
/// # Panics
///
/// On another Rakit hook name (`rakit.jobs.process`, `rakit.jobs.forget: …`): rakit-job
/// fires no such hooks, so a listener on one would never run.
///
/// ```
/// rakit_job::listen("send-notification", |payload: serde_json::Value| async move {
///     println!("notify {}", payload["to"]);
///     Ok(())
/// });
/// // The same listener, written as in Rakit:
/// rakit_job::listen("rakit.jobs.run: send-notification", |_payload| async move { Ok(()) });
/// ```
pub fn listen<F, Fut>(name: &str, handler: F)
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    let name = listened_name(name).unwrap_or_else(|message| panic!("{message}"));
    let handler: Listener = Arc::new(move |payload| Box::pin(handler(payload)));
    let mut map = listeners().write().unwrap_or_else(|p| p.into_inner());
    map.insert(name, handler);
}

/// The job a listener name means: the slug of `NAME` or of `rakit.jobs.run: NAME`.
fn listened_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    let job = match trimmed.strip_prefix(RAKIT_RUN_HOOK) {
        Some(job) => job,
        None if trimmed.starts_with("rakit.jobs.") => {
            return Err(format!(
                "cannot listen on {trimmed:?}: rakit-job fires no such Rakit hook; listen on the job's name, e.g. \"send-notification\""
            ));
        }
        None => trimmed,
    };
    let slug = rakit_job_core::slug(job);
    if slug.is_empty() {
        return Err(format!(
            "cannot listen on {name:?}: it names no job; use letters, digits and dashes, e.g. \"send-notification\""
        ));
    }
    Ok(slug)
}

/// The listener for this name, if one was registered.
pub(crate) fn listener(name: &str) -> Option<Listener> {
    let map = listeners().read().unwrap_or_else(|p| p.into_inner());
    map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::listened_name;

    #[test]
    fn rakit_hook_names_mean_the_job_they_run() {
        assert_eq!(
            listened_name("rakit.jobs.run: send-notification").unwrap(),
            "send-notification"
        );
        assert_eq!(
            listened_name("Send Notification").unwrap(),
            "send-notification"
        );
        assert!(listened_name("rakit.jobs.process").is_err());
        assert!(listened_name("rakit.jobs.forget: x").is_err());
        assert!(listened_name("!!!").is_err());
    }
}
