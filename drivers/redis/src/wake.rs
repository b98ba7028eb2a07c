//! Waiting for work without polling: idle workers block in `BLPOP` on the signal
//! lists of their queues, which every push to a ready list feeds with a token.
//!
//! Blocking calls get their own connections (never the shared command connection, which
//! a blocked call would stall). A few are kept for reuse; one that failed or was
//! abandoned mid-wait is dropped, which also unblocks it on the server.
//!
//! A claim also learns when its queue next needs a look (the first scheduled job or
//! lease deadline); `wait` wakes by then, so scheduled jobs and rescues run on time.

use crate::error;
use rakit_job_core::{DriverError, Millis, now_ms};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The shortest wait sent to the server (a `BLPOP` timeout of 0 would block forever).
const MIN_BLOCK: Duration = Duration::from_millis(10);

/// How long past its own timeout a blocked call may take before it is abandoned.
const GRACE: Duration = Duration::from_secs(3);

/// How many idle blocking connections are kept per driver.
const KEEP_IDLE: usize = 8;

/// The blocking side of one driver.
pub(crate) struct Waiter {
    client: redis::Client,
    store: String,
    idle: Mutex<Vec<MultiplexedConnection>>,
    /// Per queue, when (client clock, ms) it next needs a look even without a push.
    next_due: Mutex<HashMap<String, Millis>>,
}

impl Waiter {
    pub(crate) fn new(client: redis::Client, store: String) -> Self {
        Waiter { client, store, idle: Mutex::default(), next_due: Mutex::default() }
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
    pub(crate) async fn wait(&self, queues: &[String], signals: Vec<String>, timeout: Duration) -> Result<(), DriverError> {
        let timeout = self.shorten(queues, timeout);
        if timeout.is_zero() || signals.is_empty() {
            tokio::time::sleep(timeout).await;
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let block = timeout.max(MIN_BLOCK);
        let seconds = format!("{:.3}", block.as_secs_f64());
        let popped = tokio::time::timeout(
            block + GRACE,
            redis::cmd("BLPOP").arg(&signals).arg(seconds).query_async::<Option<(String, String)>>(&mut conn),
        )
        .await;
        match popped {
            Ok(Ok(_)) => {
                let mut idle = lock(&self.idle);
                if idle.len() < KEEP_IDLE {
                    idle.push(conn);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(error(&self.store, e)),
            // The server did not answer in time; drop the connection and let the
            // next command report what is wrong.
            Err(_) => Ok(()),
        }
    }

    /// The timeout, cut short when a queue falls due sooner. The due times it used are
    /// forgotten: the claim that follows the wait records fresh ones.
    fn shorten(&self, queues: &[String], timeout: Duration) -> Duration {
        let now = now_ms();
        let mut next = lock(&self.next_due);
        let mut out = timeout;
        for queue in queues {
            if let Some(at) = next.get(queue).copied() {
                let until = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                if until < out {
                    out = until;
                    next.remove(queue);
                }
            }
        }
        out
    }

    async fn connection(&self) -> Result<MultiplexedConnection, DriverError> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(crate::CONNECT_TIMEOUT))
            .set_response_timeout(None);
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| crate::unreachable(&self.store, &e))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
