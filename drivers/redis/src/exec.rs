//! How commands and scripts reach the server: one at a time, or many calls in as few
//! round trips as the server allows (one pipeline on a single server, one per queue on
//! a Cluster, where a pipeline may only name keys of one slot).

use crate::conn::Conn;
use crate::keys::QueueKeys;
use crate::{RedisDriver, error};
use rakit_job_core::{DriverError, validate_queue};
use redis::{FromRedisValue, Script, ScriptInvocation};
use std::collections::BTreeMap;

/// A script call on one queue, tagged with the queue so calls can be grouped by slot.
pub(crate) type QueueCall<'a> = (&'a str, ScriptInvocation<'static>);

/// A script call writing several items of a batch: its queue, the items' places in the
/// batch, and the call, which answers one number per item.
pub(crate) type Batch<'a> = (&'a str, Vec<usize>, ScriptInvocation<'static>);

impl RedisDriver {
    /// The shared command connection (cheap to clone).
    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// True on a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// Runs one prepared script, loading it first if the server has forgotten it.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        call: &ScriptInvocation<'_>,
    ) -> Result<T, DriverError> {
        call.invoke_async(&mut self.conn())
            .await
            .map_err(|e| error(&self.store, e))
    }

    /// Runs one command.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, DriverError> {
        cmd.query_async(&mut self.conn())
            .await
            .map_err(|e| error(&self.store, e))
    }

    /// Runs a pipeline whose keys share one slot.
    pub(crate) async fn query_pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, DriverError> {
        pipe.query_async(&mut self.conn())
            .await
            .map_err(|e| error(&self.store, e))
    }

    /// A call of `script` on the queue of `keys`: its five structure keys declared (so a
    /// Cluster client routes it to the queue's node) and its key base as the first argument.
    pub(crate) fn on_queue(
        &self,
        script: &'static Script,
        keys: &QueueKeys,
    ) -> ScriptInvocation<'static> {
        let mut call = script.prepare_invoke();
        for key in keys.declared() {
            call.key(key);
        }
        call.arg(keys.base());
        call
    }

    /// Adds the queue registry as the sixth key of a push or finish call, so on a single
    /// server the script registers the queues it stores jobs on. On a Cluster the registry
    /// lives in another slot and [`register`](Self::register) does it instead.
    pub(crate) fn registering(&self, call: &mut ScriptInvocation<'static>) {
        if !self.is_cluster() {
            call.key(self.keys.registry());
        }
    }

    /// Adds queues to the registry with their own command, on a Cluster only (see
    /// [`registering`](Self::registering)).
    pub(crate) async fn register(&self, queues: &[&str]) -> Result<(), DriverError> {
        if self.is_cluster() && !queues.is_empty() {
            let _: i64 = self
                .query(redis::cmd("SADD").arg(self.keys.registry()).arg(queues))
                .await?;
        }
        Ok(())
    }

    /// Every queue ever pushed to under this prefix, sorted by name.
    pub(crate) async fn known_queues(&self) -> Result<Vec<String>, DriverError> {
        let mut queues: Vec<String> = self
            .query(redis::cmd("SMEMBERS").arg(self.keys.registry()))
            .await?;
        queues.retain(|q| validate_queue(q).is_ok());
        queues.sort();
        Ok(queues)
    }

    /// Runs prepared calls of `script` and returns their answers in order: one round trip
    /// on a single server (a pipeline that loads the script first, so a server that forgot
    /// it still runs every call), one pipeline per queue on a Cluster. A single call is
    /// sent alone, loading the script only if the server asks for it.
    pub(crate) async fn run_each<T: FromRedisValue + Default + Clone>(
        &self,
        script: &Script,
        calls: &[QueueCall<'_>],
    ) -> Result<Vec<T>, DriverError> {
        if let [(_, call)] = calls {
            return Ok(vec![self.run(call).await?]);
        }
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (queue, _)) in calls.iter().enumerate() {
            let group = if self.is_cluster() { queue } else { "" };
            groups.entry(group).or_default().push(i);
        }
        let mut results = vec![T::default(); calls.len()];
        for group in groups.into_values() {
            let mut pipe = redis::pipe();
            pipe.load_script(script).ignore();
            for &i in &group {
                pipe.invoke_script(&calls[i].1);
            }
            let done: Vec<T> = self.query_pipe(&pipe).await?;
            for (i, done) in group.into_iter().zip(done) {
                results[i] = done;
            }
        }
        Ok(results)
    }

    /// Runs `batches` of `script` (see [`run_each`](Self::run_each)) and puts each
    /// answer back at its item's place in a batch of `len` items.
    pub(crate) async fn run_batches(
        &self,
        script: &Script,
        batches: Vec<Batch<'_>>,
        len: usize,
    ) -> Result<Vec<i64>, DriverError> {
        let (places, calls): (Vec<Vec<usize>>, Vec<QueueCall<'_>>) = batches
            .into_iter()
            .map(|(queue, places, call)| (places, (queue, call)))
            .unzip();
        let answers: Vec<Vec<i64>> = self.run_each(script, &calls).await?;
        let mut spread = vec![0; len];
        for (places, answers) in places.into_iter().zip(answers) {
            if answers.len() != places.len() {
                return Err(DriverError::store(format!(
                    "{}: a script answered for {} of {} items",
                    self.store,
                    answers.len(),
                    places.len()
                )));
            }
            for (place, answer) in places.into_iter().zip(answers) {
                spread[place] = answer;
            }
        }
        Ok(spread)
    }

    /// Runs `script` on every registered queue, each call completed by `args`; the
    /// answers with their queues, in queue name order.
    pub(crate) async fn on_every_queue<T: FromRedisValue + Default + Clone>(
        &self,
        script: &'static Script,
        args: impl Fn(&mut ScriptInvocation<'static>),
    ) -> Result<Vec<(String, T)>, DriverError> {
        let queues = self.known_queues().await?;
        let calls = queues
            .iter()
            .map(|queue| {
                let mut call = self.on_queue(script, &self.keys.queue(queue)?);
                args(&mut call);
                Ok((queue.as_str(), call))
            })
            .collect::<Result<Vec<_>, DriverError>>()?;
        let answers: Vec<T> = self.run_each(script, &calls).await?;
        Ok(queues.into_iter().zip(answers).collect())
    }
}
