//! The hot path, written once for every dialect: push, reserve, extend, complete, locks,
//! wait. Plain acks and retries, the claim and renewals go to the dialect's fastest
//! statements; follow-ups, fails and releases share one transaction.

use crate::SqlDriver;
use crate::db::Arg::{Flag, Int, Text};
use crate::db::{Arg, Exec, Tx};
use crate::dialect::Retry;
use crate::errors::{Op, is_duplicate_on};
use crate::rows::{insert_args, insert_columns};
use crate::statements::{BATCH_ROWS, Sql, Take, finish, insert_jobs};
use rakit_job_core::{
    Capabilities, DriverError, Finish, Lease, LeaseState, LockRequest, Locked, Millis, NewJob,
    PushOutcome, ReserveRequest, Reserved, Store, UNSIGNALLED_POLL, now_ms,
};
use std::collections::HashSet;
use std::time::Duration;

/// Commits `tx` when `done` is Ok, else rolls it back at once (not when its connection is
/// next used: a failed write must not keep its locks); returns `done`.
pub(crate) async fn settle<T>(tx: Box<dyn Tx>, done: Op<T>) -> Op<T> {
    match done {
        Ok(value) => Ok(tx.commit().await.map(|()| value)?),
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Takes the row `args` key with `take` when it is free; true when taken.
async fn take(on: &mut dyn Exec, take: &Take, args: &[Arg<'_>]) -> Op<bool> {
    if on.run(&take.first, args).await? == 1 {
        return Ok(true);
    }
    let Some((insert, n)) = &take.insert else {
        return Ok(false);
    };
    match on.run(insert, &args[..*n]).await {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes into `written`, at the places `at`, what a batch statement `done`.
fn scatter(written: &mut [bool], at: &[usize], done: Vec<bool>) {
    for (i, d) in at.iter().zip(done) {
        written[*i] = d;
    }
}

impl SqlDriver {
    /// How long until the next scheduled job or lease of `queues` comes due (a millisecond
    /// past it). [`UNSIGNALLED_POLL`] when that cannot be read, or when a job is due
    /// already: the claim before this wait did not get it, so another worker's claim holds
    /// it (PostgreSQL skips the rows a claim in flight has locked, and this read sees them
    /// as they were) or it is not this worker's to take; a look a second later reads the
    /// lease the other claim wrote rather than sleeping past it.
    async fn until_due(&self, queues: &[String]) -> Duration {
        let now = now_ms();
        let mut next: Option<Millis> = None;
        for queue in queues {
            let read = self.op(|| async {
                let args = [Text(queue)];
                let rows = self.db.pool().rows(&self.sql[Sql::NextDue], &args).await?;
                rows.first().map_or(Ok(None), |row| row.maybe_int(0))
            });
            match read.await {
                Ok(Some(due)) => next = Some(next.map_or(due, |n| n.min(due))),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(target: "rakit_job", "could not read when the next job comes due: {e}");
                    return UNSIGNALLED_POLL;
                }
            }
        }
        match next {
            None => Duration::MAX,
            Some(at) if at <= now => UNSIGNALLED_POLL,
            Some(at) => Duration::from_millis((at - now_ms()).max(0) as u64 + 1),
        }
    }

    /// Refuses, before anything is written, a job no table of this dialect can hold.
    fn check_jobs<'a>(
        &self,
        jobs: impl IntoIterator<Item = &'a NewJob>,
    ) -> Result<(), DriverError> {
        jobs.into_iter()
            .try_for_each(|job| job.check().and_then(|()| self.db.check_job(job)))
    }

    /// Stores `jobs` through `on`: a unique window is checked and taken in the same
    /// transaction as the insert, and workers of other processes are woken on commit.
    pub(crate) async fn store_jobs(
        &self,
        on: &mut dyn Exec,
        jobs: &[NewJob],
    ) -> Op<Vec<PushOutcome>> {
        let outcome = |stored: bool| match stored {
            true => PushOutcome::Stored,
            false => PushOutcome::Duplicate,
        };
        if let [job] = jobs
            && job.unique_for.is_none()
        {
            return Ok(vec![outcome(self.insert_alone(on, job).await?)]);
        }
        let now = now_ms();
        if jobs.iter().any(|job| job.unique_for.is_some()) {
            on.run(&self.sql[Sql::PruneWindows], &[Int(now)]).await?;
        }
        let mut open = Vec::with_capacity(jobs.len());
        for job in jobs {
            let free = match job.unique_for.zip(job.unique_key.as_deref()) {
                Some((ms, key)) => {
                    let window = [Text(key), Int(now + ms), Int(now)];
                    take(on, &self.sql.takes.window, &window).await?
                }
                None => true,
            };
            if free {
                open.push(job);
            }
        }
        let stored = self.insert(on, &open).await?;
        let mut queues: Vec<&str> = open
            .iter()
            .filter(|job| stored.contains(job.id.as_str()))
            .map(|job| job.queue.as_str())
            .collect();
        queues.sort_unstable();
        queues.dedup();
        self.db.wake(on, &queues).await?;
        Ok(jobs
            .iter()
            .map(|job| outcome(stored.contains(job.id.as_str())))
            .collect())
    }

    /// Stores `jobs` in multi-row inserts of up to [`BATCH_ROWS`], adding the ids stored
    /// to `stored`; an insert holding a unique key skips it where it is taken.
    async fn insert_rows(
        &self,
        on: &mut dyn Exec,
        jobs: &[&NewJob],
        stored: &mut HashSet<String>,
    ) -> Op<()> {
        let skip = self.syntax.skip_taken;
        for chunk in jobs.chunks(BATCH_ROWS) {
            let mut args = Vec::with_capacity(chunk.len() * 9);
            chunk.iter().for_each(|job| insert_args(job, &mut args));
            let insert = insert_jobs(&self.tables.jobs, chunk.len());
            // A chunk without a unique key cannot conflict: a plain insert, no ids back.
            let Some(skip) = skip.filter(|_| chunk.iter().any(|job| job.unique_key.is_some()))
            else {
                on.run(&finish(self.syntax, insert), &args).await?;
                stored.extend(chunk.iter().map(|job| job.id.to_string()));
                continue;
            };
            let sql = finish(self.syntax, format!("{insert}{skip} RETURNING id"));
            for row in on.rows(&sql, &args).await? {
                stored.insert(row.text(0)?);
            }
        }
        Ok(())
    }

    /// Stores one job with the dialect's statement for one; false when its unique key is
    /// taken.
    async fn insert_alone(&self, on: &mut dyn Exec, job: &NewJob) -> Op<bool> {
        let mut args = Vec::with_capacity(9);
        insert_args(job, &mut args);
        match on.run(&self.sql.insert_one, &args).await {
            Ok(n) => Ok(n == 1),
            Err(e) if is_duplicate_on(&e, &self.tables.unique_index()) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `jobs` in multi-row inserts of up to [`BATCH_ROWS`], or in one insert of
    /// arrays where the dialect has them, and returns the ids stored. Where the dialect
    /// can, an insert skips the jobs whose unique key is taken; elsewhere (MySQL) the jobs
    /// with a unique key go one by one.
    async fn insert(&self, on: &mut dyn Exec, jobs: &[&NewJob]) -> Op<HashSet<String>> {
        let skip = self.syntax.skip_taken;
        let (alone, batched): (Vec<&NewJob>, Vec<&NewJob>) = jobs.iter().partition(|job| {
            skip.is_none() && job.unique_key.is_some() && job.unique_for.is_none()
        });
        let mut stored = HashSet::with_capacity(jobs.len());
        match &self.sql.insert_arrays {
            Some(_) if batched.is_empty() => {}
            // Where the dialect binds arrays, the whole batch is one statement.
            Some(arrays) => {
                let columns = insert_columns(&batched);
                if batched.iter().any(|job| job.unique_key.is_some()) {
                    for row in on.rows_of_arrays(&arrays.skipping, columns).await? {
                        stored.insert(row.text(0)?);
                    }
                } else {
                    on.rows_of_arrays(&arrays.plain, columns).await?;
                    stored.extend(batched.iter().map(|job| job.id.to_string()));
                }
            }
            None => self.insert_rows(on, &batched, &mut stored).await?,
        }
        for job in alone {
            if self.insert_alone(on, job).await? {
                stored.insert(job.id.to_string());
            }
        }
        Ok(stored)
    }

    /// Writes the final outcomes that take a transaction (follow-ups, fails, releases);
    /// per item whether its lease was current. A job handed back wakes its queue's idle
    /// workers when it is due now, or, where they wait for due times, whenever.
    async fn finish_in(&self, tx: &mut dyn Tx, finished: &[&Finish]) -> Op<Vec<bool>> {
        let now = now_ms();
        let due_waits = self.syntax.capabilities.wakes_when_due;
        let (mut written, mut woken) = (Vec::with_capacity(finished.len()), Vec::new());
        for finish in finished {
            let lease = finish.lease();
            let (id, token) = (Text(lease.id.as_str()), Int(lease.token as i64));
            let done = match finish {
                Finish::Ack { then, .. } => {
                    let acked = tx.run(&self.sql[Sql::DeleteHeld], &[id, token]).await? == 1;
                    if acked && !then.is_empty() {
                        self.store_jobs(tx, then).await?;
                    }
                    acked
                }
                Finish::Retry {
                    available_at,
                    error,
                    ..
                } => {
                    let args = [Int(*available_at), Text(error), id, token];
                    let retried = tx.run(&self.sql[Sql::Retry], &args).await? == 1;
                    if retried && due_waits {
                        woken.push(lease.queue.as_str());
                    }
                    retried
                }
                Finish::Fail {
                    error, cancelled, ..
                } => {
                    let args = [Text(error), Int(now), Flag(*cancelled), id, token];
                    let failed = tx.run(&self.sql[Sql::FailHeld], &args).await? > 0;
                    if failed {
                        tx.run(&self.sql[Sql::DeleteHeld], &[id, token]).await?;
                    }
                    failed
                }
                Finish::Release { available_at, .. } => {
                    let args = [Int(*available_at), id, token];
                    let released = tx.run(&self.sql[Sql::Release], &args).await? == 1;
                    if released && (*available_at <= now || due_waits) {
                        woken.push(lease.queue.as_str());
                    }
                    released
                }
            };
            written.push(done);
        }
        woken.sort_unstable();
        woken.dedup();
        self.db.wake(tx, &woken).await?;
        Ok(written)
    }

    /// Takes or renews a slot of a capacity lock. One slot is tried at once; otherwise
    /// the live holds tell which slot is ours or free. Losing a slot to another asker
    /// means it is taken now, so a few rounds settle it.
    async fn lock_once(&self, request: &LockRequest<'_>) -> Op<Locked> {
        let capacity = i64::from(request.capacity.max(1));
        let now = now_ms();
        let (key, owner, until) = (
            Text(request.key),
            Text(request.owner),
            Int(now + request.ttl_ms),
        );
        let mut guess = (capacity == 1).then_some(0);
        for _ in 0..2 * capacity + 2 {
            if let Some(slot) = guess {
                let mut conn = self.db.pool().acquire().await?;
                let hold = [key, Int(slot), owner, until, Int(now)];
                if take(&mut *conn, &self.sql.takes.slot, &hold).await? {
                    return Ok(Locked::Taken);
                }
            }
            let mut live = Vec::new();
            for row in self
                .db
                .pool()
                .rows(&self.sql[Sql::Holders], &[key, Int(now)])
                .await?
            {
                let slot = row.int(0)?;
                if slot < capacity {
                    live.push((slot, row.text(1)?, row.int(2)?));
                }
            }
            let mine = live
                .iter()
                .find(|held| held.1 == request.owner)
                .map(|held| held.0);
            guess = mine.or_else(|| (0..capacity).find(|s| !live.iter().any(|held| held.0 == *s)));
            if guess.is_none() {
                let until = live.iter().map(|held| held.2).min().unwrap_or(now);
                return Ok(Locked::Busy { until });
            }
        }
        Ok(Locked::Busy { until: now })
    }
}

#[async_trait::async_trait]
impl Store for SqlDriver {
    fn describe(&self) -> String {
        self.store.clone()
    }

    fn capabilities(&self) -> Capabilities {
        self.syntax.capabilities
    }

    async fn check(&self) -> Result<(), DriverError> {
        for probe in self.sql.probes() {
            self.rows(probe, &[]).await?;
        }
        Ok(())
    }

    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        self.check_jobs(&jobs)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let alone = jobs.len() == 1 && jobs[0].unique_for.is_none();
        self.op(|| async {
            // One statement is atomic by itself; a batch is one transaction.
            if alone {
                return self
                    .store_jobs(&mut *self.db.pool().acquire().await?, &jobs)
                    .await;
            }
            let mut tx = self.db.pool().begin().await?;
            let stored = self.store_jobs(&mut *tx, &jobs).await;
            settle(tx, stored).await
        })
        .await
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        if request.limit == 0 || request.queues.is_empty() {
            return Ok(Vec::new());
        }
        self.op(|| self.db.reserve(request)).await
    }

    async fn extend(&self, leases: &[Lease], ms: Millis) -> Result<Vec<LeaseState>, DriverError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = now_ms() + ms;
        let held = self.op(|| self.db.extend(leases, deadline)).await?;
        Ok(leases
            .iter()
            .map(|lease| match held.get(lease.id.as_str()) {
                Some(true) => LeaseState::Cancelled,
                Some(false) => LeaseState::Held,
                None => LeaseState::Lost,
            })
            .collect())
    }

    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        self.check_jobs(finished.iter().flat_map(|f| match f {
            Finish::Ack { then, .. } => then.as_slice(),
            _ => &[],
        }))?;
        // Plain acks and retries take the dialect's batch statements; the rest one
        // transaction.
        let kind = |f: &Finish| match f {
            Finish::Ack { then, .. } if then.is_empty() => 0,
            Finish::Retry { .. } => 1,
            _ => 2,
        };
        let at = |k| {
            (0..finished.len())
                .filter(|&i| kind(&finished[i]) == k)
                .collect()
        };
        let (acks, retries, rest): (Vec<usize>, Vec<usize>, Vec<usize>) = (at(0), at(1), at(2));
        let mut written = vec![false; finished.len()];
        if !acks.is_empty() {
            let leases: Vec<&Lease> = acks.iter().map(|&i| finished[i].lease()).collect();
            scatter(&mut written, &acks, self.op(|| self.db.ack(&leases)).await?);
        }
        if !retries.is_empty() {
            let batch: Vec<Retry> = retries
                .iter()
                .filter_map(|&i| Retry::of(&finished[i]))
                .collect();
            scatter(
                &mut written,
                &retries,
                self.op(|| self.db.retry(&batch)).await?,
            );
        }
        if !rest.is_empty() {
            let batch: Vec<&Finish> = rest.iter().map(|&i| &finished[i]).collect();
            let done = self.op(|| async {
                let mut tx = self.db.pool().begin().await?;
                let done = self.finish_in(&mut *tx, &batch).await;
                settle(tx, done).await
            });
            scatter(&mut written, &rest, done.await?);
        }
        Ok(written)
    }

    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        self.db.check_key("lock key", request.key)?;
        self.db.check_key("lock owner", request.owner)?;
        self.op(|| self.lock_once(request)).await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        self.run(&self.sql[Sql::Unlock], &[Text(key), Text(owner)])
            .await
            .map(drop)
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let timeout = match self.syntax.capabilities.wakes_when_due {
            true => timeout.min(self.until_due(queues).await),
            false => timeout,
        };
        self.db.wait(queues, timeout).await;
        Ok(())
    }
}
