//! The seam between the workloads and a job system: rakit-job here, apalis and riverqueue
//! in `benches/peers`. A system stores jobs ([`Client`]) and runs a worker process
//! ([`System::work`]); the workloads time both the same way for every system.

use crate::BenchError;
use crate::store::{Store, Target};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::watch;

/// The payload every system's job carries: the same fields, the same JSON size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payload {
    /// The job's sequence number in its batch.
    pub seq: u64,
    /// When it was dispatched, in microseconds since the Unix epoch (pickup latency).
    pub sent_us: u64,
}

impl Payload {
    /// Payload number `seq`, stamped with the current time.
    pub fn now(seq: u64) -> Payload {
        Payload {
            seq,
            sent_us: crate::probe::now_us(),
        }
    }
}

/// How a client stores many jobs at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bulk {
    /// The system has an API that stores a batch in one call; batches of this size are used.
    Native(usize),
    /// No bulk API: jobs are dispatched one by one from this many concurrent tasks.
    Concurrent(usize),
}

impl Bulk {
    /// How the bulk figure was obtained, for tables.
    pub fn describe(self) -> String {
        match self {
            Bulk::Native(n) => format!("bulk API, batches of {n}"),
            Bulk::Concurrent(n) => format!("{n} concurrent tasks, one job per call"),
        }
    }
}

/// The dispatching side of a system, connected to one [`Target`].
#[async_trait::async_trait]
pub trait Client: Send + Sync {
    /// Stores one job carrying `Payload::now(seq)` and waits until it is stored.
    async fn dispatch(&self, seq: u64) -> Result<(), BenchError>;

    /// How [`dispatch_batch`](Self::dispatch_batch) works for this system.
    fn bulk(&self) -> Bulk;

    /// Stores the jobs `first..first + count` in one call; only called for [`Bulk::Native`].
    async fn dispatch_batch(&self, first: u64, count: u64) -> Result<(), BenchError> {
        for seq in first..first + count {
            self.dispatch(seq).await?;
        }
        Ok(())
    }

    /// Jobs stored and not yet done (ready, scheduled or reserved).
    async fn pending(&self) -> Result<u64, BenchError>;

    /// Drops the target's tables, keys or files.
    async fn cleanup(&self) -> Result<(), BenchError>;
}

/// A job system under measurement.
#[async_trait::async_trait]
pub trait System: Send + Sync {
    /// Its name in tables, e.g. `rakit-job`.
    fn name(&self) -> &'static str;

    /// Whether it can run on `store` at all.
    fn supports(&self, store: Store) -> bool;

    /// What its worker does when idle on `store`, for the notes of the latency figure.
    fn wakeup(&self, store: Store) -> String;

    /// Prepares the target (schema, folder) and connects a client to it.
    async fn client(&self, target: &Target) -> Result<Arc<dyn Client>, BenchError>;

    /// Runs as a worker process: connects to `target`, calls [`WorkerCtx::ready`], waits for
    /// [`WorkerCtx::go`], works with `ctx.concurrency` jobs at a time until
    /// [`WorkerCtx::stop`], then stops gracefully. Its job calls [`crate::probe::ran`].
    async fn work(&self, target: &Target, ctx: WorkerCtx) -> Result<(), BenchError>;
}

/// What a worker process is told by the benchmark that started it.
pub struct WorkerCtx {
    /// Jobs to run at the same time.
    pub concurrency: usize,
    /// The poll interval to configure, where the system has one, in milliseconds.
    pub sleep_ms: u64,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
}

impl WorkerCtx {
    /// A context whose gates are opened by the returned senders.
    pub fn new(
        concurrency: usize,
        sleep_ms: u64,
    ) -> (WorkerCtx, watch::Sender<bool>, watch::Sender<bool>) {
        let (go_tx, go) = watch::channel(false);
        let (stop_tx, stop) = watch::channel(false);
        (
            WorkerCtx {
                concurrency,
                sleep_ms,
                go,
                stop,
            },
            go_tx,
            stop_tx,
        )
    }

    /// Tells the benchmark the worker is connected and waiting for `go`.
    pub fn ready(&self) {
        println!("ready");
    }

    /// Waits until the benchmark says go (its clock starts then).
    pub async fn go(&self) {
        let mut go = self.go.clone();
        let _ = go.wait_for(|open| *open).await;
    }

    /// Waits until the benchmark says stop (or goes away).
    pub async fn stop(&self) {
        self.stopped().await
    }

    /// A future of its own that completes when the benchmark says stop, for APIs that
    /// take a `'static` shutdown signal.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.clone();
        async move {
            let _ = stop.wait_for(|open| *open).await;
        }
    }
}
