//! How a worker overlaps its claims with running jobs: a claim the store is slow to answer
//! neither holds up the jobs already claimed nor loses its own jobs at shutdown.
//!
//! The store is the in-memory driver behind a gate that holds one chosen claim until the
//! test (or a job) opens it, so each test waits on signals, not on time.

use rakit_job::__private::{JOBS, JobEntry, linkme};
use rakit_job::driver::{
    Capabilities, Driver, DriverError, FailedJob, JobId, Lease, MemoryDriver, Millis, NewJob,
    PushOutcome, QueueStats, ReserveRequest, Reserved, Retry,
};
use rakit_job::{Config, JobContext, JobOptions, JobResult, JobSpec, Jobable, Queue, Worker};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Holds the `hold`-th claim until it is opened.
struct Gate {
    hold: usize,
    claims: AtomicUsize,
    holding: AtomicBool,
    started: Notify,
    open: Semaphore,
    /// Jobs that ran while the held claim was waiting.
    ran_while_held: AtomicUsize,
}

impl Gate {
    fn new(hold: usize) -> Arc<Gate> {
        Arc::new(Gate {
            hold,
            claims: AtomicUsize::new(0),
            holding: AtomicBool::new(false),
            started: Notify::new(),
            open: Semaphore::new(0),
            ran_while_held: AtomicUsize::new(0),
        })
    }

    fn open(&self) {
        self.open.add_permits(1);
    }
}

/// Each test's gate, by the tag its jobs carry (tests in this file run in parallel).
static GATES: Mutex<Option<HashMap<String, Arc<Gate>>>> = Mutex::new(None);

fn gate_of(tag: &str) -> Arc<Gate> {
    GATES.lock().unwrap().as_ref().unwrap()[tag].clone()
}

#[derive(Serialize, Deserialize)]
struct Tick {
    tag: String,
}

impl JobSpec for Tick {
    const NAME: &'static str = "tick";
    const QUEUE: &'static str = "default";
    const OPTIONS: JobOptions = JobOptions::DEFAULT;
}

impl Jobable for Tick {
    /// The second job to run while the held claim waits opens the gate. With one slot, at
    /// most one job started before the claim can run during it, so the second was started
    /// while the claim was in flight: had the worker waited for the claim before running
    /// the jobs it already had, nothing would ever open the gate.
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        let gate = gate_of(&self.tag);
        if gate.holding.load(Ordering::SeqCst)
            && gate.ran_while_held.fetch_add(1, Ordering::SeqCst) + 1 == 2
        {
            gate.open();
        }
        Ok(())
    }
}

#[linkme::distributed_slice(JOBS)]
#[linkme(crate = rakit_job::__private::linkme)]
static TICK: JobEntry = JobEntry::of::<Tick>("worker_claims::Tick");

/// The in-memory store, with one claim held at the gate.
struct Gated {
    memory: MemoryDriver,
    gate: Arc<Gate>,
}

#[async_trait::async_trait]
impl Driver for Gated {
    async fn reserve(&self, request: &ReserveRequest<'_>) -> Result<Vec<Reserved>, DriverError> {
        if self.gate.claims.fetch_add(1, Ordering::SeqCst) + 1 == self.gate.hold {
            self.gate.holding.store(true, Ordering::SeqCst);
            self.gate.started.notify_one();
            self.gate.open.acquire().await.unwrap().forget();
            self.gate.holding.store(false, Ordering::SeqCst);
        }
        self.memory.reserve(request).await
    }
    fn describe(&self) -> String {
        self.memory.describe()
    }
    fn capabilities(&self) -> Capabilities {
        self.memory.capabilities()
    }
    async fn check(&self) -> Result<(), DriverError> {
        self.memory.check().await
    }
    async fn push(&self, job: NewJob) -> Result<PushOutcome, DriverError> {
        self.memory.push(job).await
    }
    async fn push_many(&self, jobs: Vec<NewJob>) -> Result<Vec<PushOutcome>, DriverError> {
        self.memory.push_many(jobs).await
    }
    async fn extend(&self, lease: &Lease, ms: Millis) -> Result<bool, DriverError> {
        self.memory.extend(lease, ms).await
    }
    async fn ack(&self, lease: &Lease) -> Result<bool, DriverError> {
        self.memory.ack(lease).await
    }
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<bool>, DriverError> {
        self.memory.ack_many(leases).await
    }
    async fn retry(&self, lease: &Lease, at: Millis, e: &str) -> Result<bool, DriverError> {
        self.memory.retry(lease, at, e).await
    }
    async fn retry_many(&self, retries: &[Retry]) -> Result<Vec<bool>, DriverError> {
        self.memory.retry_many(retries).await
    }
    async fn release(&self, lease: &Lease, at: Millis) -> Result<bool, DriverError> {
        self.memory.release(lease, at).await
    }
    async fn fail(&self, lease: &Lease, error: &str) -> Result<bool, DriverError> {
        self.memory.fail(lease, error).await
    }
    async fn lock(&self, key: &str, owner: &str, ttl: Millis) -> Result<bool, DriverError> {
        self.memory.lock(key, owner, ttl).await
    }
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), DriverError> {
        self.memory.unlock(key, owner).await
    }
    async fn queues(&self) -> Result<Vec<String>, DriverError> {
        self.memory.queues().await
    }
    async fn stats(&self) -> Result<Vec<QueueStats>, DriverError> {
        self.memory.stats().await
    }
    async fn failed(&self, limit: usize) -> Result<Vec<FailedJob>, DriverError> {
        self.memory.failed(limit).await
    }
    async fn retry_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.memory.retry_failed(id).await
    }
    async fn forget_failed(&self, id: &JobId) -> Result<bool, DriverError> {
        self.memory.forget_failed(id).await
    }
    async fn flush_failed(&self) -> Result<u64, DriverError> {
        self.memory.flush_failed().await
    }
    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<(), DriverError> {
        self.memory.wait(queues, timeout).await
    }
}

