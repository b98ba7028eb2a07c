//! What a benchmark job does inside a worker process: count itself, and report how long
//! after its dispatch it started. Every system's no-op job calls [`ran`] and nothing else.

use crate::system::Payload;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};

static RAN: AtomicU64 = AtomicU64::new(0);
static EXPECT: AtomicU64 = AtomicU64::new(u64::MAX);
static LAST: OnceLock<Instant> = OnceLock::new();
static LATEST_US: AtomicU64 = AtomicU64::new(0);
static DONE: OnceLock<Notify> = OnceLock::new();
static LATENCY: OnceLock<mpsc::UnboundedSender<u64>> = OnceLock::new();

/// Microseconds since the Unix epoch (the clock shared by the bench and worker processes).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Records that a job carrying `payload` is running: counts it, notes when the expected
/// count is reached, and reports its pickup latency when latency is being measured.
pub fn ran(payload: &Payload) {
    if let Some(tx) = LATENCY.get() {
        let _ = tx.send(now_us().saturating_sub(payload.sent_us));
    }
    LATEST_US.fetch_max(now_us(), Ordering::AcqRel);
    let n = RAN.fetch_add(1, Ordering::AcqRel) + 1;
    if n == EXPECT.load(Ordering::Acquire) {
        let _ = LAST.set(Instant::now());
        done().notify_one();
    }
}

/// Jobs run so far in this process.
pub fn count() -> u64 {
    RAN.load(Ordering::Acquire)
}

/// When the latest job started, in microseconds since the Unix epoch (0 before any).
pub fn latest_us() -> u64 {
    LATEST_US.load(Ordering::Acquire)
}

/// Waits until `expected` jobs have run in this process and returns when the last one did.
pub async fn all_ran(expected: u64) -> Instant {
    EXPECT.store(expected, Ordering::Release);
    loop {
        let notified = done().notified();
        if let Some(at) = LAST.get() {
            return *at;
        }
        if count() >= expected {
            return *LAST.get_or_init(Instant::now);
        }
        notified.await;
    }
}

/// Starts reporting each job's pickup latency (microseconds) through the returned receiver.
pub fn report_latency() -> mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = LATENCY.set(tx);
    rx
}

fn done() -> &'static Notify {
    DONE.get_or_init(Notify::new)
}
