//! Upkeep: every third of the lease, one batched renewal of every running job's lease (and
//! the locks it holds), and the worker's heartbeat. A renewal that finds a job cancelled or
//! its lease lost asks that job to stop.

use super::complete::Policy;
use super::running::StopReason;
use crate::inspect::WorkerInfo;
use rakit_job_core::{Lease, LeaseState, LockRequest, Locked, WORKERS, now_ms};
use std::time::Duration;
use tokio::task::JoinHandle;

/// The upkeep task of one worker.
pub(crate) struct Upkeep {
    task: JoinHandle<()>,
    policy: Policy,
}

impl Upkeep {
    /// Announces the worker and starts renewing; `info` is what the heartbeat says.
    pub(crate) async fn start(policy: Policy, info: WorkerInfo) -> Upkeep {
        beat(&policy, &info).await;
        let every = Duration::from_millis((policy.lease_ms / 3).max(1) as u64);
        let task = tokio::spawn({
            let policy = policy.clone();
            async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    renew(&policy).await;
                    beat(&policy, &info).await;
                }
            }
        });
        Upkeep { task, policy }
    }

    /// Stops renewing and takes the worker's heartbeat out of the store.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let store = self.policy.queue.driver();
        if let Err(e) = store.remove_entry(WORKERS, &self.policy.worker).await {
            tracing::debug!(target: "rakit_job", "could not remove the worker's heartbeat: {e}");
        }
    }
}

/// Renews every running job's lease in one call, then the locks each holds; a job found
/// cancelled or without its lease is asked to stop. Locks are renewed while the job's code
/// runs whatever its lease says, so no second run of its key can start beside it.
async fn renew(policy: &Policy) {
    let jobs = policy.running.snapshot();
    if jobs.is_empty() {
        return;
    }
    let store = policy.queue.driver();
    let leases: Vec<Lease> = jobs.iter().map(|j| j.lease.clone()).collect();
    match store.extend(&leases, policy.lease_ms).await {
        Ok(states) => {
            for (job, state) in jobs.iter().zip(states) {
                match state {
                    LeaseState::Held => {}
                    LeaseState::Cancelled => job.stop.request(StopReason::Cancelled),
                    LeaseState::Lost => job.stop.request(StopReason::LeaseLost),
                }
            }
        }
        Err(e) => {
            tracing::warn!(target: "rakit_job", "cannot renew the leases of {} running job(s): {e}", jobs.len())
        }
    }
    for job in &jobs {
        let owner = job.lease.owner();
        for lock in &job.locks {
            let request = LockRequest {
                key: &lock.key,
                capacity: lock.capacity,
                owner: &owner,
                ttl_ms: policy.lease_ms,
            };
            match store.lock(&request).await {
                Ok(Locked::Taken) => {}
                Ok(Locked::Busy { .. }) => {
                    tracing::warn!(target: "rakit_job", "job #{} lost its hold on `{}` (its lock expired before it was renewed)", job.lease.id, lock.key)
                }
                Err(e) => {
                    tracing::warn!(target: "rakit_job", "cannot renew the lock `{}` of job #{}: {e}", lock.key, job.lease.id)
                }
            }
        }
    }
}

/// Writes the worker's heartbeat: it lives for two leases, so a worker that died without
/// a word disappears from `job:workers` within two leases.
async fn beat(policy: &Policy, info: &WorkerInfo) {
    let (done, failed) = policy.counters.get();
    let info = WorkerInfo {
        running: policy.running.len(),
        done,
        failed,
        last_seen: now_ms(),
        ..info.clone()
    };
    let text = serde_json::to_string(&info).unwrap_or_default();
    let store = policy.queue.driver();
    if let Err(e) = store
        .put_entry(WORKERS, &policy.worker, &text, Some(2 * policy.lease_ms))
        .await
    {
        tracing::debug!(target: "rakit_job", "could not write the worker's heartbeat: {e}");
    }
}
