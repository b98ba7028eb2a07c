//! The hot path ([`Store`]): each write is one script per queue, and a batch is as few
//! round trips as the server allows (see `exec.rs`).

use crate::RedisDriver;
use crate::exec::Batch;
use crate::records::{self, job_args};
use crate::scripts::{CLAIM_BATCH, SCRIPTS, WRITE_BATCH};
use rakit_job_core::{
    Capabilities, DriverError, Finish, Lease, LeaseState, LockRequest, Locked, Millis, NewJob,
    PushOutcome, ReserveRequest, Reserved, Store, fresh_token,
};
use redis::ScriptInvocation;
use std::collections::BTreeMap;
use std::time::Duration;

/// Indexes of `items` grouped by their queue, each group in the order of `items`.
fn by_queue<T>(items: &[T], queue: impl Fn(&T) -> &str) -> BTreeMap<&str, Vec<usize>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        groups.entry(queue(item)).or_default().push(i);
    }
    groups
}

impl RedisDriver {
    /// Claims up to `limit` jobs of one queue in one script call.
    async fn claim(
        &self,
        queue: &str,
        request: &ReserveRequest<'_>,
        limit: usize,
    ) -> Result<Vec<Reserved>, DriverError> {
        let mut call = self.on_queue(&SCRIPTS.claim, &self.keys.queue(queue)?);
        call.arg(request.lease_ms.max(1))
            .arg(if request.name.is_some() { "1" } else { "0" })
            .arg(request.name.unwrap_or(""))
            .arg(request.worker);
        for _ in 0..limit {
            call.arg(fresh_token().to_string());
        }
        let claimed = records::claimed(queue, self.run(&call).await?)?;
        if request.name.is_none() {
            self.waiter.due_in(queue, claimed.next_due_in);
        }
        Ok(claimed.jobs)
    }

