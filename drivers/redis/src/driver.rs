//! The [`Driver`] implementation: each method is one script (or a read) per queue.

use crate::conn::Conn;
use crate::records::{self, FAILED_FIELDS};
use crate::scripts::{CLAIM_BATCH, PUSH_BATCH, SCRIPTS};
use crate::{RedisDriver, error};
use rakit_job_core::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, Millis, NewJob, PushOutcome,
    QueueStats, ReserveRequest, Reserved, Retry, validate_queue,
};
use redis::{FromRedisValue, Script, ScriptInvocation};
use std::collections::BTreeMap;
use std::time::Duration;

impl RedisDriver {
    /// The shared command connection (cheap to clone).
    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Runs a prepared script, loading it first if the server has forgotten it.
    async fn run<T: FromRedisValue>(&self, call: &ScriptInvocation<'_>) -> Result<T, DriverError> {
        call.invoke_async(&mut self.conn())
            .await
            .map_err(|e| error(&self.store, e))
    }

    /// Runs one command.
    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, DriverError> {
        cmd.query_async(&mut self.conn())
            .await
            .map_err(|e| error(&self.store, e))
    }

    /// Every queue ever pushed to under this prefix, sorted.
    async fn known_queues(&self) -> Result<Vec<String>, DriverError> {
        let mut queues: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys.registry()))
            .await?;
        queues.retain(|q| validate_queue(q).is_ok());
        queues.sort();
        Ok(queues)
    }

    /// Claims up to `limit` jobs of one queue in one script call.
    async fn claim(
        &self,
        queue: &str,
        name: Option<&str>,
        limit: usize,
        lease_ms: Millis,
    ) -> Result<Vec<Reserved>, DriverError> {
        let keys = self.keys.queue(queue)?;
        let mut call = SCRIPTS.claim.key(keys.ready());
        call.key(keys.delayed())
            .key(keys.reserved())
            .arg(lease_ms.max(1))
            .arg(keys.job_prefix())
            .arg(if name.is_some() { "1" } else { "0" })
            .arg(name.unwrap_or(""));
        for _ in 0..limit {
            // The id is filled in by the script; only the fresh random token is used.
            call.arg(Lease::new(JobId::generate(), queue).token.to_string());
        }
        let claimed = records::claimed(queue, self.run(&call).await?)?;
        if name.is_none() {
            self.waiter.due_in(queue, claimed.next_due_in);
        }
        Ok(claimed.jobs)
    }

    /// Runs prepared calls of `script` and returns their answers in order: one round trip
    /// on a single server (a pipeline that loads the script first, so a server that forgot
    /// it still runs every call). On a Cluster the redis crate sends a pipeline to one node
    /// and refuses one whose keys span slots, so there it is one pipeline per queue, whose
    /// keys share a slot.
    async fn run_each<T: FromRedisValue + Default + Clone>(
        &self,
        script: &Script,
        calls: &[(&str, ScriptInvocation<'_>)],
    ) -> Result<Vec<T>, DriverError> {
        if let [(_, call)] = calls {
            return Ok(vec![self.run(call).await?]);
        }
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (queue, _)) in calls.iter().enumerate() {
            let group = if self.conn.is_cluster() { queue } else { "" };
            groups.entry(group).or_default().push(i);
        }
        let mut results = vec![T::default(); calls.len()];
        for group in groups.into_values() {
            let mut pipe = redis::pipe();
            pipe.load_script(script).ignore();
            for &i in &group {
                pipe.invoke_script(&calls[i].1);
            }
            let done: Vec<T> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(|e| error(&self.store, e))?;
            for (i, done) in group.into_iter().zip(done) {
                results[i] = done;
            }
        }
        Ok(results)
    }

    /// The push script's call storing `jobs`, all of queue `queue`, in order.
    fn push_call<'a>(
        &self,
        queue: &str,
        jobs: impl Iterator<Item = &'a NewJob>,
    ) -> Result<ScriptInvocation<'static>, DriverError> {
        let keys = self.keys.queue(queue)?;
        let mut call = SCRIPTS.push.key(keys.ready());
        call.key(keys.delayed()).key(keys.signal());
        if !self.conn.is_cluster() {
            // One server: the script registers the queue itself, saving a round trip.
            call.key(self.keys.registry());
        }
        call.arg(keys.job_prefix())
            .arg(keys.unique_prefix())
            .arg(queue);
        for job in jobs {
            let fields = records::job_fields(job);
            call.arg(job.id.as_str())
                .arg(job.available_at)
                .arg(if job.unique_key.is_some() { "1" } else { "0" })
                .arg(job.unique_key.as_deref().unwrap_or(""))
                .arg(fields.len() * 2);
            for (field, value) in fields {
                call.arg(field).arg(value);
            }
        }
        Ok(call)
    }

    /// Adds queues to the registry with their own command: on a Cluster, where the push
    /// script cannot reach the registry (it lives in another slot).
    async fn register(&self, queues: &[&str]) -> Result<(), DriverError> {
        if self.conn.is_cluster() {
            let _: i64 = self
                .query(redis::cmd("SADD").arg(self.keys.registry()).arg(queues))
                .await?;
        }
        Ok(())
    }

    /// The ack script's call for `lease`.
    fn ack_call(&self, lease: &Lease) -> Result<ScriptInvocation<'static>, DriverError> {
        let keys = self.keys.queue(&lease.queue)?;
        let mut call = SCRIPTS.ack.key(keys.job(lease.id.as_str()));
        call.key(keys.reserved())
            .arg(lease.id.as_str())
            .arg(lease.token.to_string())
            .arg(keys.unique_prefix());
        Ok(call)
    }

    /// The requeue script's call putting a held job back (retry with its error, or
    /// release), waiting until `available_at`.
    fn requeue_call(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: Option<&str>,
    ) -> Result<ScriptInvocation<'static>, DriverError> {
        let keys = self.keys.queue(&lease.queue)?;
        let mut call = SCRIPTS.requeue.key(keys.job(lease.id.as_str()));
        call.key(keys.reserved())
            .key(keys.ready())
            .key(keys.delayed())
            .key(keys.signal())
            .arg(lease.id.as_str())
            .arg(lease.token.to_string())
            .arg(available_at)
            .arg(if error.is_some() { "retry" } else { "release" })
            .arg(error.unwrap_or(""));
        Ok(call)
    }

    /// Puts a held job back (retry or release), waiting until `available_at`.
    async fn requeue(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: Option<&str>,
    ) -> Result<bool, DriverError> {
        let done: i64 = self
            .run(&self.requeue_call(lease, available_at, error)?)
            .await?;
        if done == 1 {
            self.waiter.scheduled(&lease.queue, available_at);
        }
        Ok(done == 1)
    }

    /// Runs a failed-store script on the queue holding failed job `id`.
    async fn on_failed(&self, id: &JobId, retry: bool) -> Result<bool, DriverError> {
        for queue in self.known_queues().await? {
            let keys = self.keys.queue(&queue)?;
            let done: i64 = if retry {
                let mut call = SCRIPTS.retry_failed.key(keys.failed());
                call.key(keys.failed_job(id.as_str()))
                    .key(keys.job(id.as_str()))
                    .key(keys.ready())
                    .key(keys.signal())
                    .arg(id.as_str());
                self.run(&call).await?
            } else {
                let mut call = SCRIPTS.forget_failed.key(keys.failed());
                call.key(keys.failed_job(id.as_str())).arg(id.as_str());
                self.run(&call).await?
            };
            if done == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[async_trait::async_trait]
impl Driver for RedisDriver {
    fn describe(&self) -> String {
        self.store.clone()
    }

    fn capabilities(&self) -> Capabilities {
        // Durability is the server's `appendonly` setting, which the driver cannot promise.
        Capabilities {
            wakes_across_processes: true,
            durable: false,
            has_schema: false,
        }
    }

    async fn check(&self) -> Result<(), DriverError> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(DriverError::store(format!(
                "{} answered PING with {pong:?}",
                self.store
            )))
        }
    }

    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        Ok(self.push_many(vec![job]).await?.remove(0))
    }

    /// Stores a batch with one script call per queue and 500 jobs, all in one pipeline
    /// (one pipeline per queue on a Cluster). Each call is atomic; the batch as a whole is
    /// not: a failure part-way leaves the calls already run stored.
    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(NewJob::check)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // Jobs of one queue, in batch order, each with its place in the batch.
        let mut by_queue: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, job) in jobs.iter().enumerate() {
            by_queue.entry(job.queue.as_str()).or_default().push(i);
        }
        let queues: Vec<&str> = by_queue.keys().copied().collect();
        self.register(&queues).await?;
        let mut places = Vec::new();
        let mut calls = Vec::new();
        for (queue, indexes) in &by_queue {
            for chunk in indexes.chunks(PUSH_BATCH) {
                let batch = chunk.iter().map(|&i| &jobs[i]);
                calls.push((*queue, self.push_call(queue, batch)?));
                places.push(chunk);
            }
        }
        let answers: Vec<Vec<i64>> = self.run_each(&SCRIPTS.push, &calls).await?;
        let mut outcomes = vec![PushOutcome::Duplicate; jobs.len()];
        for (chunk, answers) in places.into_iter().zip(answers) {
            if answers.len() != chunk.len() {
                return Err(DriverError::store(format!(
                    "{}: the push script answered for {} of {} jobs",
                    self.store,
                    answers.len(),
                    chunk.len()
                )));
            }
            for (&i, answer) in chunk.iter().zip(answers) {
                let job = &jobs[i];
                outcomes[i] = push_outcome(job, answer)?;
                if outcomes[i] == PushOutcome::Stored {
                    self.waiter.scheduled(&job.queue, job.available_at);
                }
            }
        }
        Ok(outcomes)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let mut taken = Vec::new();
        for queue in request.queues {
            while taken.len() < request.limit {
                let want = (request.limit - taken.len()).min(CLAIM_BATCH);
                let got = self
                    .claim(queue, request.name, want, request.lease_ms)
                    .await?;
                let drained = got.len() < want;
                taken.extend(got);
                if drained {
                    break;
                }
            }
            if taken.len() >= request.limit {
                break;
            }
        }
        Ok(taken)
    }

    async fn extend(&self, lease: &Lease, lease_ms: Millis) -> Result<bool, DriverError> {
        let keys = self.keys.queue(&lease.queue)?;
        let mut call = SCRIPTS.extend.key(keys.job(lease.id.as_str()));
        call.key(keys.reserved())
            .arg(lease.id.as_str())
            .arg(lease.token.to_string())
            .arg(lease_ms.max(1));
        Ok(self.run::<i64>(&call).await? == 1)
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        Ok(self.run::<i64>(&self.ack_call(lease)?).await? == 1)
    }

    /// Acks a batch in one round trip (one per queue on a Cluster); see `run_each`.
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        let calls = leases
            .iter()
            .map(|lease| Ok((lease.queue.as_str(), self.ack_call(lease)?)))
            .collect::<Result<Vec<_>, DriverError>>()?;
        let done: Vec<i64> = self.run_each(&SCRIPTS.ack, &calls).await?;
        Ok(done.into_iter().map(|d| d == 1).collect())
    }

    async fn retry(
        &self,
        lease: &Lease,
        available_at: Millis,
        error: &str,
    ) -> Result<bool, DriverError> {
        self.requeue(lease, available_at, Some(error)).await
    }

    /// Retries a batch in one round trip (one per queue on a Cluster); see `run_each`.
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        let calls = retries
            .iter()
            .map(|r| {
                let call = self.requeue_call(&r.lease, r.available_at, Some(&r.error))?;
                Ok((r.lease.queue.as_str(), call))
            })
            .collect::<Result<Vec<_>, DriverError>>()?;
        let done: Vec<i64> = self.run_each(&SCRIPTS.requeue, &calls).await?;
        for (r, done) in retries.iter().zip(&done) {
            if *done == 1 {
                self.waiter.scheduled(&r.lease.queue, r.available_at);
            }
        }
        Ok(done.into_iter().map(|d| d == 1).collect())
    }

    async fn release(&self, lease: &Lease, available_at: Millis) -> Result<bool, DriverError> {
        self.requeue(lease, available_at, None).await
    }

    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        let keys = self.keys.queue(&lease.queue)?;
        let mut call = SCRIPTS.fail.key(keys.job(lease.id.as_str()));
        call.key(keys.reserved())
            .key(keys.failed())
            .key(keys.failed_job(lease.id.as_str()))
            .arg(lease.id.as_str())
            .arg(lease.token.to_string())
            .arg(error)
            .arg(keys.unique_prefix());
        Ok(self.run::<i64>(&call).await? == 1)
    }

    async fn lock(&self, key: &str, owner: &str, ttl_ms: Millis) -> Result<bool, DriverError> {
        let mut call = SCRIPTS.lock.key(self.keys.lock(key));
        call.arg(owner).arg(ttl_ms.max(1));
        Ok(self.run::<i64>(&call).await? == 1)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let mut call = SCRIPTS.unlock.key(self.keys.lock(key));
        call.arg(owner);
        let _: i64 = self.run(&call).await?;
        Ok(())
    }

    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        Ok(self.stats().await?.into_iter().map(|s| s.queue).collect())
    }

    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        let mut all = Vec::new();
        for queue in self.known_queues().await? {
            let keys = self.keys.queue(&queue)?;
            let mut call = SCRIPTS.stats.key(keys.ready());
            call.key(keys.delayed())
                .key(keys.reserved())
                .key(keys.failed());
            let (ready, scheduled, reserved, failed): (u64, u64, u64, u64) =
                self.run(&call).await?;
            if ready + scheduled + reserved + failed > 0 {
                all.push(QueueStats {
                    queue,
                    ready,
                    scheduled,
                    reserved,
                    failed,
                });
            }
        }
        Ok(all)
    }

    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The newest `limit` of each queue, then the newest `limit` of those.
        let mut newest: Vec<(Millis, JobId, String)> = Vec::new();
        for queue in self.known_queues().await? {
            let keys = self.keys.queue(&queue)?;
            let cmd = redis::cmd("ZRANGE")
                .arg(keys.failed())
                .arg(0)
                .arg(limit - 1)
                .arg("REV")
                .arg("WITHSCORES")
                .clone();
            let ids: Vec<(String, f64)> = self.query(&cmd).await?;
            for (id, failed_at) in ids {
                let id = JobId::parse(&id).map_err(|_| DriverError::Corrupt {
                    id: id.clone(),
                    reason: format!(
                        "the failed set of queue {queue} holds something that is not a job id"
                    ),
                })?;
                newest.push((failed_at as Millis, id, queue.clone()));
            }
        }
        newest.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        newest.truncate(limit);
        let mut out = Vec::with_capacity(newest.len());
        for (_, id, queue) in newest {
            let keys = self.keys.queue(&queue)?;
            let fields: Vec<Option<String>> = self
                .query(
                    redis::cmd("HMGET")
                        .arg(keys.failed_job(id.as_str()))
                        .arg(&FAILED_FIELDS[..]),
                )
                .await?;
            out.extend(records::failed_job(&id, &fields)?);
        }
        Ok(out)
    }

    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.on_failed(id, true).await
    }

    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.on_failed(id, false).await
    }

    async fn flush_failed(&self) -> Result<u64, DriverError> {
        let mut total = 0;
        for queue in self.known_queues().await? {
            let keys = self.keys.queue(&queue)?;
            loop {
                let mut call = SCRIPTS.flush_failed.key(keys.failed());
                call.arg(keys.failed_prefix());
                let deleted: u64 = self.run(&call).await?;
                total += deleted;
                if deleted == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let signals = queues
            .iter()
            .map(|q| Ok(self.keys.queue(q)?.signal()))
            .collect::<Result<Vec<_>, DriverError>>()?;
        self.waiter.wait(queues, signals, timeout).await
    }
}

/// What the push script's answer means: stored, skipped for its unique key, or a clash of ids.
fn push_outcome(job: &NewJob, answer: i64) -> Result<PushOutcome, DriverError> {
    match answer {
        1 => Ok(PushOutcome::Stored),
        0 => Ok(PushOutcome::Duplicate),
        _ => Err(DriverError::Invalid(format!(
            "a job with id {} is already stored in queue {}; give each job a fresh id",
            job.id, job.queue
        ))),
    }
}