const JOBS_QUEUED: usize = 300;

/// A queue on a gated store holding the `hold`-th claim, with `JOBS_QUEUED` ticks tagged `tag`.
async fn gated_queue(tag: &str, hold: usize) -> (Queue, Arc<Gate>) {
    let gate = Gate::new(hold);
    GATES
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(tag.to_string(), gate.clone());
    let driver = Arc::new(Gated {
        memory: MemoryDriver::new(),
        gate: gate.clone(),
    });
    let queue = Queue::with_driver(driver, Config::default());
    let ticks = (0..JOBS_QUEUED).map(|_| Tick {
        tag: tag.to_string(),
    });
    Tick::dispatch_many(ticks).via(&queue).await.unwrap();
    (queue, gate)
}

/// A deadlock guard, not a timing: a correct worker finishes in well under a second.
const GUARD: Duration = Duration::from_secs(60);

#[tokio::test]
async fn jobs_already_claimed_keep_running_while_the_next_claim_waits() {
    // One slot: the first claim takes 1 job, the second a batch; the third starts while
    // about half of that batch is still waiting, and is held until two of those jobs ran.
    let (queue, gate) = gated_queue("overlap", 3).await;
    let worker = Worker::new(&queue)
        .handle_signals(false)
        .concurrency(1)
        .max_jobs(0)
        .stop_when_empty()
        .run();
    let report = tokio::time::timeout(GUARD, worker)
        .await
        .expect("the worker stalled behind a claim in flight instead of running the jobs it had")
        .unwrap();
    assert_eq!(report.succeeded, JOBS_QUEUED as u64);
    assert!(gate.ran_while_held.load(Ordering::SeqCst) >= 2);
    assert!(gate.claims.load(Ordering::SeqCst) >= 3);
    let stats = queue.driver().stats().await.unwrap();
    let left: u64 = stats.iter().map(|s| s.ready + s.reserved).sum();
    assert_eq!(left, 0, "{stats:?}");
}

#[tokio::test]
async fn a_claim_in_flight_at_shutdown_hands_its_jobs_back() {
    // The second claim (a batch) is held; the worker is told to stop while it waits, then
    // the store answers: every job it claimed must go back to the queue, ready at once.
    let (queue, gate) = gated_queue("shutdown", 2).await;
    let worker = Worker::new(&queue).handle_signals(false).concurrency(1);
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    tokio::time::timeout(GUARD, gate.started.notified())
        .await
        .expect("the worker never started a second claim");
    stop.shutdown();
    gate.open();
    let report = tokio::time::timeout(GUARD, running)
        .await
        .expect("the worker did not stop")
        .unwrap()
        .unwrap();
    assert_eq!(report.succeeded, 1, "{report:?}");
    let stats = queue.driver().stats().await.unwrap();
    assert_eq!(
        stats[0].reserved, 0,
        "claimed jobs were left leased: {stats:?}"
    );
    assert_eq!(stats[0].ready, JOBS_QUEUED as u64 - 1, "{stats:?}");
}