    /// The push script's call storing `jobs`, all of queue `queue`, in order.
    fn push_call<'a>(
        &self,
        queue: &str,
        jobs: impl Iterator<Item = &'a NewJob>,
    ) -> Result<ScriptInvocation<'static>, DriverError> {
        let mut call = self.on_queue(&SCRIPTS.push, &self.keys.queue(queue)?);
        self.registering(&mut call);
        call.arg(queue);
        for job in jobs {
            job_args(&mut call, job);
        }
        Ok(call)
    }

    /// The finish script's calls writing the runs `items` of `finished`, all of queue
    /// `queue`, at most [`WRITE_BATCH`] runs and follow-ups a call.
    fn finish_calls<'a>(
        &self,
        queue: &'a str,
        finished: &[Finish],
        items: &[usize],
    ) -> Result<Vec<Batch<'a>>, DriverError> {
        let keys = self.keys.queue(queue)?;
        let new_call = || {
            let mut call = self.on_queue(&SCRIPTS.finish, &keys);
            self.registering(&mut call);
            call
        };
        let mut calls = Vec::new();
        let (mut chunk, mut call, mut weight) = (Vec::new(), new_call(), 0);
        for &i in items {
            weight += self.finish_args(&mut call, queue, &finished[i])?;
            chunk.push(i);
            if weight >= WRITE_BATCH {
                let full = std::mem::replace(&mut call, new_call());
                calls.push((queue, std::mem::take(&mut chunk), full));
                weight = 0;
            }
        }
        if !chunk.is_empty() {
            calls.push((queue, chunk, call));
        }
        Ok(calls)
    }

    /// Runs the push scripts storing `jobs`: per job 1 stored, 0 skipped for its unique
    /// key, -1 id already stored (see push.lua).
    async fn push_answers(&self, jobs: &[NewJob]) -> Result<Vec<i64>, DriverError> {
        let groups = by_queue(jobs, |job| job.queue.as_str());
        let queues: Vec<&str> = groups.keys().copied().collect();
        self.register(&queues).await?;
        let mut batches: Vec<Batch<'_>> = Vec::new();
        for (queue, indexes) in &groups {
            for chunk in indexes.chunks(WRITE_BATCH) {
                let call = self.push_call(queue, chunk.iter().map(|&i| &jobs[i]))?;
                batches.push((queue, chunk.to_vec(), call));
            }
        }
        self.run_batches(&SCRIPTS.push, batches, jobs.len()).await
    }

    /// On a Cluster, stores the follow-ups of acks that live in another queue's slot
    /// before the acks themselves, for the holders whose lease is still theirs (checked
    /// by renewing it for [`EARLY_HOLD_MS`]). A crash between the two steps can then only
    /// leave them stored early, never lose them; the job runs again, and its next ack
    /// finds them stored already (a taken id counts as stored: their ids are fixed).
    async fn store_cross_slot_follow_ups(&self, finished: &[Finish]) -> Result<(), DriverError> {
        let acks: Vec<(&Lease, Vec<NewJob>)> = finished
            .iter()
            .filter_map(|f| match f {
                Finish::Ack { lease, then } => {
                    let other: Vec<NewJob> = then
                        .iter()
                        .filter(|j| j.queue != lease.queue)
                        .cloned()
                        .collect();
                    (!other.is_empty()).then_some((lease, other))
                }
                _ => None,
            })
            .collect();
        if acks.is_empty() {
            return Ok(());
        }
        let leases: Vec<Lease> = acks.iter().map(|(lease, _)| (*lease).clone()).collect();
        let states = self.extend(&leases, EARLY_HOLD_MS).await?;
        let held = acks
            .into_iter()
            .zip(states)
            .filter(|(_, state)| *state != LeaseState::Lost);
        let jobs: Vec<NewJob> = held.flat_map(|((_, jobs), _)| jobs).collect();
        if jobs.is_empty() {
            return Ok(());
        }
        let answers = self.push_answers(&jobs).await?;
        for (job, answer) in jobs.iter().zip(answers) {
            if answer != -1 {
                push_outcome(job, answer)?;
            }
        }
        Ok(())
    }

    /// Appends one run's arguments to a finish call on `queue` (see finish.lua): kind, id,
    /// token, two values, then an ack's follow-ups that the script stores itself. Returns
    /// how many runs and jobs that is.
    fn finish_args(
        &self,
        call: &mut ScriptInvocation<'static>,
        queue: &str,
        finish: &Finish,
    ) -> Result<usize, DriverError> {
        let (kind, a, b) = match finish {
            Finish::Ack { then, .. } => {
                let inline = self.inline_follow_ups(queue, then).count();
                ("ack", inline.to_string(), String::new())
            }
            Finish::Retry {
                available_at,
                error,
                ..
            } => ("retry", available_at.to_string(), error.clone()),
            Finish::Release { available_at, .. } => {
                ("release", available_at.to_string(), String::new())
            }
            Finish::Fail {
                error, cancelled, ..
            } => ("fail", error.clone(), u8::from(*cancelled).to_string()),
        };
        let lease = finish.lease();
        call.arg(kind)
            .arg(lease.id.as_str())
            .arg(lease.token.to_string())
            .arg(a)
            .arg(b);
        let mut weight = 1;
        if let Finish::Ack { then, .. } = finish {
            for job in self.inline_follow_ups(queue, then) {
                call.arg(self.keys.queue(&job.queue)?.base())
                    .arg(job.queue.as_str());
                job_args(call, job);
                weight += 1;
            }
        }
        Ok(weight)
    }

    /// The follow-ups of an ack on `queue` that its finish script stores itself: all of
    /// them on one server, where a script may touch any queue; on a Cluster only those of
    /// the same queue (slot); `store_cross_slot_follow_ups` stores the others first.
    fn inline_follow_ups<'a>(
        &self,
        queue: &'a str,
        then: &'a [NewJob],
    ) -> impl Iterator<Item = &'a NewJob> + 'a {
        let cluster = self.is_cluster();
        then.iter()
            .filter(move |job| !cluster || job.queue == queue)
    }

    /// Tells this process's waiters about jobs that a write made due later.
    fn note_scheduled(&self, finished: &[Finish], written: &[bool]) {
        for (finish, _) in finished.iter().zip(written).filter(|(_, w)| **w) {
            match finish {
                Finish::Retry {
                    lease,
                    available_at,
                    ..
                }
                | Finish::Release {
                    lease,
                    available_at,
                } => self.waiter.scheduled(&lease.queue, *available_at),
                Finish::Ack { then, .. } => {
                    for job in then {
                        self.waiter.scheduled(&job.queue, job.available_at);
                    }
                }
                Finish::Fail { .. } => {}
            }
        }
    }
}

/// How long an ack whose follow-ups are stored first holds its lease while that happens
/// (see `store_cross_slot_follow_ups`): the ack follows at once.
const EARLY_HOLD_MS: Millis = 30_000;

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

