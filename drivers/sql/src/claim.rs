//! The claim SQLite and MySQL share: in one write transaction, pick the due jobs queue by
//! queue, in priority order, each select walking the claim index and stopping at the
//! limit; then lease them all in one `UPDATE`, each with its own token. (PostgreSQL does
//! both in one statement.)

#![cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]

use crate::db::{Arg, Pool, Tx};
use crate::errors::OpError;
use crate::rows::stored_job;
use crate::store::settle;
use rakit_job_core::{Lease, ReserveRequest, Reserved, StoredJob, now_ms};
use std::sync::Arc;

/// A dialect's two claim statements for one jobs table.
#[derive(Debug)]
pub(crate) struct PickThenLease {
    /// The jobs table.
    pub jobs: String,
    /// One queue's due jobs (`statements::due`).
    pub due: Arc<str>,
    /// One queue's due jobs of one name.
    pub due_named: Arc<str>,
}

/// The requested queues in priority order, each once.
pub(crate) fn distinct_queues<'a>(request: &'a ReserveRequest<'a>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::with_capacity(request.queues.len());
    for q in request.queues {
        if !out.contains(&q.as_str()) {
            out.push(q);
        }
    }
    out
}

impl PickThenLease {
    /// Takes up to `request.limit` due jobs.
    pub async fn claim(
        &self,
        pool: &dyn Pool,
        request: &ReserveRequest<'_>,
    ) -> Result<Vec<Reserved>, OpError> {
        let mut tx = pool.begin().await?;
        let taken = self.claim_in(&mut *tx, request).await;
        settle(tx, taken).await
    }

    async fn claim_in(
        &self,
        tx: &mut dyn Tx,
        request: &ReserveRequest<'_>,
    ) -> Result<Vec<Reserved>, OpError> {
        let now = now_ms();
        let mut picked: Vec<StoredJob> = Vec::new();
        for queue in distinct_queues(request) {
            let left = request.limit.saturating_sub(picked.len());
            if left == 0 {
                break;
            }
            let left = Arg::Int(i64::try_from(left).unwrap_or(i64::MAX));
            let rows = match request.name {
                Some(name) => {
                    let args = [Arg::Text(queue), Arg::Int(now), Arg::Text(name), left];
                    tx.rows(&self.due_named, &args).await?
                }
                None => {
                    let args = [Arg::Text(queue), Arg::Int(now), left];
                    tx.rows(&self.due, &args).await?
                }
            };
            for row in rows {
                picked.push(stored_job(&*row)?);
            }
        }
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let leases: Vec<Lease> = picked
            .iter()
            .map(|job| Lease::new(job.id.clone(), &job.queue))
            .collect();
        let deadline = Arg::Int(now + request.lease_ms);
        let mut args = vec![deadline, deadline, Arg::Text(request.worker)];
        for lease in &leases {
            args.extend([Arg::Text(lease.id.as_str()), Arg::Int(lease.token as i64)]);
        }
        args.extend(leases.iter().map(|l| Arg::Text(l.id.as_str())));
        let lease = crate::statements::lease_picked(&self.jobs, leases.len());
        tx.run(&lease, &args).await?;
        Ok(picked
            .into_iter()
            .zip(leases)
            .map(|(mut job, lease)| {
                job.attempts = job.attempts.saturating_add(1);
                Reserved { job, lease }
            })
            .collect())
    }
}
