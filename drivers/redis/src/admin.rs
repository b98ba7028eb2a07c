//! Seeing and steering ([`Admin`]): counts, listings, one job, cancel, the failed store,
//! control entries and throughput. A job is found without knowing its queue by running
//! the same script on every registered queue in one pipeline (one per queue on a Cluster).

use crate::RedisDriver;
use crate::records::{self, INFO_LEN};
use crate::scripts::{FAILED_BATCH, SCRIPTS};
use rakit_job_core::{
    Admin, CancelOutcome, DriverError, FailedSelect, JobId, JobInfo, JobPage, JobQuery, Millis,
    MinuteCount, QueueStats, now_ms, validate_queue,
};
use std::collections::BTreeMap;

/// How long throughput counts are kept.
const KEEP_THROUGHPUT: Millis = 3 * 3_600_000;

/// How far ahead of this machine's clock `throughput` still looks for counts, for workers
/// whose clocks run ahead.
const THROUGHPUT_SKEW: Millis = 5 * 60_000;

const MINUTE: Millis = 60_000;

/// The error a cancelled job is kept with.
const CANCELLED: &str = "cancelled";

impl RedisDriver {
    /// The queues `which` reaches (for `One`, every queue: the id names no queue).
    async fn failed_queues(&self, which: &FailedSelect) -> Result<Vec<String>, DriverError> {
        match which {
            FailedSelect::Queue(queue) => {
                validate_queue(queue)?;
                Ok(vec![queue.clone()])
            }
            FailedSelect::One(_) | FailedSelect::All => self.known_queues().await,
        }
    }

    /// Puts a queue's failed jobs back, a batch per script call; how many.
    async fn retry_all_failed(&self, queue: &str) -> Result<u64, DriverError> {
        let keys = self.keys.queue(queue)?;
        let mut total = 0;
        loop {
            let call = self.on_queue(&SCRIPTS.retry_failed, &keys);
            let (looked, back): (usize, u64) = self.run(&call).await?;
            total += back;
            // Ids a live job took stay failed; once a batch puts none back, stop.
            if looked < FAILED_BATCH || back == 0 {
                return Ok(total);
            }
        }
    }

