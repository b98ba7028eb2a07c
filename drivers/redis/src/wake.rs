//! Waiting for work without polling: idle workers block in `BLPOP` on the signal
//! lists of their queues, which every push to a ready list feeds with a token.
//!
//! Each queue's blocking call runs in its own task on its own connection (never the
//! shared command connection, which a blocked call would stall). A worker often drops its
//! `wait` early (a running job finished); the call then carries on in the background:
//! the next `wait` on the same queues joins it instead of opening another connection,
//! and a token it pops with nobody listening makes the next `wait` return at once, so
//! no wake-up is lost.
//!
//! A claim also learns when its queue next needs a look (the first scheduled job or
//! lease deadline); `wait` returns by then, so scheduled jobs and rescues run on time.

use crate::conn::{Blocking, Server};
use crate::lost;
use rakit_job_core::{DriverError, Millis, now_ms};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The shortest wait sent to the server (a `BLPOP` timeout of 0 would block forever).
const MIN_BLOCK: Duration = Duration::from_millis(10);

/// How long past its own timeout a blocked call may take before it is abandoned.
const GRACE: Duration = Duration::from_secs(3);

/// How many idle blocking connections are kept per driver.
const KEEP_IDLE: usize = 8;

/// How a blocking call ended.
#[derive(Clone, Debug)]
enum Ended {
    /// It popped a token: something was pushed.
    Woken,
    /// Its time ran out.
    TimedOut,
    /// The server failed or could not be reached.
    Failed { unreachable: bool, reason: String },
}

/// A blocking call in flight, which later waits on the same queues join.
struct InFlight {
    id: u64,
    ended: watch::Receiver<Option<Ended>>,
}

/// What the blocking tasks share with the driver.
struct Shared {
    server: Server,
    store: String,
    idle: Mutex<Vec<Blocking>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// A token was popped while nobody was waiting.
    missed: AtomicBool,
    next_id: AtomicU64,
}

/// The blocking side of one driver.
pub(crate) struct Waiter {
    shared: Arc<Shared>,
    /// Per queue, when (client clock, ms) it next needs a look even without a push.
    next_due: Mutex<HashMap<String, Millis>>,
}

impl Waiter {
    pub(crate) fn new(server: Server, store: String) -> Self {
        let shared = Shared {
            server,
            store,
            idle: Mutex::default(),
            in_flight: Mutex::default(),
            missed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
        };
        Waiter {
            shared: Arc::new(shared),
            next_due: Mutex::default(),
        }
    }

    /// Records when `queue` next needs a look, `None` when nothing is scheduled or leased.
    pub(crate) fn due_in(&self, queue: &str, due_in: Option<Millis>) {
        let mut next = lock(&self.next_due);
        match due_in {
            Some(ms) => next.insert(queue.to_string(), now_ms() + ms),
            None => next.remove(queue),
        };
    }

    /// Notes a job this process scheduled for `at`, so a waiter here wakes for it.
    pub(crate) fn scheduled(&self, queue: &str, at: Millis) {
        if at <= now_ms() {
            return;
        }
        let mut next = lock(&self.next_due);
        let due = next.entry(queue.to_string()).or_insert(at);
        *due = (*due).min(at);
    }

