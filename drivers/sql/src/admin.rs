//! Seeing and steering, written once for every dialect: counts, keyset listings, cancel,
//! the failed store, control entries and throughput.
//!
//! A listing walks one queue at a time along an index, `(queue, available_at, id)` for
//! the jobs table and `(queue, cancelled, failed_at, id)` for the failed one, so it never
//! sorts and never skips rows with `OFFSET`; without a queue filter it moves on to the
//! next queue (`MIN(queue) WHERE queue > ?`, one index probe). Its cursor is the last row's
//! queue, position and id, sealed with a checksum of the store and the query.

use crate::SqlDriver;
use crate::db::Arg::{Flag, Int, MaybeInt, MaybeText, Text};
use crate::db::{Arg, ReadRow, Tx};
use crate::errors::Op;
use crate::rows::job_info;
use crate::statements::{BATCH_ROWS, Sql};
use crate::store::settle;
use rakit_job_core::{
    Admin, CancelOutcome, DriverError, FailedSelect, JobId, JobInfo, JobPage, JobQuery, Millis,
    MinuteCount, QueueStats, State, now_ms, validate_queue,
};
use std::collections::{BTreeMap, BTreeSet};

/// How long throughput counts are kept.
const KEEP_THROUGHPUT: Millis = 3 * 3_600_000;

/// Where a listing page ended: after this job, in its queue, at this position.
#[derive(Clone)]
struct Cursor {
    queue: String,
    at: Millis,
    id: String,
}

impl Cursor {
    fn after(job: &JobInfo) -> Cursor {
        let at = job
            .failed_at
            .or(job.lease_until)
            .or(job.due_at)
            .unwrap_or_default();
        Cursor {
            queue: job.queue.clone(),
            at,
            id: job.id.to_string(),
        }
    }

    fn write(&self, query: &JobQuery, table: &str) -> String {
        let body = format!("{}.{}.{}", self.queue, self.at, self.id);
        format!("{body}.{:016x}", seal(query, table, &body))
    }

    /// Reads a cursor this store gave for `query`; anything else is refused.
    fn read(text: &str, query: &JobQuery, table: &str) -> Result<Cursor, DriverError> {
        let refused = || {
            let shown: String = text.chars().take(60).collect();
            DriverError::Invalid(format!(
                "{shown:?} is not a cursor of this listing; list from the first page again"
            ))
        };
        let (body, check) = text.rsplit_once('.').ok_or_else(refused)?;
        let mut parts = body.splitn(3, '.');
        let (Some(queue), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(refused());
        };
        let sealed = format!("{:016x}", seal(query, table, body)) == check;
        match (sealed, validate_queue(queue), at.parse(), JobId::parse(id)) {
            (true, Ok(()), Ok(at), Ok(id)) => Ok(Cursor {
                queue: queue.to_string(),
                at,
                id: id.to_string(),
            }),
            _ => Err(refused()),
        }
    }
}

