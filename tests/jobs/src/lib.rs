//! A second crate of jobs: it depends on `rakit-job` alone, so it proves that `#[job]`
//! needs no serde or linkme dependency and that jobs register across crates.
//!
//! Every job but one appends one line per event to the file named by its `log` field, so
//! a test (in this process or another) can read what ran, when, and in which order. The
//! exception, [`runs::CountRun`], counts its runs in a table of an SQL database instead.
//! A line is `<event> <label> <job id> <attempt> <unix ms>` (whitespace in a label
//! becomes `_`); [`read_log`] parses a file of them and [`max_overlap`] tells whether
//! runs overlapped.
//!
//! A binary must link this crate for its jobs to be registered: `use rakit_test_jobs as _;`.
//!
//! ```
//! use rakit_job::JobSpec;
//! use rakit_test_jobs::{NoOverlapSleep, RecordRun};
//!
//! assert_eq!(RecordRun::NAME, "record-run");
//! assert_eq!(NoOverlapSleep::OPTIONS.no_overlap, rakit_job::KeyRule::Field("key"));
//! ```

pub mod runs;

use rakit_job::prelude::*;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Appends a `run` line labelled with `tag` and succeeds.
#[job]
pub struct RecordRun {
    /// The log file to append to.
    pub log: String,
    /// The label of the line.
    pub tag: String,
}

impl Jobable for RecordRun {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "run", &self.tag, ctx)?;
        Ok(())
    }
}

/// Fails its first `fail_first` attempts (a `fail` line each), then succeeds (an `ok` line).
#[job]
pub struct FailTimes {
    /// The log file to append to.
    pub log: String,
    /// How many attempts fail before one succeeds.
    pub fail_first: u32,
}

impl Jobable for FailTimes {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        if ctx.attempt() <= self.fail_first {
            append(&self.log, "fail", ctx.name(), ctx)?;
            return Err(JobError::new(format!(
                "failing on purpose: attempt {} of the first {} that fail",
                ctx.attempt(),
                self.fail_first
            )));
        }
        append(&self.log, "ok", ctx.name(), ctx)?;
        Ok(())
    }
}

/// Appends `start` labelled `tag`, waits 20 ms, appends `end`: a chain link a SIGKILL
/// can catch between its start and its ack.
#[job]
pub struct ChainStep {
    /// The log file to append to.
    pub log: String,
    /// The label of the lines, e.g. `c3-7` for link 7 of chain 3.
    pub tag: String,
}

impl Jobable for ChainStep {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", &self.tag, ctx)?;
        pause(Duration::from_millis(20)).await;
        append(&self.log, "end", &self.tag, ctx)?;
        Ok(())
    }
}

/// Fails for good (a `closed` line) while the file `gate` does not exist; once it does,
/// appends a `run` line labelled `gate` and succeeds: a chain link that fails, then runs
/// when retried.
#[job]
pub struct Gate {
    /// The log file to append to.
    pub log: String,
    /// The file whose existence opens the gate.
    pub gate: String,
}

impl Jobable for Gate {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        if !std::path::Path::new(&self.gate).exists() {
            append(&self.log, "closed", "gate", ctx)?;
            return Err(JobError::permanent(format!(
                "the gate {} is closed",
                self.gate
            )));
        }
        append(&self.log, "run", "gate", ctx)?;
        Ok(())
    }
}

/// Appends a `panic` line, then panics with [`Panics::MESSAGE`].
#[job]
pub struct Panics {
    /// The log file to append to.
    pub log: String,
}

impl Panics {
    /// The panic message, which the failed-jobs store should keep.
    pub const MESSAGE: &'static str = "the Panics job panics on purpose";
}

impl Jobable for Panics {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "panic", ctx.name(), ctx)?;
        panic!("{}", Panics::MESSAGE);
    }
}

/// Appends `start`, then waits until its worker asks it to stop (a cancel, a lost lease,
/// shutdown), appends `stopped` and ends with an error.
#[job]
pub struct UntilStopped {
    /// The log file to append to.
    pub log: String,
}

impl Jobable for UntilStopped {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", ctx.name(), ctx)?;
        ctx.cancelled().await;
        append(&self.log, "stopped", ctx.name(), ctx)?;
        Err("stopped when asked".into())
    }
}

/// Appends `run` (labelled with `tenant`); at most 50 start per 2 seconds, across every process.
#[job(rate_limit = "50/2s")]
pub struct RateLimited {
    /// The log file to append to.
    pub log: String,
    /// The line's label.
    pub tenant: String,
}

impl Jobable for RateLimited {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "run", &self.tenant, ctx)?;
        Ok(())
    }
}

/// Like [`Sleeps`], but at most two run at once across every process.
#[job(max_running = 2)]
pub struct Capped {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
    /// The log file to append to.
    pub log: String,
}

impl Jobable for Capped {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", ctx.name(), ctx)?;
        pause(Duration::from_millis(self.ms)).await;
        append(&self.log, "end", ctx.name(), ctx)?;
        Ok(())
    }
}

