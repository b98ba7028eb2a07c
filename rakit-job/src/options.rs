//! What `#[job(...)]` sets: how keys are formed, how long a failed job waits, and the
//! options themselves. Plain data, read by dispatch and the worker.

use std::time::Duration;

/// How a job's key for `no_overlap` or `unique` is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRule {
    /// The option is off.
    Off,
    /// The key is the job's name: one at a time for the whole job type.
    Name,
    /// The key is the job's name plus the value of this payload field.
    Field(&'static str),
}

/// How long a failed job waits before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// 1 s, 2 s, 4 s, … doubling per attempt, capped at one hour.
    Exponential,
    /// Always the worker's `sleep` interval, as Rakit waited `sleep_ms` between attempts.
    Fixed,
    /// The listed delays in order; the last repeats.
    List(&'static [Duration]),
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1 for the first run).
    ///
    /// ```
    /// use rakit_job::Backoff;
    /// use std::time::Duration;
    /// let sleep = Duration::from_millis(500);
    /// assert_eq!(Backoff::Exponential.delay(3, sleep), Duration::from_secs(4));
    /// assert_eq!(Backoff::Fixed.delay(3, sleep), sleep);
    /// const STEPS: &[Duration] = &[Duration::from_secs(1), Duration::from_secs(10)];
    /// assert_eq!(Backoff::List(STEPS).delay(5, sleep), Duration::from_secs(10));
    /// ```
    pub fn delay(&self, attempt: u32, sleep: Duration) -> Duration {
        match self {
            Backoff::Exponential => {
                let exp = attempt.saturating_sub(1).min(12);
                Duration::from_secs(1u64 << exp).min(Duration::from_secs(3600))
            }
            Backoff::Fixed => sleep,
            Backoff::List(steps) => {
                let i = (attempt.saturating_sub(1) as usize).min(steps.len().saturating_sub(1));
                steps.get(i).copied().unwrap_or(sleep)
            }
        }
    }
}

/// `#[job(rate_limit = "100/1m", rate_key = "tenant")]`: at most `count` runs start per
/// `per`, across every worker process, per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Starts allowed per window.
    pub count: u32,
    /// The window: any stretch of this long holds at most `count` starts.
    pub per: Duration,
    /// What is counted apart: the job's name, or the name plus one field's value.
    pub key: KeyRule,
}

/// `#[job(max_running = 5)]`: at most `count` runs at once, across every worker process,
/// per key. `no_overlap` is the case of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxRunning {
    /// Runs allowed at once.
    pub count: u32,
    /// What is capped apart: the job's name, or the name plus one field's value.
    pub key: KeyRule,
}

/// `#[job(cron = "0 3 * * *", tz = "Europe/Berlin")]`: when every worker's scheduler
/// dispatches the job (its `Default` value), once per tick across every host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cron {
    /// 5 fields (minute hour day month weekday), or 6 with seconds first.
    pub expression: &'static str,
    /// The IANA time zone the expression is read in; UTC when `None`.
    pub tz: Option<&'static str>,
}

/// The options `#[job(...)]` sets; the defaults are what a job without arguments gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOptions {
    /// Runs of jobs with the same key never overlap.
    pub no_overlap: KeyRule,
    /// A dispatch is skipped while a job with the same key is stored.
    pub unique: KeyRule,
    /// A dispatch is skipped when one with the same key was accepted less than this long ago.
    pub unique_for: Option<Duration>,
    /// Retries after the first run; `None` uses the worker's or the config's.
    pub retries: Option<u32>,
    /// Longest run before the job is stopped and counted as failed.
    pub timeout: Option<Duration>,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// At most so many starts per window.
    pub rate_limit: Option<RateLimit>,
    /// At most so many running at once.
    pub max_running: Option<MaxRunning>,
    /// A schedule the workers dispatch the job on.
    pub cron: Option<Cron>,
}

impl JobOptions {
    /// The options of a job with no arguments.
    ///
    /// ```
    /// let o = rakit_job::JobOptions::DEFAULT;
    /// assert_eq!(o.retries, None);
    /// ```
    pub const DEFAULT: JobOptions = JobOptions {
        no_overlap: KeyRule::Off,
        unique: KeyRule::Off,
        unique_for: None,
        retries: None,
        timeout: None,
        backoff: Backoff::Exponential,
        rate_limit: None,
        max_running: None,
        cron: None,
    };
}
