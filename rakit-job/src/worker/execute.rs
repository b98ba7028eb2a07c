//! Executing one reserved job: find its code, hold its no-overlap lock, keep its lease
//! alive, enforce its timeout, catch its panic, and hand the outcome to `complete`.

use super::complete;
use crate::context::{CancelSignal, JobContext};
use crate::job::JobOptions;
use crate::queue::Queue;
use crate::registry::{self, BoxJobFuture};
use rakit_job_core::{Lease, Millis, Reserved, now_ms};
use std::time::Duration;
use tracing::Instrument;

/// The worker-wide settings a job run needs.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) queue: Queue,
    pub(crate) retries: u32,
    pub(crate) sleep: Duration,
    pub(crate) lease_ms: Millis,
    pub(crate) logging: bool,
    pub(crate) acker: complete::Acker,
}

/// What became of a reserved job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    Retried,
    Failed,
    Released,
    LeaseLost,
}

/// How a job's run ended, before it is written back.
pub(crate) enum RunEnd {
    Ok,
    Err { message: String, permanent: bool },
    HandedBack,
    LeaseLost,
}

impl Outcome {
    /// The outcome's name in spans and metrics.
    fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Released => "released",
            Outcome::LeaseLost => "lease_lost",
        }
    }
}

/// Runs one reserved job to an outcome inside its `run` span; never panics, whatever the job does.
pub(crate) async fn run(policy: Policy, reserved: Reserved, hand_back: CancelSignal) -> Outcome {
    let job = &reserved.job;
    let observed =
        crate::observe::JobRun::start(&job.name, job.id.as_str(), &job.queue, job.attempts);
    let outcome = handle(policy, reserved, hand_back)
        .instrument(observed.span())
        .await;
    observed.end(outcome.label());
    outcome
}

async fn handle(policy: Policy, reserved: Reserved, hand_back: CancelSignal) -> Outcome {
    let Reserved { job, lease } = reserved;
    let entry = registry::find(&job.name);
    let options = entry.map_or(JobOptions::DEFAULT, |e| e.options);
    let max_attempts = options.retries.unwrap_or(policy.retries).saturating_add(1);
    let done = complete::Completer {
        policy: &policy,
        job: &job,
        lease: &lease,
        max_attempts,
        backoff: options.backoff,
    };

    if job.attempts > max_attempts {
        let previous = job
            .last_error
            .as_deref()
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        return done
            .fail(&format!(
                "gave up after {} attempts: its worker stopped before finishing it{previous}",
                max_attempts
            ))
            .await;
    }

    let ctx = JobContext {
        id: job.id.clone(),
        name: job.name.clone(),
        queue_name: job.queue.clone(),
        attempt: job.attempts,
        dispatched_at: job.created_at,
        cancel: CancelSignal::default(),
        queue: policy.queue.clone(),
    };
    let started: Result<BoxJobFuture, String> = match (
        entry,
        entry
            .is_none()
            .then(|| registry::listener(&job.name))
            .flatten(),
    ) {
        (Some(entry), _) => entry.start(&job.payload, ctx.clone()).map_err(|e| {
            format!(
                "the stored payload does not fit the `{}` job ({}): {e}",
                job.name, entry.type_name
            )
        }),
        (None, Some(listener)) => match serde_json::from_str(&job.payload) {
            Ok(value) => Ok(listener(value)),
            Err(e) => Err(format!(
                "the stored payload of `{}` is not JSON: {e}",
                job.name
            )),
        },
        (None, None) => Err(format!(
            "no job named `{}` is registered in this worker; link the crate that defines it (`use my_jobs as _;`) or register a listener",
            job.name
        )),
    };
    let future = match started {
        Ok(future) => future,
        Err(reason) => return done.fail(&reason).await,
    };

    let owner = lease.owner();
    if let Some(key) = &job.overlap_key {
        match policy
            .queue
            .driver()
            .lock(key, &owner, policy.lease_ms)
            .await
        {
            Ok(true) => {}
            Ok(false) => return done.release(now_ms() + overlap_retry_ms(&lease)).await,
            Err(e) => {
                tracing::warn!(target: "rakit_job", "cannot take the no-overlap lock of {}: {e}", job.name);
                return done.release(now_ms() + 1000).await;
            }
        }
    }

    let end = supervise(
        &policy,
        &lease,
        job.overlap_key.as_deref(),
        &ctx,
        future,
        options.timeout,
        &hand_back,
    )
    .await;

    if let Some(key) = &job.overlap_key
        && let Err(e) = policy.queue.driver().unlock(key, &owner).await
    {
        tracing::warn!(target: "rakit_job", "cannot free the no-overlap lock of {}: {e}; it expires with the lease", job.name);
    }
    match end {
        RunEnd::Ok => done.ack().await,
        RunEnd::Err { message, permanent } => done.retry_or_fail(&message, permanent).await,
        RunEnd::HandedBack => done.release(now_ms()).await,
        RunEnd::LeaseLost => {
            tracing::warn!(target: "rakit_job", "lost the lease of {} #{}; another worker may run it again", job.name, job.id);
            Outcome::LeaseLost
        }
    }
}

/// Runs the job in its own task (so a panic is caught), renewing its lease and lock
/// every third of the lease, until it ends, times out, or is handed back.
async fn supervise(
    policy: &Policy,
    lease: &Lease,
    overlap_key: Option<&str>,
    ctx: &JobContext,
    future: BoxJobFuture,
    timeout: Option<Duration>,
    hand_back: &CancelSignal,
) -> RunEnd {
    let job =
        crate::testing::keep_in_fake(&policy.queue, future).instrument(tracing::Span::current());
    let mut task = tokio::spawn(job);
    let renew_every = Duration::from_millis((policy.lease_ms / 3).max(1) as u64);
    let mut renew =
        tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(deadline);
    let driver = policy.queue.driver();
    let end = loop {
        tokio::select! {
            result = &mut task => break match result {
                Ok(Ok(())) => RunEnd::Ok,
                Ok(Err(e)) => RunEnd::Err { message: e.message().to_string(), permanent: e.is_permanent() },
                Err(join) if join.is_panic() => RunEnd::Err { message: format!("the job panicked: {}", panic_text(join.into_panic())), permanent: false },
                Err(_) => RunEnd::Err { message: "the job was cancelled".into(), permanent: false },
            },
            _ = &mut deadline, if timeout.is_some() => {
                break RunEnd::Err {
                    message: format!("the job timed out after {}", humanize(timeout.unwrap_or_default())),
                    permanent: false,
                };
            }
            _ = hand_back.cancelled() => break RunEnd::HandedBack,
            _ = renew.tick() => {
                match driver.extend(lease, policy.lease_ms).await {
                    Ok(true) => {}
                    Ok(false) => break RunEnd::LeaseLost,
                    Err(e) => tracing::warn!(target: "rakit_job", "cannot renew the lease of {}: {e}", ctx.name()),
                }
                if let Some(key) = overlap_key
                    && let Err(e) = driver.lock(key, &lease.owner(), policy.lease_ms).await
                {
                    tracing::warn!(target: "rakit_job", "cannot renew the no-overlap lock of {}: {e}", ctx.name());
                }
            }
        }
    };
    if !task.is_finished() {
        ctx.cancel.cancel();
        task.abort();
    }
    end
}

/// A short, spread-out wait before a job whose no-overlap key is taken is tried again.
fn overlap_retry_ms(lease: &Lease) -> Millis {
    250 + (lease.token % 750) as Millis
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