/// A checksum (FNV-1a) of a cursor's text with its store and query: a cursor edited by
/// hand, or given by another listing, does not match.
fn seal(query: &JobQuery, table: &str, body: &str) -> u64 {
    let (state, queue, name) = (query.state.as_str(), &query.queue, &query.name);
    let text = format!("{table}|{state}|{queue:?}|{name:?}|{body}");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The failed jobs `which` selects: the statements that lock and that delete them, and
/// their bind.
fn which_failed(which: &FailedSelect) -> (Sql, Sql, Vec<Arg<'_>>) {
    match which {
        FailedSelect::One(id) => (Sql::FailedIdsOne, Sql::ForgetOne, vec![Text(id.as_str())]),
        FailedSelect::Queue(q) => (Sql::FailedIdsQueue, Sql::ForgetQueue, vec![Text(q)]),
        FailedSelect::All => (Sql::FailedIdsAll, Sql::ForgetAll, Vec::new()),
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// An entry row's value (value, expires_at), unless it ran out by `now`.
fn live_value(row: Option<&dyn ReadRow>, now: Millis) -> Op<Option<String>> {
    let Some(row) = row else { return Ok(None) };
    let live = row.maybe_int(1)?.is_none_or(|until| until > now);
    Ok(if live { Some(row.text(0)?) } else { None })
}

impl SqlDriver {
    /// Swaps an entry inside `tx`, its row locked while it is compared. Two creations of
    /// the same key meet on its primary key: the later one is refused.
    async fn swap_in(
        &self,
        tx: &mut dyn Tx,
        [kind, key]: [&str; 2],
        expected: Option<&str>,
        value: &str,
    ) -> Op<bool> {
        let rows = tx
            .rows(&self.sql[Sql::EntryToSwap], &[Text(kind), Text(key)])
            .await?;
        let row = rows.first().map(|r| &**r);
        if live_value(row, now_ms())?.as_deref() != expected {
            return Ok(false);
        }
        if row.is_some() {
            // The row is locked (SQLite: the file), so it is ours to set; MySQL counts an
            // unchanged row as not affected, so the count is not the answer.
            let args = [Text(value), Text(kind), Text(key)];
            tx.run(&self.sql[Sql::SetEntry], &args).await?;
            return Ok(true);
        }
        let args = [Text(kind), Text(key), Text(value)];
        match tx.run(&self.sql[Sql::AddEntry], &args).await {
            Ok(added) => Ok(added == 1),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The first queue after `after` holding a row, as `next` finds it (in the jobs or
    /// the failed table).
    async fn next_queue(&self, next: Sql, after: &str) -> Op<Option<String>> {
        let rows = self.db.pool().rows(&self.sql[next], &[Text(after)]).await?;
        rows.first().map_or(Ok(None), |row| row.maybe_text(0))
    }

    /// Ready, scheduled and reserved jobs per queue, in one grouped pass over the table.
    async fn counts_grouped(&self, now: Arg<'_>) -> Op<BTreeMap<String, QueueStats>> {
        let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
        let rows = self
            .db
            .pool()
            .rows(&self.sql[Sql::StatsJobs], &[now, now, now])
            .await?;
        for row in rows {
            let s = by_queue.entry(row.text(0)?).or_default();
            s.ready += count(row.int(1)?);
            s.scheduled += count(row.int(2)?);
            s.reserved += count(row.int(3)?);
        }
        Ok(by_queue)
    }

    /// The same counts queue by queue along the claim index: a backlog of ready jobs is
    /// counted from the index, and only the rows due later are read.
    async fn counts_per_queue(&self, now: Arg<'_>) -> Op<BTreeMap<String, QueueStats>> {
        let mut by_queue: BTreeMap<String, QueueStats> = BTreeMap::new();
        let mut after = String::new();
        while let Some(queue) = self.next_queue(Sql::NextQueue, &after).await? {
            let args = [Text(queue.as_str()), now];
            let ready = self
                .db
                .pool()
                .rows(&self.sql[Sql::StatsReady], &args)
                .await?;
            let later = self
                .db
                .pool()
                .rows(&self.sql[Sql::StatsLater], &args)
                .await?;
            let s = by_queue.entry(queue.clone()).or_default();
            if let Some(row) = ready.first() {
                s.ready = count(row.int(0)?);
            }
            if let Some(row) = later.first() {
                s.scheduled = count(row.int(0)?);
                s.reserved = count(row.int(1)?);
            }
            after = queue;
        }
        Ok(by_queue)
    }

    async fn page(&self, query: &JobQuery, cursor: Option<Cursor>) -> Op<JobPage> {
        let now = now_ms();
        let limit = query.limit.max(1);
        let (list, next, state) = match query.state {
            State::Pending => (Sql::ListPending, Sql::NextQueue, Int(now)),
            State::Scheduled => (Sql::ListScheduled, Sql::NextQueue, Int(now)),
            State::Running => (Sql::ListRunning, Sql::NextQueue, Int(now)),
            State::Failed => (Sql::ListFailed, Sql::NextFailedQueue, Flag(false)),
            State::Cancelled => (Sql::ListFailed, Sql::NextFailedQueue, Flag(true)),
        };
        let mut queue = match (&cursor, &query.queue) {
            (Some(c), _) => Some(c.queue.clone()),
            (None, Some(q)) => Some(q.clone()),
            (None, None) => self.next_queue(next, "").await?,
        };
        let (mut at, mut id) = cursor.map_or((Millis::MIN, String::new()), |c| (c.at, c.id));
        let mut jobs = Vec::new();
        while let Some(q) = queue {
            let want = Int((limit + 1 - jobs.len()) as i64);
            let name = MaybeText(query.name.as_deref());
            let args = [Text(&q), state, name, Int(at), Int(at), Text(&id), want];
            for row in self.db.pool().rows(&self.sql[list], &args).await? {
                jobs.push(job_info(&*row, now, next == Sql::NextFailedQueue)?);
            }
            if jobs.len() > limit || query.queue.is_some() {
                break;
            }
            queue = self.next_queue(next, &q).await?;
            (at, id) = (Millis::MIN, String::new());
        }
        let more = jobs.len() > limit;
        jobs.truncate(limit);
        let next = jobs.last().filter(|_| more);
        let next = next.map(|last| Cursor::after(last).write(query, &self.tables.jobs));
        Ok(JobPage { jobs, next })
    }

    /// Cancels a job: a running one gets its flag, a waiting one moves to the failed table
    /// as cancelled. The row is locked first, so a claim either took it before (and the
    /// job is running) or skips it.
    async fn cancel_in(&self, tx: &mut dyn Tx, id: &JobId) -> Op<CancelOutcome> {
        let now = now_ms();
        let id = Text(id.as_str());
        let rows = tx.rows(&self.sql[Sql::LockJob], &[id]).await?;
        let Some(row) = rows.first() else {
            return Ok(CancelOutcome::NotFound);
        };
        if row.maybe_int(1)?.is_some() && row.int(0)? > now {
            tx.run(&self.sql[Sql::FlagCancel], &[id]).await?;
            return Ok(CancelOutcome::Requested);
        }
        let copy = [Text("cancelled"), Int(now), Flag(true), id];
        tx.run(&self.sql[Sql::FailAny], &copy).await?;
        tx.run(&self.sql[Sql::DeleteJob], &[id]).await?;
        Ok(CancelOutcome::Removed)
    }

    /// Puts the selected failed jobs back, locked first so none is lost or doubled.
    async fn unfail_in(&self, tx: &mut dyn Tx, which: &FailedSelect) -> Op<u64> {
        let (lock, _, args) = which_failed(which);
        let (mut ids, mut queues) = (Vec::new(), BTreeSet::new());
        for row in tx.rows(&self.sql[lock], &args).await? {
            ids.push(row.text(0)?);
            queues.insert(row.text(1)?);
        }
        let now = now_ms();
        for chunk in ids.chunks(BATCH_ROWS) {
            let mut args = vec![Int(now)];
            args.extend(chunk.iter().map(|id| Text(id)));
            tx.run(&self.sql.unfail(chunk.len()), &args).await?;
            tx.run(&self.sql.forget_ids(chunk.len()), &args[1..])
                .await?;
        }
        let queues: Vec<&str> = queues.iter().map(String::as_str).collect();
        self.db.wake(tx, &queues).await?;
        Ok(ids.len() as u64)
    }

    async fn add_counts_in(&self, tx: &mut dyn Tx, counts: &[MinuteCount]) -> Op<()> {
        // One row per minute and queue: an upsert may not meet the same row twice.
        let mut merged: BTreeMap<(Millis, &str), (u64, u64)> = BTreeMap::new();
        for c in counts {
            let slot = merged.entry((c.minute, &c.queue)).or_default();
            (slot.0, slot.1) = (slot.0 + c.done, slot.1 + c.failed);
        }
        let int = |n: u64| Int(i64::try_from(n).unwrap_or(i64::MAX));
        for ((minute, queue), (done, failed)) in merged {
            let args = [Int(minute), Text(queue), int(done), int(failed)];
            tx.run(&self.sql[Sql::AddThroughput], &args).await?;
        }
        let oldest = Int(now_ms() - KEEP_THROUGHPUT);
        tx.run(&self.sql[Sql::PruneThroughput], &[oldest]).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Admin for SqlDriver {
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.op(|| async {
            let mut all = BTreeSet::new();
            for next in [Sql::NextQueue, Sql::NextFailedQueue] {
                let mut after = String::new();
                while let Some(queue) = self.next_queue(next, &after).await? {
                    after.clone_from(&queue);
                    all.insert(queue);
                }
            }
            Ok(all.into_iter().collect())
        })
        .await
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.op(|| async {
            let (now, pool) = (Int(now_ms()), self.db.pool());
            let mut by_queue = match self.syntax.counts_per_queue {
                true => self.counts_per_queue(now).await?,
                false => self.counts_grouped(now).await?,
            };
            for row in pool.rows(&self.sql[Sql::StatsFailed], &[]).await? {
                by_queue.entry(row.text(0)?).or_default().failed += count(row.int(1)?);
            }
            Ok(by_queue
                .into_iter()
                .map(|(queue, s)| QueueStats { queue, ..s })
                .collect())
        })
        .await
    }

    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        let cursor = match &query.after {
            Some(text) => Some(Cursor::read(text, query, &self.tables.jobs)?),
            None => None,
        };
        self.op(|| self.page(query, cursor.clone())).await
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        let args = [Text(id.as_str())];
        self.op(|| async {
            let pool = self.db.pool();
            if let Some(row) = pool.rows(&self.sql[Sql::Job], &args).await?.first() {
                return Ok(Some(job_info(&**row, now_ms(), false)?));
            }
            let failed = pool.rows(&self.sql[Sql::FailedJob], &args).await?;
            failed
                .first()
                .map(|row| job_info(&**row, now_ms(), true))
                .transpose()
        })
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        self.op(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = self.cancel_in(&mut *tx, id).await;
            settle(tx, done).await
        })
        .await
    }

    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        self.op(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = self.unfail_in(&mut *tx, which).await;
            settle(tx, done).await
        })
        .await
    }

    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        let (_, forget, args) = which_failed(which);
        self.run(&self.sql[forget], &args).await
    }

    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        self.run(&self.sql[Sql::PruneFailed], &[Int(before)]).await
    }

    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        self.db.check_key("entry kind", kind)?;
        self.db.check_key("entry key", key)?;
        let now = now_ms();
        self.run(&self.sql[Sql::PruneEntries], &[Text(kind), Int(now)])
            .await?;
        let until = MaybeInt(ttl_ms.map(|ttl| now + ttl));
        let args = [Text(kind), Text(key), Text(value), until];
        self.run(&self.sql[Sql::PutEntry], &args).await.map(drop)
    }

    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        self.run(&self.sql[Sql::RemoveEntry], &[Text(kind), Text(key)])
            .await
            .map(drop)
    }

    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        self.op(|| async {
            let rows = self
                .db
                .pool()
                .rows(&self.sql[Sql::Entries], &[Text(kind), Int(now_ms())])
                .await?;
            rows.iter().map(|r| Ok((r.text(0)?, r.text(1)?))).collect()
        })
        .await
    }

    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        self.op(|| async {
            let args = [Text(kind), Text(key)];
            let rows = self.db.pool().rows(&self.sql[Sql::Entry], &args).await?;
            live_value(rows.first().map(|r| &**r), now_ms())
        })
        .await
    }

    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        self.db.check_key("entry kind", kind)?;
        self.db.check_key("entry key", key)?;
        self.op(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = self.swap_in(&mut *tx, [kind, key], expected, value).await;
            settle(tx, done).await
        })
        .await
    }

    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        if counts.is_empty() {
            return Ok(());
        }
        self.op(|| async {
            let mut tx = self.db.pool().begin().await?;
            let done = self.add_counts_in(&mut *tx, counts).await;
            settle(tx, done).await
        })
        .await
    }

    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        self.op(|| async {
            let rows = self
                .db
                .pool()
                .rows(&self.sql[Sql::Throughput], &[Int(since)])
                .await?;
            let read = |r: &crate::db::Row| {
                let (done, failed) = (count(r.int(2)?), count(r.int(3)?));
                Ok(MinuteCount {
                    queue: r.text(0)?,
                    minute: r.int(1)?,
                    done,
                    failed,
                })
            };
            rows.iter().map(read).collect()
        })
        .await
    }
}
