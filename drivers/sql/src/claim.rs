//! The claim SQLite and MySQL share: in one write transaction, pick the due jobs queue by
//! queue, in priority order, each select walking the claim index and stopping at the
//! limit (on MySQL, from where the last claim stopped: [`Cursors`]); then lease them all
//! in one `UPDATE`, each with its own token. (PostgreSQL does both in one statement.)

#![cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]

use crate::cursor::{Cursors, Position};
use crate::db::{Arg, Pool, Row, Tx};
use crate::dialect::distinct_queues;
use crate::errors::OpError;
use crate::json_binds::{json_rows, pair};
use crate::rows::stored_job;
use crate::statements::DueFrom;
use crate::store::settle;
use rakit_job_core::{Lease, ReserveRequest, Reserved, StoredJob, now_ms};
use std::sync::Arc;

/// The due time's column in a row of `statements::due`, after the eleven of `JOB_COLUMNS`.
const DUE_COLUMN: usize = 11;

/// A dialect's claim of one jobs table: its selects, and where its last claims stopped.
#[derive(Debug)]
pub(crate) struct PickThenLease {
    /// The jobs table.
    pub jobs: String,
    /// One queue's due jobs (`statements::due`), by [named][`DueFrom`].
    due: [[Arc<str>; 3]; 2],
    /// Where the last claims stopped, when claims start there.
    cursors: Option<Cursors>,
    /// The lease of the picked jobs when it reads them as one JSON array
    /// (`json_binds`; binds: deadline, worker, the `[id, token]` pairs); without it, one
    /// statement per batch size with a `CASE` arm per job (`statements::lease_picked`).
    lease_json: Option<Arc<str>>,
}

impl PickThenLease {
    /// The claim of the jobs table `jobs`; `hint_lock` is what follows the table's name in
    /// its selects and what ends them (`statements::due`), and with `cursors` each claim
    /// starts where the last one stopped; `lease_json` is described at its field.
    pub fn new(
        jobs: &str,
        hint_lock: [&str; 2],
        cursors: bool,
        lease_json: Option<Arc<str>>,
    ) -> Self {
        let due = |named| {
            [DueFrom::Start, DueFrom::SameDueAfter, DueFrom::LaterDue]
                .map(|from| crate::statements::due(jobs, named, from, hint_lock))
        };
        PickThenLease {
            jobs: jobs.to_string(),
            due: [due(false), due(true)],
            cursors: cursors.then(Cursors::default),
            lease_json,
        }
    }

    /// The select of `from`, without a name filter, for tests of its plan.
    #[cfg(all(test, feature = "mysql"))]
    pub fn due_sql(&self, from: DueFrom) -> &Arc<str> {
        &self.due[0][from as usize]
    }

    /// Takes up to `request.limit` due jobs.
    pub async fn claim(
        &self,
        pool: &dyn Pool,
        request: &ReserveRequest<'_>,
    ) -> Result<Vec<Reserved>, OpError> {
        let mut tx = pool.begin().await?;
        let taken = self.claim_in(&mut *tx, request).await;
        let taken = settle(tx, taken).await;
        if let (Err(_), Some(cursors)) = (&taken, &self.cursors) {
            cursors.forget();
        }
        taken
    }

    /// Up to `limit` due jobs of `queue`, after the cursor `after` if given.
    async fn pick(
        &self,
        tx: &mut dyn Tx,
        key: (&str, Option<&str>),
        now: i64,
        limit: usize,
        after: Option<&Position>,
    ) -> Result<Vec<Row>, OpError> {
        let Some(at) = after else {
            return self.select(tx, key, now, limit, DueFrom::Start, &[]).await;
        };
        let due = Arg::Int(at.available_at);
        let same = [due, Arg::Text(&at.id)];
        let mut rows = self
            .select(tx, key, now, limit, DueFrom::SameDueAfter, &same)
            .await?;
        if rows.len() < limit {
            let left = limit - rows.len();
            let later = [due];
            let more = self.select(tx, key, now, left, DueFrom::LaterDue, &later);
            rows.extend(more.await?);
        }
        Ok(rows)
    }

    /// Runs one select of `statements::due`.
    async fn select(
        &self,
        tx: &mut dyn Tx,
        (queue, name): (&str, Option<&str>),
        now: i64,
        limit: usize,
        from: DueFrom,
        from_args: &[Arg<'_>],
    ) -> Result<Vec<Row>, OpError> {
        let mut args = vec![Arg::Text(queue), Arg::Int(now)];
        args.extend(name.map(Arg::Text));
        args.extend_from_slice(from_args);
        args.push(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = &self.due[usize::from(name.is_some())][from as usize];
        Ok(tx.rows(sql, &args).await?)
    }

    /// Up to `limit` due jobs of `key`, through its cursor when it has one; records where
    /// they end.
    async fn pick_queue(
        &self,
        tx: &mut dyn Tx,
        key: (&str, Option<&str>),
        now: i64,
        limit: usize,
    ) -> Result<Vec<Row>, OpError> {
        let Some(cursors) = &self.cursors else {
            return self.pick(tx, key, now, limit, None).await;
        };
        let start = cursors.start(key);
        let mut rows = self.pick(tx, key, now, limit, start.as_ref()).await?;
        let walked = start.is_none() || rows.len() < limit;
        if start.is_some() && rows.len() < limit {
            rows = self.pick(tx, key, now, limit, None).await?;
        }
        let last = match rows.last() {
            Some(row) if rows.len() == limit => Some(Position {
                available_at: row.int(DUE_COLUMN)?,
                id: row.text(0)?,
            }),
            _ => None,
        };
        cursors.record(key, last, walked);
        Ok(rows)
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
            let rows = self
                .pick_queue(tx, (queue, request.name), now, left)
                .await?;
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
        let (deadline, worker) = (Arg::Int(now + request.lease_ms), Arg::Text(request.worker));
        let json;
        let (lease, args) = match &self.lease_json {
            Some(sql) => {
                json = json_rows(&leases, pair);
                (sql.clone(), vec![deadline, worker, Arg::Text(&json)])
            }
            None => {
                let mut args = vec![deadline, deadline, worker];
                args.extend(leases.iter().flat_map(pair));
                args.extend(leases.iter().map(|l| Arg::Text(l.id.as_str())));
                let sql = crate::statements::lease_picked(&self.jobs, leases.len());
                (sql, args)
            }
        };
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
