//! Executing one reserved job: find its code, take its locks, run it under its timeout
//! and stop requests, catch its panic, and hand the outcome to the completer.

use super::complete::{Completer, Outcome, Policy};
use super::running::{HeldLock, Stop, StopReason};
use crate::batch_meta::BatchMeta;
use crate::chain::ChainMeta;
use crate::context::{CancelSignal, JobContext};
use crate::dispatch::key_for;
use crate::options::JobOptions;
use crate::registry::{self, BoxJobFuture};
use rakit_job_core::{Lease, LockRequest, Locked, Millis, Reserved, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a job asked to stop (timeout, cancel, lost lease) may take to stop on its own
/// before it is aborted at its next `.await`. At shutdown the worker's grace applies.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs one reserved job to an outcome inside its `run` span; never panics, whatever the
/// job does. Gives the outcome and how long the job held its slot.
pub(crate) async fn run(policy: Policy, reserved: Reserved) -> (Outcome, Duration) {
    let started = Instant::now();
    let job = &reserved.job;
    let observed =
        crate::observe::JobRun::start(&job.name, job.id.as_str(), &job.queue, job.attempts);
    let outcome = handle(policy, reserved).instrument(observed.span()).await;
    observed.end(outcome.label());
    (outcome, started.elapsed())
}

/// How a job's code ended.
enum RunEnd {
    Ok,
    Err { message: String, permanent: bool },
    Cancelled,
    HandedBack,
    LeaseLost,
}

async fn handle(policy: Policy, reserved: Reserved) -> Outcome {
    let Reserved { job, lease } = reserved;
    let entry = registry::find(&job.name);
    let options = entry.map_or(JobOptions::DEFAULT, |e| e.options);
    let done = Completer {
        policy: &policy,
        job: &job,
        lease: &lease,
        max_attempts: options.retries.unwrap_or(policy.retries).saturating_add(1),
        backoff: options.backoff,
    };

    if job.cancelled {
        return done
            .cancelled("cancelled while it ran on a worker that has since stopped")
            .await;
    }
    if job.attempts > done.max_attempts {
        let previous = job
            .last_error
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        return done
            .fail(&format!(
                "gave up after {} attempts: its worker stopped before finishing it{previous}",
                done.max_attempts
            ))
            .await;
    }

    // The chain is read before the run, so a job whose chain cannot be followed fails
    // without running rather than succeeding and losing the rest.
    let (chain, next) = match ChainMeta::read(job.meta.as_deref())
        .and_then(|chain| chain.follow_up().map(|next| (chain.position(), next)))
    {
        Ok(read) => read,
        Err(reason) => return done.fail(&reason).await,
    };
    if let Some(of) = BatchMeta::read(job.meta.as_deref()).callback {
        match crate::batch::claim_callback(&policy.queue, &of, &job.id).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(target: "rakit_job", "{} #{} ends without running: another copy of this batch callback ran", job.name, job.id);
                return done.ack(Vec::new()).await;
            }
            Err(e) => {
                tracing::error!(target: "rakit_job", "could not claim the batch callback {} #{}: {e}; it will run again when its lease expires", job.name, job.id);
                return Outcome::LeaseLost;
            }
        }
    }
    let cancel = CancelSignal::default();
    let ctx = JobContext {
        chain,
        id: job.id.clone(),
        name: job.name.clone(),
        queue_name: job.queue.clone(),
        attempt: job.attempts,
        dispatched_at: job.created_at,
        cancel: cancel.clone(),
        connection: policy
            .queue
            .follow_up_queue()
            .unwrap_or_else(|| policy.queue.clone()),
    };
    let future = match start(&job, entry, ctx) {
        Ok(future) => future,
        Err(reason) => return done.fail(&reason).await,
    };

    let (locks, rate) = match limits_of(&job, &options) {
        Ok(limits) => limits,
        Err(reason) => return done.fail(&reason).await,
    };
    if let Some(until) = take_locks(&policy, &lease, &locks).await {
        return done.release(until).await;
    }
    if let Some(until) = take_rate(&policy, &lease, rate).await {
        free_locks(&policy, &lease, &locks).await;
        return done.release(until).await;
    }
    let stop = Arc::new(Stop::new(cancel));
    policy.running.add(&lease, locks.clone(), stop.clone());
    let end = supervise(&policy, &job.name, future, options.timeout, &stop).await;
    policy.running.remove(&lease);
    free_locks(&policy, &lease, &locks).await;

    match end {
        RunEnd::Ok => done.ack(next.into_iter().collect()).await,
        RunEnd::Err { message, permanent } => done.retry_or_fail(&message, permanent).await,
        RunEnd::Cancelled => done.cancelled("cancelled while it was running").await,
        RunEnd::HandedBack => done.release(now_ms()).await,
        RunEnd::LeaseLost => {
            tracing::warn!(target: "rakit_job", "lost the lease of {} #{}; another worker may run it again", job.name, job.id);
            Outcome::LeaseLost
        }
    }
}

