//! How workers wait on a store that cannot wake them (MySQL, memcached; SQLite where
//! its folder cannot be watched): polling, with a pause that is short while work flows
//! and grows while the queues are empty.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The first pause after a reservation came back empty.
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// A poll pause that is short while work is flowing and doubles with every empty
/// reservation, up to the worker's own `sleep_ms`. A store keeps one, records what each
/// reservation found, and waits with it.
///
/// ```
/// use rakit_job_core::Backoff;
/// use std::time::Duration;
/// let backoff = Backoff::default();
/// backoff.record(0);
/// assert_eq!(backoff.pause(Duration::from_secs(1)), Duration::from_millis(20));
/// backoff.record(5);
/// assert_eq!(backoff.pause(Duration::from_secs(1)), Duration::from_millis(10));
/// ```
#[derive(Debug, Default)]
pub struct Backoff {
    empty_in_a_row: AtomicU32,
}

impl Backoff {
    /// Records what a reservation found.
    pub fn record(&self, taken: usize) {
        if taken == 0 {
            let _ = self
                .empty_in_a_row
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_add(1))
                });
        } else {
            self.empty_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// How long to sleep now, never more than `cap`.
    pub fn pause(&self, cap: Duration) -> Duration {
        let doublings = self.empty_in_a_row.load(Ordering::Relaxed).min(16);
        FIRST_PAUSE.saturating_mul(1 << doublings).min(cap)
    }

    /// Sleeps for [`Backoff::pause`].
    pub async fn wait(&self, cap: Duration) {
        tokio::time::sleep(self.pause(cap)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_short_while_busy_and_grows_when_idle() {
        let b = Backoff::default();
        let cap = Duration::from_secs(1);
        b.record(3);
        assert_eq!(b.pause(cap), FIRST_PAUSE);
        b.record(0);
        b.record(0);
        assert_eq!(b.pause(cap), FIRST_PAUSE * 4);
        for _ in 0..20 {
            b.record(0);
        }
        assert_eq!(b.pause(cap), cap);
        b.record(1);
        assert_eq!(b.pause(cap), FIRST_PAUSE);
    }
}