    /// Blocks until a token arrives on one of `signals` (keys of `queues`), a queue
    /// falls due, or `timeout` passes.
    ///
    /// Each signal list gets its own blocking call: the queues live in different
    /// Cluster slots, and one `BLPOP` may only name keys of one slot.
    pub(crate) async fn wait(
        &self,
        queues: &[String],
        signals: Vec<String>,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let timeout = self.shorten(queues, timeout);
        let deadline = Instant::now() + timeout;
        if timeout.is_zero() || signals.is_empty() {
            tokio::time::sleep(timeout).await;
            return Ok(());
        }
        loop {
            if self.shared.missed.swap(false, Ordering::AcqRel) {
                return Ok(());
            }
            let calls = signals
                .iter()
                .map(|signal| self.join_or_start(signal, deadline))
                .collect();
            match tokio::time::timeout_at(deadline, first_ended(calls)).await {
                // Our own time ran out; the calls go on for the next wait to join.
                Err(_) => return Ok(()),
                Ok(Ended::Woken) => {
                    self.shared.missed.store(false, Ordering::Release);
                    return Ok(());
                }
                Ok(Ended::Failed {
                    unreachable,
                    reason,
                }) => {
                    let store = self.shared.store.clone();
                    return Err(if unreachable {
                        DriverError::Unreachable { store, reason }
                    } else {
                        DriverError::store(format!("{store}: {reason}"))
                    });
                }
                // A call started for an earlier, shorter wait ended; block again.
                Ok(Ended::TimedOut) => {
                    if Instant::now() + MIN_BLOCK >= deadline {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The blocking call on `signal` in flight, or a new one lasting until `deadline`.
    fn join_or_start(&self, signal: &str, deadline: Instant) -> watch::Receiver<Option<Ended>> {
        let mut in_flight = lock(&self.shared.in_flight);
        if let Some(call) = in_flight.get(signal)
            && call.ended.borrow().is_none()
        {
            return call.ended.clone();
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        in_flight.insert(
            signal.to_string(),
            InFlight {
                id,
                ended: rx.clone(),
            },
        );
        let block = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_BLOCK);
        tokio::spawn(block_once(
            self.shared.clone(),
            id,
            signal.to_string(),
            block,
            tx,
        ));
        rx
    }

    /// The timeout, cut short when a queue falls due sooner. The due times it used are
    /// forgotten: the claim that follows the wait records fresh ones.
    fn shorten(&self, queues: &[String], timeout: Duration) -> Duration {
        let now = now_ms();
        let mut next = lock(&self.next_due);
        let mut out = timeout;
        for queue in queues {
            if let Some(at) = next.get(queue).copied() {
                let until =
                    Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0));
                if until < out {
                    out = until;
                    next.remove(queue);
                }
            }
        }
        out
    }
}

/// How the first of `calls` ended.
async fn first_ended(calls: Vec<watch::Receiver<Option<Ended>>>) -> Ended {
    let mut calls: Vec<Pin<Box<dyn Future<Output = Ended> + Send>>> = calls
        .into_iter()
        .map(|mut rx| {
            Box::pin(async move {
                // A sender dropped without a word counts as a call that ran out of time.
                let _ = rx.wait_for(Option::is_some).await;
                rx.borrow().clone().unwrap_or(Ended::TimedOut)
            }) as Pin<Box<dyn Future<Output = Ended> + Send>>
        })
        .collect();
    std::future::poll_fn(|cx| {
        for call in &mut calls {
            if let Poll::Ready(ended) = call.as_mut().poll(cx) {
                return Poll::Ready(ended);
            }
        }
        Poll::Pending
    })
    .await
}

/// One `BLPOP` on its own connection, reporting how it ended.
async fn block_once(
    shared: Arc<Shared>,
    id: u64,
    signal: String,
    block: Duration,
    tx: watch::Sender<Option<Ended>>,
) {
    let ended = match connection(&shared).await {
        Err(e) => Ended::Failed {
            unreachable: true,
            reason: e.to_string(),
        },
        Ok(mut conn) => {
            let seconds = format!("{:.3}", block.as_secs_f64());
            let popped = tokio::time::timeout(
                block + GRACE,
                redis::cmd("BLPOP")
                    .arg(&signal)
                    .arg(seconds)
                    .query_async::<Option<(String, String)>>(&mut conn),
            )
            .await;
            match popped {
                Ok(Ok(token)) => {
                    let mut idle = lock(&shared.idle);
                    if idle.len() < KEEP_IDLE {
                        idle.push(conn);
                    }
                    if token.is_some() {
                        Ended::Woken
                    } else {
                        Ended::TimedOut
                    }
                }
                Ok(Err(e)) => Ended::Failed {
                    unreachable: lost(&e),
                    reason: e.to_string(),
                },
                // No answer in time: drop the connection; the next command says what is wrong.
                Err(_) => Ended::TimedOut,
            }
        }
    };
    if matches!(ended, Ended::Woken) {
        shared.missed.store(true, Ordering::Release);
    }
    {
        let mut in_flight = lock(&shared.in_flight);
        if in_flight.get(&signal).is_some_and(|call| call.id == id) {
            in_flight.remove(&signal);
        }
    }
    tx.send_replace(Some(ended));
}

async fn connection(shared: &Shared) -> Result<Blocking, redis::RedisError> {
    if let Some(conn) = lock(&shared.idle).pop() {
        return Ok(conn);
    }
    shared.server.blocking().await
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