/// The job's code, started: its `#[job]` type, else a legacy listener; the error says why
/// neither can run it.
fn start(
    job: &rakit_job_core::StoredJob,
    entry: Option<&'static registry::JobEntry>,
    ctx: JobContext,
) -> Result<BoxJobFuture, String> {
    if let Some(entry) = entry {
        return entry.start(&job.payload, ctx).map_err(|e| {
            format!(
                "the stored payload does not fit the `{}` job ({}): {e}",
                job.name, entry.type_name
            )
        });
    }
    let Some(listener) = registry::listener(&job.name) else {
        return Err(format!(
            "no job named `{}` is registered in this worker; link the crate that defines it (`use my_jobs as _;`) or register a listener",
            job.name
        ));
    };
    match serde_json::from_str(&job.payload) {
        Ok(value) => Ok(listener(value)),
        Err(e) => Err(format!(
            "the stored payload of `{}` is not JSON: {e}",
            job.name
        )),
    }
}

/// A run's share of a rate limit: one of `count` starts on `key` per `per`.
struct RateShare {
    key: String,
    count: u32,
    per: Duration,
}

/// What a run of this job must hold while it runs — its no-overlap key (one holder) and
/// its running cap (N holders), the same machinery — and the rate-limit share it takes
/// to start. Field keys read the payload; an error says which field is missing.
fn limits_of(
    job: &rakit_job_core::StoredJob,
    options: &JobOptions,
) -> Result<(Vec<HeldLock>, Option<RateShare>), String> {
    let mut locks: Vec<HeldLock> = job
        .overlap_key
        .iter()
        .map(|key| HeldLock {
            key: key.clone(),
            capacity: 1,
        })
        .collect();
    let payload = || serde_json::from_str(&job.payload).unwrap_or(serde_json::Value::Null);
    let key = |rule| match rule {
        crate::options::KeyRule::Field(_) => key_for(rule, &job.name, &payload()),
        rule => key_for(rule, &job.name, &serde_json::Value::Null),
    };
    if let Some(cap) = options.max_running {
        let key = key(cap.key).map_err(|e| e.to_string())?.unwrap_or_default();
        locks.push(HeldLock {
            key: format!("running:{key}"),
            capacity: cap.count,
        });
    }
    let rate = match options.rate_limit {
        Some(rate) => Some(RateShare {
            key: format!(
                "rate:{}",
                key(rate.key)
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default()
            ),
            count: rate.count,
            per: rate.per,
        }),
        None => None,
    };
    Ok((locks, rate))
}

/// How much longer than its window a start's hold lasts: a job begins a moment after its
/// start was taken, and that moment varies, so without the margin two starts a window
/// apart when taken could begin less than a window apart.
const RATE_MARGIN_MS: Millis = 100;

/// Takes one start of the rate limit, a hold that lapses after the window (and a small
/// margin) and is never given back, so no window of that length sees more starts; when
/// every start of the window is taken, says when the earliest lapses (the job waits until
/// then, its attempt not counted).
async fn take_rate(policy: &Policy, lease: &Lease, rate: Option<RateShare>) -> Option<Millis> {
    let rate = rate?;
    let owner = format!("{}@{}", lease.owner(), now_ms());
    let window = i64::try_from(rate.per.as_millis()).unwrap_or(i64::MAX / 2);
    let request = LockRequest {
        key: &rate.key,
        capacity: rate.count,
        owner: &owner,
        ttl_ms: window + RATE_MARGIN_MS.min(window / 10),
    };
    match policy.queue.driver().lock(&request).await {
        Ok(Locked::Taken) => None,
        Ok(Locked::Busy { until }) => Some(until.max(now_ms()) + (lease.token % 100) as Millis),
        Err(e) => {
            tracing::warn!(target: "rakit_job", "cannot take a start of the rate limit `{}`: {e}", rate.key);
            Some(now_ms() + 1000)
        }
    }
}

