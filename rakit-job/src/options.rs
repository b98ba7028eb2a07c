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

/// The options `#[job(...)]` sets; the defaults are what a job without arguments gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobOptions {
    /// Runs of jobs with the same key never overlap.
    pub no_overlap: KeyRule,
    /// A dispatch is skipped while a job with the same key is stored.
    pub unique: KeyRule,
    /// Retries after the first run; `None` uses the worker's or the config's.
    pub retries: Option<u32>,
    /// Longest run before the job is stopped and counted as failed.
    pub timeout: Option<Duration>,
    /// Delay between attempts.
    pub backoff: Backoff,
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
        retries: None,
        timeout: None,
        backoff: Backoff::Exponential,
    };
}