#[async_trait::async_trait]
impl Store for RedisDriver {
    fn describe(&self) -> String {
        self.store.clone()
    }

    fn capabilities(&self) -> Capabilities {
        // Durability is the server's `appendonly` setting, which the driver cannot promise.
        Capabilities {
            wakes_across_processes: true,
            wakes_when_due: false,
            durable: false,
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

    /// Stores a batch with one script call per queue and 500 jobs, all in one pipeline
    /// (one pipeline per queue on a Cluster). Each call is atomic; the batch as a whole is
    /// not: a failure part-way leaves the calls already run stored.
    async fn push(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        jobs.iter().try_for_each(NewJob::check)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let answers = self.push_answers(&jobs).await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (job, answer) in jobs.iter().zip(answers) {
            let outcome = push_outcome(job, answer)?;
            if outcome == PushOutcome::Stored {
                self.waiter.scheduled(&job.queue, job.available_at);
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        let mut taken = Vec::new();
        for queue in request.queues {
            while taken.len() < request.limit {
                let want = (request.limit - taken.len()).min(CLAIM_BATCH);
                let got = self.claim(queue, request, want).await?;
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

    /// Renews a batch with one script call per queue, all in one pipeline.
    async fn extend(
        &self,
        leases: &[Lease],
        lease_ms: Millis,
    ) -> Result<Vec<LeaseState>, DriverError> {
        let mut batches: Vec<Batch<'_>> = Vec::new();
        let groups = by_queue(leases, |lease| lease.queue.as_str());
        for (queue, indexes) in &groups {
            let keys = self.keys.queue(queue)?;
            for chunk in indexes.chunks(WRITE_BATCH) {
                let mut call = self.on_queue(&SCRIPTS.extend, &keys);
                call.arg(lease_ms.max(1));
                for &i in chunk {
                    call.arg(leases[i].id.as_str())
                        .arg(leases[i].token.to_string());
                }
                batches.push((queue, chunk.to_vec(), call));
            }
        }
        let answers = self
            .run_batches(&SCRIPTS.extend, batches, leases.len())
            .await?;
        let states = answers.into_iter().map(|answer| match answer {
            1 => LeaseState::Held,
            2 => LeaseState::Cancelled,
            _ => LeaseState::Lost,
        });
        Ok(states.collect())
    }

    /// Writes a batch with one finish script call per queue (and 500 runs), all in one
    /// pipeline (one per queue on a Cluster). An ack and its follow-ups are one script on
    /// a single server; on a Cluster, follow-ups of another queue are stored just before.
    async fn complete(&self, finished: &[Finish]) -> Result<Vec<bool>, DriverError> {
        let follow_ups = finished.iter().filter_map(|f| match f {
            Finish::Ack { then, .. } => Some(then),
            _ => None,
        });
        follow_ups.flatten().try_for_each(NewJob::check)?;
        if self.is_cluster() {
            self.store_cross_slot_follow_ups(finished).await?;
        }
        let mut batches: Vec<Batch<'_>> = Vec::new();
        let groups = by_queue(finished, |f| f.lease().queue.as_str());
        for (queue, indexes) in &groups {
            batches.extend(self.finish_calls(queue, finished, indexes)?);
        }
        let answers = self
            .run_batches(&SCRIPTS.finish, batches, finished.len())
            .await?;
        let written: Vec<bool> = answers.into_iter().map(|answer| answer == 1).collect();
        self.note_scheduled(finished, &written);
        Ok(written)
    }

    async fn lock(&self, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
        let mut call = SCRIPTS.lock.key(self.keys.lock(request.key));
        call.arg(request.owner)
            .arg(request.capacity.max(1))
            .arg(request.ttl_ms.max(1));
        let answer: Vec<Millis> = self.run(&call).await?;
        match answer.as_slice() {
            [1] => Ok(Locked::Taken),
            [0, until] => Ok(Locked::Busy { until: *until }),
            _ => Err(DriverError::store(format!(
                "{}: the lock script answered {answer:?}",
                self.store
            ))),
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        let _: i64 = self
            .query(redis::cmd("ZREM").arg(self.keys.lock(key)).arg(owner))
            .await?;
        Ok(())
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        let signals = queues
            .iter()
            .map(|q| Ok(self.keys.queue(q)?.signal()))
            .collect::<Result<Vec<_>, DriverError>>()?;
        self.waiter.wait(queues, signals, timeout).await
    }
}