    /// Deletes a queue's failed jobs that failed before `before` (all, if `None`), a batch
    /// per script call; how many.
    async fn forget_all_failed(
        &self,
        queue: &str,
        before: Option<Millis>,
    ) -> Result<u64, DriverError> {
        let keys = self.keys.queue(queue)?;
        let mut total = 0;
        loop {
            let mut call = self.on_queue(&SCRIPTS.forget_failed, &keys);
            call.arg(before.map(|b| b.to_string()).unwrap_or_default());
            let deleted: u64 = self.run(&call).await?;
            total += deleted;
            if deleted < FAILED_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

#[async_trait::async_trait]
impl Admin for RedisDriver {
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        Ok(self.stats().await?.into_iter().map(|s| s.queue).collect())
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        let counts: Vec<(String, (u64, u64, u64, u64))> =
            self.on_every_queue(&SCRIPTS.stats, |_| {}).await?;
        Ok(counts
            .into_iter()
            .filter(|(_, (a, b, c, d))| a + b + c + d > 0)
            .map(|(queue, (ready, scheduled, reserved, failed))| QueueStats {
                queue,
                ready,
                scheduled,
                reserved,
                failed,
            })
            .collect())
    }

    async fn jobs(&self, query: &JobQuery) -> Result<JobPage, DriverError> {
        self.page(query).await
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, DriverError> {
        let found: Vec<(String, Vec<Option<String>>)> = self
            .on_every_queue(&SCRIPTS.show, |call| {
                call.arg(id.as_str());
            })
            .await?;
        let Some((_, row)) = found.into_iter().find(|(_, row)| row.len() == INFO_LEN) else {
            return Ok(None);
        };
        Ok(Some(records::shown(&row)?.info))
    }

    async fn cancel(&self, id: &JobId) -> Result<CancelOutcome, DriverError> {
        let done: Vec<(String, i64)> = self
            .on_every_queue(&SCRIPTS.cancel, |call| {
                call.arg(id.as_str()).arg(CANCELLED);
            })
            .await?;
        Ok(match done.into_iter().map(|(_, d)| d).max() {
            Some(2) => CancelOutcome::Requested,
            Some(1) => CancelOutcome::Removed,
            _ => CancelOutcome::NotFound,
        })
    }

    async fn retry_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        if let FailedSelect::One(id) = which {
            let done: Vec<(String, (usize, u64))> = self
                .on_every_queue(&SCRIPTS.retry_failed, |call| {
                    call.arg(id.as_str());
                })
                .await?;
            return Ok(done.into_iter().map(|(_, (_, back))| back).sum());
        }
        let mut total = 0;
        for queue in self.failed_queues(which).await? {
            total += self.retry_all_failed(&queue).await?;
        }
        Ok(total)
    }

    async fn forget_failed(&self, which: &FailedSelect) -> Result<u64, DriverError> {
        if let FailedSelect::One(id) = which {
            let done: Vec<(String, u64)> = self
                .on_every_queue(&SCRIPTS.forget_failed, |call| {
                    call.arg("").arg(id.as_str());
                })
                .await?;
            return Ok(done.into_iter().map(|(_, deleted)| deleted).sum());
        }
        let mut total = 0;
        for queue in self.failed_queues(which).await? {
            total += self.forget_all_failed(&queue, None).await?;
        }
        Ok(total)
    }

    async fn prune_failed(&self, before: Millis) -> Result<u64, DriverError> {
        let mut total = 0;
        for queue in self.known_queues().await? {
            total += self.forget_all_failed(&queue, Some(before)).await?;
        }
        Ok(total)
    }

    async fn put_entry(
        &self,
        kind: &str,
        key: &str,
        value: &str,
        ttl_ms: Option<Millis>,
    ) -> Result<(), DriverError> {
        let mut call = SCRIPTS.put_entry.key(self.keys.entries(kind));
        call.arg(key)
            .arg(value)
            .arg(ttl_ms.map(|ttl| ttl.max(1).to_string()).unwrap_or_default());
        let _: i64 = self.run(&call).await?;
        Ok(())
    }

    async fn remove_entry(&self, kind: &str, key: &str) -> Result<(), DriverError> {
        let _: i64 = self
            .query(redis::cmd("HDEL").arg(self.keys.entries(kind)).arg(key))
            .await?;
        Ok(())
    }

    async fn entries(&self, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
        let call = SCRIPTS.entries.key(self.keys.entries(kind));
        let mut live: Vec<(String, String)> = self.run(&call).await?;
        live.sort();
        Ok(live)
    }

    async fn entry(&self, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
        let mut call = SCRIPTS.entry.key(self.keys.entries(kind));
        call.arg(key);
        self.run(&call).await
    }

    async fn swap_entry(
        &self,
        kind: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, DriverError> {
        let mut call = SCRIPTS.swap_entry.key(self.keys.entries(kind));
        call.arg(key)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value);
        let set: i64 = self.run(&call).await?;
        Ok(set == 1)
    }

    /// One pipeline: two `HINCRBY` and a `PEXPIREAT` per count, on per-minute hashes that
    /// share one slot.
    async fn add_throughput(&self, counts: &[MinuteCount]) -> Result<(), DriverError> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for count in counts {
            validate_queue(&count.queue)?;
            let key = self.keys.throughput(count.minute);
            pipe.hincr(&key, format!("{}:done", count.queue), count.done)
                .ignore()
                .hincr(&key, format!("{}:failed", count.queue), count.failed)
                .ignore()
                .pexpire_at(&key, count.minute + KEEP_THROUGHPUT)
                .ignore();
        }
        self.query_pipe::<()>(&pipe).await
    }

    /// One pipeline reading the hash of every minute from `since` (at most the kept hours
    /// back) to a few minutes past this machine's clock.
    async fn throughput(&self, since: Millis) -> Result<Vec<MinuteCount>, DriverError> {
        let now = now_ms();
        let oldest = since.max(now - KEEP_THROUGHPUT - MINUTE);
        let first = (oldest + MINUTE - 1).div_euclid(MINUTE) * MINUTE;
        let minutes: Vec<Millis> = (first..=now + THROUGHPUT_SKEW)
            .step_by(MINUTE as usize)
            .collect();
        if minutes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for minute in &minutes {
            pipe.hgetall(self.keys.throughput(*minute));
        }
        let hashes: Vec<Vec<(String, u64)>> = self.query_pipe(&pipe).await?;
        let mut counts: BTreeMap<(Millis, String), MinuteCount> = BTreeMap::new();
        for (minute, fields) in minutes.into_iter().zip(hashes) {
            for (field, n) in fields {
                let Some((queue, what)) = field.rsplit_once(':') else {
                    continue;
                };
                let count = counts
                    .entry((minute, queue.to_string()))
                    .or_insert_with(|| MinuteCount {
                        queue: queue.to_string(),
                        minute,
                        ..MinuteCount::default()
                    });
                match what {
                    "done" => count.done += n,
                    "failed" => count.failed += n,
                    _ => {}
                }
            }
        }
        Ok(counts.into_values().collect())
    }
}
