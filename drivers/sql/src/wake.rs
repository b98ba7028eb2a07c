//! How an idle worker waits: a polling backoff for SQLite and MySQL, and the
//! notification bookkeeping PostgreSQL's LISTEN connection feeds.

#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) use backoff::Backoff;

#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod backoff {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// The first pause after a reservation came back empty.
    pub(crate) const FIRST_PAUSE: Duration = Duration::from_millis(10);

    /// A poll pause that is short while work is flowing and doubles with every empty
    /// reservation, up to the worker's own `sleep_ms`.
    #[derive(Debug, Default)]
    pub(crate) struct Backoff {
        empty_in_a_row: AtomicU32,
    }

    impl Backoff {
        /// Records what a reservation found.
        pub fn record(&self, taken: usize) {
            if taken == 0 {
                let _ =
                    self.empty_in_a_row
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
}

#[cfg(feature = "postgres")]
pub(crate) use signals::Signals;

#[cfg(feature = "postgres")]
mod signals {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::sync::Notify;

    /// Counts notifications per queue, so a waiter can tell whether anything was pushed
    /// since the last reservation, even a push that came before `wait` was called.
    #[derive(Debug, Default)]
    pub(crate) struct Signals {
        state: Mutex<State>,
        changed: Notify,
    }

    #[derive(Debug, Default)]
    struct State {
        /// Notifications received per queue.
        pushed: HashMap<String, u64>,
        /// Times every queue must be looked at (the listener (re)connected and may have missed some).
        everything: u64,
        /// `pushed` and `everything` as they were when the last reservation began.
        seen: HashMap<String, u64>,
        seen_everything: u64,
    }

    impl State {
        fn news_for(&self, queues: &[String]) -> bool {
            self.everything > self.seen_everything
                || queues.iter().any(|q| {
                    self.pushed.get(q).copied().unwrap_or(0)
                        > self.seen.get(q).copied().unwrap_or(0)
                })
        }
    }

    impl Signals {
        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        /// A notification for `queue` arrived.
        pub fn pushed(&self, queue: &str) {
            *self.state().pushed.entry(queue.to_string()).or_default() += 1;
            self.changed.notify_waiters();
        }

        /// Notifications may have been missed: every waiter should look again.
        pub fn look_everywhere(&self) {
            self.state().everything += 1;
            self.changed.notify_waiters();
        }

        /// A reservation on `queues` is starting: what was pushed so far is seen.
        pub fn reserving(&self, queues: &[String]) {
            let mut state = self.state();
            for q in queues {
                let n = state.pushed.get(q).copied().unwrap_or(0);
                state.seen.insert(q.clone(), n);
            }
            state.seen_everything = state.everything;
        }

        /// Returns once something was pushed to one of `queues` since the last
        /// reservation, or after `timeout`.
        pub async fn wait(&self, queues: &[String], timeout: Duration) {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.state().news_for(queues) {
                    return;
                }
                if tokio::time::timeout_at(deadline, changed).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(all(test, any(feature = "sqlite", feature = "mysql")))]
mod tests {
    use super::backoff::*;
    use std::time::Duration;

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
