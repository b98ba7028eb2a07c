//! Cron schedules: a job dispatched at each tick of a cron expression, once across every
//! worker process and host. Every long-running worker runs the scheduler; each tick is
//! dispatched with a unique key of its own (`cron:<job>:<tick>`) held for a window of two
//! periods, so the first process to reach the store stores it and the others are turned
//! away — also when workers restart or their clocks differ by a second. After downtime
//! only the latest missed tick is dispatched.

use crate::dispatch::{JobParts, PendingDispatch};
use crate::error::Error;
use crate::queue::Queue;
use crate::registry::{self, SCHEDULES};
use chrono::{DateTime, TimeZone, Utc};
use rakit_job_core::{JobId, Millis, now_ms};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// A job and the cron expression it is dispatched on.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use rakit_job::prelude::*;
///
/// #[job]
/// pub struct Backup { pub target: String }
/// # impl Jobable for Backup { async fn run(&self, _: &JobContext) -> JobResult { Ok(()) } }
///
/// let nightly = rakit_job::Schedule::new("0 3 * * *", Some("Europe/Berlin"), Backup { target: "s3".into() })?;
/// assert_eq!(nightly.name(), "backup");
/// assert_eq!(nightly.upcoming(3).len(), 3);
/// assert!(rakit_job::Schedule::new("61 * * * *", None, Backup { target: "x".into() }).is_err());
/// # Ok::<(), rakit_job::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    tz: Option<chrono_tz::Tz>,
    cron: Arc<croner::Cron>,
    job: JobParts,
}

impl Schedule {
    /// `job` on the cron `expression` (5 fields, or 6 with seconds first), read in the IANA
    /// time zone `tz` (UTC when `None`); an invalid expression or zone is an error.
    pub fn new(
        expression: &str,
        tz: Option<&str>,
        job: impl crate::DispatchSource,
    ) -> Result<Schedule, Error> {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build();
        let cron = parser.parse(expression).map_err(|e| {
            let e = e.to_string();
            Error::Config(format!(
                "the cron expression {expression:?} is invalid ({}); write 5 fields (minute hour day month weekday) or 6 with seconds first",
                e.trim_end_matches('.')
            ))
        })?;
        let tz = match tz {
            Some(name) => Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
                Error::Config(format!(
                    "the time zone {name:?} is unknown; use an IANA name such as \"Europe/Berlin\""
                ))
            })?),
            None => None,
        };
        Ok(Schedule {
            expression: expression.to_string(),
            tz,
            cron: Arc::new(cron),
            job: job.into_parts()?,
        })
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.job.name
    }

    /// The cron expression.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is read in.
    pub fn time_zone(&self) -> &str {
        self.tz.as_ref().map_or("UTC", |tz| tz.name())
    }

    /// The next `n` ticks from now, in ms since the Unix epoch.
    pub fn upcoming(&self, n: usize) -> Vec<Millis> {
        let mut ticks = Vec::with_capacity(n);
        let mut at = now_ms();
        while ticks.len() < n {
            match self.next_after(at) {
                Some(tick) => {
                    ticks.push(tick);
                    at = tick;
                }
                None => break,
            }
        }
        ticks
    }

    /// The first tick strictly after `at`.
    pub(crate) fn next_after(&self, at: Millis) -> Option<Millis> {
        self.find(at, true)
    }

    /// The latest tick at or before `at`.
    pub(crate) fn latest_until(&self, at: Millis) -> Option<Millis> {
        self.find(at, false)
    }

    fn find(&self, at: Millis, forward: bool) -> Option<Millis> {
        fn step<Z: TimeZone>(cron: &croner::Cron, t: DateTime<Z>, forward: bool) -> Option<Millis> {
            let found = match forward {
                true => cron.find_next_occurrence(&t, false),
                false => cron.find_previous_occurrence(&t, true),
            };
            found.ok().map(|d| d.timestamp_millis())
        }
        let utc = Utc.timestamp_millis_opt(at).single()?;
        match &self.tz {
            Some(tz) => step(&self.cron, utc.with_timezone(tz), forward),
            None => step(&self.cron, utc, forward),
        }
    }

    /// How long a tick's key is held: two periods (at least a minute), so every process
    /// that reaches the tick late, or restarts after it, is turned away. Never shorter than
    /// a period: a worker starting any time before the next tick fires this one again.
    fn window(&self, tick: Millis) -> Duration {
        let period = self.next_after(tick).map_or(60_000, |next| next - tick);
        let window = period.saturating_mul(2).max(60_000);
        Duration::from_millis(window as u64)
    }

    /// Dispatches the tick at `tick` unless any process already did; its id when this
    /// call stored it.
    pub(crate) async fn fire(&self, queue: &Queue, tick: Millis) -> Result<Option<JobId>, Error> {
        let key = format!("cron:{}:{tick}", self.job.name);
        let at = UNIX_EPOCH + Duration::from_millis(tick.max(0) as u64);
        PendingDispatch::new(self.job.clone())
            .via(queue)
            .at(at)
            .tick(tick, key, self.window(tick))
            .await
    }
}