/// Takes every lock the run needs, each for one lease; on a busy lock, frees those taken
/// and says when to try again.
async fn take_locks(policy: &Policy, lease: &Lease, locks: &[HeldLock]) -> Option<Millis> {
    let store = policy.queue.driver();
    let owner = lease.owner();
    for (i, lock) in locks.iter().enumerate() {
        let request = LockRequest {
            key: &lock.key,
            capacity: lock.capacity,
            owner: &owner,
            ttl_ms: policy.lease_ms,
        };
        let retry_at = match store.lock(&request).await {
            Ok(Locked::Taken) => continue,
            Ok(Locked::Busy { .. }) => now_ms() + overlap_retry_ms(lease),
            Err(e) => {
                tracing::warn!(target: "rakit_job", "cannot take the lock `{}`: {e}", lock.key);
                now_ms() + 1000
            }
        };
        free_locks(policy, lease, &locks[..i]).await;
        return Some(retry_at);
    }
    None
}

async fn free_locks(policy: &Policy, lease: &Lease, locks: &[HeldLock]) {
    let owner = lease.owner();
    for lock in locks {
        if let Err(e) = policy.queue.driver().unlock(&lock.key, &owner).await {
            tracing::warn!(target: "rakit_job", "cannot free the lock `{}`: {e}; it expires with the lease", lock.key);
        }
    }
}

/// Runs the job in its own task (so a panic is caught) until it ends. A stop request (its
/// timeout, a cancel, a lost lease, shutdown) fires the job's cancellation at once; a job
/// still running after the grace is aborted at its next `.await`. It returns only once the
/// job's code has really ended, so the caller holds the lease and locks until then; code
/// that blocks without yielding cannot be stopped, and is reported while it runs on.
async fn supervise(
    policy: &Policy,
    name: &str,
    future: BoxJobFuture,
    timeout: Option<Duration>,
    stop: &Stop,
) -> RunEnd {
    let job: BoxJobFuture = match policy.queue.follow_up_queue() {
        Some(queue) => Box::pin(queue.scope(future)),
        None => future,
    };
    let mut task = tokio::spawn(job.instrument(tracing::Span::current()));
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let grace = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(grace);
    let mut asked: Option<StopReason> = None;
    let mut aborted = false;
    let result = loop {
        tokio::select! {
            result = &mut task => break result,
            _ = &mut deadline, if timeout.is_some() && asked.is_none() => stop.request(StopReason::Timeout),
            reason = stop.requested(), if asked.is_none() => {
                asked = Some(reason);
                let wait = if reason == StopReason::Shutdown { policy.grace } else { STOP_GRACE };
                grace.as_mut().reset(tokio::time::Instant::now() + wait);
            }
            _ = &mut grace, if asked.is_some() => {
                if aborted {
                    tracing::warn!(target: "rakit_job", "{name} still runs {}s after it was asked to stop: its code does not yield (blocking code cannot be stopped); its lease and locks stay held until it returns", STOP_GRACE.as_secs());
                } else {
                    task.abort();
                    aborted = true;
                }
                grace.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
            }
        }
    };
    match (result, stop.reason()) {
        (Ok(Ok(())), Some(StopReason::LeaseLost)) => RunEnd::LeaseLost,
        (Ok(Ok(())), _) => RunEnd::Ok,
        (_, Some(StopReason::Cancelled)) => RunEnd::Cancelled,
        (_, Some(StopReason::LeaseLost)) => RunEnd::LeaseLost,
        (_, Some(StopReason::Shutdown)) => RunEnd::HandedBack,
        (_, Some(StopReason::Timeout)) => RunEnd::Err {
            message: format!(
                "the job timed out after {}",
                humanize(timeout.unwrap_or_default())
            ),
            permanent: false,
        },
        (Ok(Err(e)), None) => RunEnd::Err {
            message: e.message().to_string(),
            permanent: e.is_permanent(),
        },
        (Err(join), None) if join.is_panic() => RunEnd::Err {
            message: format!(
                "the job panicked: {}",
                rakit_job_core::panic_text(join.into_panic())
            ),
            permanent: false,
        },
        (Err(_), None) => RunEnd::Err {
            message: "the job was cancelled".into(),
            permanent: false,
        },
    }
}

/// A short, spread-out wait before a job whose lock is taken is tried again.
fn overlap_retry_ms(lease: &Lease) -> Millis {
    250 + (lease.token % 750) as Millis
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
