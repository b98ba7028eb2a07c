//! How PostgreSQL workers wait: the LISTEN connection feeds these counters, and a
//! waiting worker returns as soon as one of its queues has news, or any queue this
//! process hears of for the first time (a worker serving every queue must learn of it).

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
    /// Whether the LISTEN connection is up; while it is not, notifications are lost.
    listening: bool,
}

impl State {
    fn news_for(&self, queues: &[String]) -> bool {
        self.everything > self.seen_everything
            || queues.iter().any(|q| {
                self.pushed.get(q).copied().unwrap_or(0) > self.seen.get(q).copied().unwrap_or(0)
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
        let mut state = self.state();
        match state.pushed.get_mut(queue) {
            Some(count) => *count += 1,
            None => {
                state.pushed.insert(queue.to_string(), 1);
                state.everything += 1;
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// The LISTEN connection is up (after any gap, notifications may have been missed:
    /// every waiter should look again) or down.
    pub fn listening(&self, up: bool) {
        let mut state = self.state();
        state.listening = up;
        if up {
            state.everything += 1;
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Whether notifications arrive now; while they do not, waiters must poll.
    pub fn is_listening(&self) -> bool {
        self.state().listening
    }

    /// A reservation on `queues` is starting: what was pushed so far is seen.
    pub fn reserving(&self, queues: &[&str]) {
        let mut state = self.state();
        for q in queues {
            let n = state.pushed.get(*q).copied().unwrap_or(0);
            state.seen.insert(q.to_string(), n);
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