/// Appends `tick` labelled with the tick it was dispatched for (ms since the epoch): what
/// a cron schedule dispatches in the cross-process tests.
#[job]
pub struct RecordTick {
    /// The log file to append to.
    pub log: String,
}

impl Jobable for RecordTick {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        let tick = ctx
            .dispatched_at()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        append(&self.log, "tick", &tick.to_string(), ctx)?;
        Ok(())
    }
}

/// Appends `start`, waits `ms` milliseconds without blocking the runtime, appends `end`.
///
/// A run stopped by a timeout or a crash leaves a `start` without its `end`.
#[job]
pub struct Sleeps {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
    /// The log file to append to.
    pub log: String,
}

impl Jobable for Sleeps {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", ctx.name(), ctx)?;
        pause(Duration::from_millis(self.ms)).await;
        append(&self.log, "end", ctx.name(), ctx)?;
        Ok(())
    }
}

/// Like [`Sleeps`], but runs with the same `key` never overlap; lines are labelled with the key.
#[job(no_overlap = "key")]
pub struct NoOverlapSleep {
    /// The overlap key: runs with equal keys take turns.
    pub key: String,
    /// How long to sleep, in milliseconds.
    pub ms: u64,
    /// The log file to append to.
    pub log: String,
}

impl Jobable for NoOverlapSleep {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", &self.key, ctx)?;
        pause(Duration::from_millis(self.ms)).await;
        append(&self.log, "end", &self.key, ctx)?;
        Ok(())
    }
}

/// Appends `start`, then never returns on its own: its 300 ms timeout must stop it.
#[job(timeout = "300ms", retries = 0)]
pub struct Hangs {
    /// The log file to append to.
    pub log: String,
}

impl Jobable for Hangs {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        append(&self.log, "start", ctx.name(), ctx)?;
        pause(Duration::from_secs(3600)).await;
        append(&self.log, "end", ctx.name(), ctx)?;
        Ok(())
    }
}

/// One parsed log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What happened: `run`, `fail`, `ok`, `panic`, `start` or `end`.
    pub event: String,
    /// The tag, key or job name the line is about.
    pub label: String,
    /// The job's id.
    pub id: String,
    /// The attempt (1 on the first run).
    pub attempt: u32,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The process that ran the job.
    pub pid: u32,
}

/// Reads a log file written by these jobs, in line order; a missing file reads as empty.
///
/// ```
/// let entries = rakit_test_jobs::read_log("/nonexistent/rakit-test.log");
/// assert!(entries.is_empty());
/// ```
pub fn read_log(path: &str) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(parse_line).collect()
}

/// The most runs that were between their `start` and `end` at once, over `entries` in
/// file order: 1 means the runs never overlapped.
///
/// ```
/// use rakit_test_jobs::{Entry, max_overlap};
/// let e = |event: &str| Entry { event: event.into(), label: "k".into(), id: "1".into(), attempt: 1, at_ms: 0, pid: 1 };
/// assert_eq!(max_overlap(&[e("start"), e("end"), e("start"), e("end")]), 1);
/// assert_eq!(max_overlap(&[e("start"), e("start"), e("end"), e("end")]), 2);
/// ```
pub fn max_overlap(entries: &[Entry]) -> usize {
    let mut running = 0usize;
    let mut most = 0usize;
    for entry in entries {
        match entry.event.as_str() {
            "start" => {
                running += 1;
                most = most.max(running);
            }
            "end" => running = running.saturating_sub(1),
            _ => {}
        }
    }
    most
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut parts = line.split(' ');
    let entry = Entry {
        event: parts.next()?.to_string(),
        label: parts.next()?.to_string(),
        id: parts.next()?.to_string(),
        attempt: parts.next()?.parse().ok()?,
        at_ms: parts.next()?.parse().ok()?,
        pid: parts.next()?.parse().ok()?,
    };
    Some(entry)
}

/// Appends one line with a single write, so lines from concurrent processes never interleave.
fn append(path: &str, event: &str, label: &str, ctx: &JobContext) -> std::io::Result<()> {
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let label: String = label
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let line = format!(
        "{event} {label} {} {} {at_ms} {}\n",
        ctx.id(),
        ctx.attempt(),
        std::process::id()
    );
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.flush()
}

/// Waits without blocking the async runtime and without depending on one: a helper
/// thread sleeps and then wakes the task. Dropping the future (a timeout) is fine.
fn pause(duration: Duration) -> Pause {
    Pause {
        duration,
        state: None,
    }
}

struct Pause {
    duration: Duration,
    /// Set once the helper thread is started.
    state: Option<Arc<Mutex<PauseState>>>,
}

#[derive(Default)]
struct PauseState {
    finished: bool,
    waker: Option<Waker>,
}

impl Future for Pause {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let duration = self.duration;
        let state = self.state.get_or_insert_with(|| {
            let state = Arc::new(Mutex::new(PauseState::default()));
            let shared = Arc::clone(&state);
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                guard.finished = true;
                if let Some(waker) = guard.waker.take() {
                    waker.wake();
                }
            });
            state
        });
        let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
        if guard.finished {
            Poll::Ready(())
        } else {
            guard.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