/// The schedules of the `#[job(cron = ...)]` types linked into this program, in name order.
///
/// ```
/// for schedule in rakit_job::schedules()? {
///     println!("{} on {:?} ({})", schedule.name(), schedule.expression(), schedule.time_zone());
/// }
/// # Ok::<(), rakit_job::Error>(())
/// ```
pub fn schedules() -> Result<Vec<Schedule>, Error> {
    let mut all = Vec::new();
    for entry in SCHEDULES.iter() {
        let payload = entry.payload().map_err(|e| {
            Error::InvalidPayload(format!(
                "the scheduled job `{}` cannot be written as JSON: {e}",
                entry.name
            ))
        })?;
        let Some(job) = registry::find(entry.name) else {
            continue;
        };
        let parts = JobParts {
            name: job.name.to_string(),
            queue: job.queue.to_string(),
            payload,
            options: job.options,
        };
        all.push(Schedule::new(entry.cron.expression, entry.cron.tz, parts)?);
    }
    all.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(all)
}

/// The tick a running scheduler dispatches next, given the last one it dispatched: the
/// one after it, even when past, while it is fresh; after a longer hold-up (a slow store,
/// a busy or suspended machine) the latest past tick if fresh, as after downtime; else
/// the next one to come. A tick is fresh for half its key window, so a late tick is still
/// turned away wherever another process stored it.
fn due(schedule: &Schedule, last: Millis, now: Millis) -> Option<Millis> {
    let fresh = |tick: &Millis| now - tick <= schedule.window(*tick).as_millis() as Millis / 2;
    let next = schedule.next_after(last)?;
    if next > now || fresh(&next) {
        return Some(next);
    }
    schedule
        .latest_until(now)
        .filter(fresh)
        .or_else(|| schedule.next_after(now))
}

/// Runs the schedules on `queue` until the task is aborted: first the latest tick each
/// missed (already stored ones are turned away), then every tick as it comes, late ones
/// included (see [`due`]). A tick the store refused is tried again a second later.
pub(crate) fn start(queue: Queue, schedules: Vec<Schedule>) -> Option<JoinHandle<()>> {
    if schedules.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut last: Vec<Millis> = Vec::with_capacity(schedules.len());
        for schedule in &schedules {
            let now = now_ms();
            match schedule.latest_until(now) {
                Some(tick) if fire(&queue, schedule, tick).await => last.push(tick),
                // A tick not stored is tried again by the loop (it is due just after `last`).
                Some(tick) => last.push(tick - 1),
                None => last.push(now),
            }
        }
        loop {
            let now = now_ms();
            let next: Vec<Option<Millis>> = schedules
                .iter()
                .zip(&last)
                .map(|(s, last)| due(s, *last, now))
                .collect();
            let Some(soonest) = next.iter().flatten().min().copied() else {
                return;
            };
            let wait = (soonest - now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let mut refused = false;
            for ((schedule, tick), last) in schedules.iter().zip(&next).zip(last.iter_mut()) {
                if *tick == Some(soonest) {
                    match fire(&queue, schedule, soonest).await {
                        true => *last = soonest,
                        false => refused = true,
                    }
                }
            }
            if refused {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }))
}

/// Dispatches one tick; false when the store could not take it.
async fn fire(queue: &Queue, schedule: &Schedule, tick: Millis) -> bool {
    match schedule.fire(queue, tick).await {
        Ok(Some(id)) => {
            tracing::debug!(target: "rakit_job", "scheduled {} #{id} for its tick at {tick}", schedule.name());
            true
        }
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(target: "rakit_job", "could not dispatch the tick of {} at {tick}: {e}", schedule.name());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticks_key_is_held_past_the_next_tick_however_long_the_period() {
        for expression in ["* * * * * *", "0 3 * * *", "0 0 1 * *", "0 0 1 1 *"] {
            let parts = JobParts {
                name: "report".into(),
                queue: "default".into(),
                payload: serde_json::Value::Null,
                options: crate::JobOptions::DEFAULT,
            };
            let schedule = Schedule::new(expression, None, parts).unwrap();
            let tick = schedule.latest_until(now_ms()).unwrap();
            let period = schedule.next_after(tick).unwrap() - tick;
            assert!(
                schedule.window(tick) > Duration::from_millis(period as u64),
                "a worker restarting before the next tick of {expression:?} would fire this one again"
            );
        }
    }

    fn every_second() -> Schedule {
        let parts = JobParts {
            name: "tick".into(),
            queue: "default".into(),
            payload: serde_json::Value::Null,
            options: crate::JobOptions::DEFAULT,
        };
        Schedule::new("* * * * * *", None, parts).unwrap()
    }

    #[test]
    fn a_scheduler_held_up_for_seconds_dispatches_every_tick_it_missed() {
        let schedule = every_second();
        let last = 1_800_000_000_000;
        let now = last + 3_500;
        assert_eq!(due(&schedule, last, now), Some(last + 1_000));
        assert_eq!(due(&schedule, last + 3_000, now), Some(last + 4_000));
    }

    #[test]
    fn a_scheduler_held_up_for_long_dispatches_only_the_latest_missed_tick() {
        let schedule = every_second();
        let last = 1_800_000_000_000;
        let now = last + 600_500;
        assert_eq!(due(&schedule, last, now), Some(last + 600_000));
        assert_eq!(due(&schedule, last + 600_000, now), Some(last + 601_000));
        let nightly = Schedule::new("0 3 * * *", None, schedule.job.clone()).unwrap();
        let three = nightly.latest_until(now).unwrap();
        let day = 86_400_000;
        assert_eq!(due(&nightly, three - day, three + 10_000), Some(three));
        assert_eq!(due(&nightly, three - day, three + day - 1), Some(three));
        assert_eq!(due(&nightly, three - 3 * day, three + 10_000), Some(three));
    }
}
