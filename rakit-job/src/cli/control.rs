//! Steering the jobs: `job:cancel`, `job:pause`, `job:resume`, and the failed store's
//! `job:retry`, `job:forget`, `job:flush` and `job:prune-failed`.

use super::Failure;
use super::args::Retry;
use super::table::count;
use super::values::{Age, RetryTarget};
use crate::inspect::Cancelled;
use crate::queue::Queue;
use rakit_job_core::{FailedSelect, JobId};
use std::io::Write;

/// `job:cancel ID…`: says what became of each; fails if any id matched no job.
pub(crate) async fn cancel(
    queue: &Queue,
    ids: &[JobId],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut unknown = 0;
    for id in ids {
        match queue.cancel(id).await? {
            Cancelled::Removed => writeln!(out, "{id}: removed and kept as cancelled.")?,
            Cancelled::Requested => {
                writeln!(out, "{id}: running; its worker was asked to stop it.")?
            }
            Cancelled::NotFound => match queue.job(id).await? {
                Some(job) => writeln!(
                    out,
                    "{id}: already {}; nothing to cancel.",
                    job.state.as_str()
                )?,
                None => {
                    unknown += 1;
                    writeln!(out, "{id}: no job has this id.")?;
                }
            },
        }
    }
    if unknown > 0 {
        return Err(Failure::runtime(format!(
            "{} matched no job; `job:jobs` lists the jobs there are",
            count(unknown, "id")
        )));
    }
    Ok(())
}

/// `job:pause QUEUE…`: holds each queue for every worker.
pub(crate) async fn pause(
    queue: &Queue,
    names: &[String],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    for name in names {
        queue.pause(name).await?;
    }
    writeln!(
        out,
        "Paused: {}. Within a second no worker starts a job of {}; running jobs finish and dispatch still works.",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    )?;
    Ok(())
}

/// `job:resume QUEUE…`: releases each paused queue.
pub(crate) async fn resume(
    queue: &Queue,
    names: &[String],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let paused = queue.paused().await?;
    let (resumed, idle): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|name| paused.contains(name));
    for name in &resumed {
        queue.resume(name).await?;
    }
    let list = |names: &[&String]| {
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !resumed.is_empty() {
        writeln!(out, "Resumed: {}.", list(&resumed))?;
    }
    if !idle.is_empty() {
        writeln!(out, "Not paused: {}.", list(&idle))?;
    }
    Ok(())
}

/// `job:retry ID…|all|--queue=Q`: puts failed or cancelled jobs back on their queues,
/// due now with their attempts reset. Every id is checked before any job moves.
pub(crate) async fn retry(
    queue: &Queue,
    options: &Retry,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if let Some(name) = &options.queue {
        let n = queue
            .retry_failed(&FailedSelect::Queue(name.clone()))
            .await?;
        writeln!(
            out,
            "{} of the queue `{name}` put back on it.",
            count(n, "failed job")
        )?;
        return Ok(());
    }
    if options.targets.contains(&RetryTarget::All) {
        if options.targets.len() > 1 {
            return Err(Failure::usage(
                "`job:retry all` takes no ids besides `all`; give ids or `all`",
            ));
        }
        let n = queue.retry_failed(&FailedSelect::All).await?;
        writeln!(out, "{} put back on their queues.", count(n, "failed job"))?;
        return Ok(());
    }
    let ids: Vec<&JobId> = options
        .targets
        .iter()
        .filter_map(|target| match target {
            RetryTarget::One(id) => Some(id),
            RetryTarget::All => None,
        })
        .collect();
    for id in &ids {
        let failed = queue
            .job(id)
            .await?
            .is_some_and(|job| job.state.is_failed());
        if !failed {
            return Err(no_failed_job(id));
        }
    }
    for id in ids {
        if queue.retry_failed(&FailedSelect::One(id.clone())).await? == 0 {
            return Err(no_failed_job(id));
        }
        writeln!(out, "Failed job {id} put back on its queue.")?;
    }
    Ok(())
}

/// `job:forget ID`: deletes one failed or cancelled job.
pub(crate) async fn forget(queue: &Queue, id: &JobId, out: &mut dyn Write) -> Result<(), Failure> {
    if queue.forget_failed(&FailedSelect::One(id.clone())).await? == 0 {
        return Err(no_failed_job(id));
    }
    writeln!(out, "Failed job {id} deleted.")?;
    Ok(())
}

/// An id that names no failed or cancelled job: a usage mistake, as before the listings.
fn no_failed_job(id: &JobId) -> Failure {
    Failure::usage(format!(
        "no failed job has the id {id}; list them with `job:failed`"
    ))
}

/// `job:flush`: deletes every failed and cancelled job.
pub(crate) async fn flush(queue: &Queue, out: &mut dyn Write) -> Result<(), Failure> {
    let n = queue.forget_failed(&FailedSelect::All).await?;
    writeln!(out, "{} deleted.", count(n, "failed job"))?;
    Ok(())
}

/// `job:prune-failed --older-than=AGE`: deletes the failed and cancelled jobs that left
/// their queue longer ago than the age.
pub(crate) async fn prune(queue: &Queue, age: &Age, out: &mut dyn Write) -> Result<(), Failure> {
    let n = queue.prune_failed(age.duration).await?;
    writeln!(
        out,
        "Removed {} that failed more than {} ago.",
        count(n, "failed or cancelled job"),
        age.text
    )?;
    Ok(())
}
