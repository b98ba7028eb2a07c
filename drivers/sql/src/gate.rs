//! SQLite's writers in one process take turns here before they ask for the file's write
//! lock.
//!
//! SQLite lets one connection write at a time. A connection that finds the file locked
//! waits in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries, so two
//! connections of one worker (a claim and a batch of acks, say) cost each other at least a
//! millisecond whenever they meet. A profile of a burn-down counted hundreds of those
//! sleeps a second. Writers of the same process queue on this gate instead, in order and
//! without sleeping; other processes still meet at the file's lock and its busy timeout.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The turn of one writer; the next one goes when it is dropped.
pub(crate) type Turn = Option<OwnedMutexGuard<()>>;

/// Where a store's writers in this process wait for their turn; open to all when absent.
#[derive(Clone, Default)]
pub(crate) struct WriteGate {
    turns: Option<Arc<Mutex<()>>>,
    patience: Duration,
}

impl WriteGate {
    /// A gate for writers that must take turns. A writer that waited `patience` goes on
    /// without its turn, as it did before the gate: the file's own busy timeout then
    /// decides, so a writer that never gives its turn back delays others, never stops them.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub fn one_at_a_time(patience: Duration) -> Self {
        WriteGate {
            turns: Some(Arc::default()),
            patience,
        }
    }

    /// Waits for the turn of a writer: at once when the gate is open to all.
    pub async fn enter(&self) -> Turn {
        let turns = self.turns.clone()?;
        tokio::time::timeout(self.patience, turns.lock_owned())
            .await
            .ok()
    }

    /// [`enter`](Self::enter) for `sql` if it may write: any statement but a plain `SELECT`.
    pub async fn enter_for(&self, sql: &str) -> Turn {
        self.turns.as_ref()?;
        let reads = sql
            .trim_start()
            .get(..6)
            .is_some_and(|word| word.eq_ignore_ascii_case("select"));
        if reads { None } else { self.enter().await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_take_turns_and_readers_pass() {
        let gate = WriteGate::one_at_a_time(Duration::from_secs(60));
        let first = gate.enter_for("DELETE FROM jobs").await;
        assert!(first.is_some());
        assert!(gate.enter_for("  select 1").await.is_none());
        let second = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter_for("UPDATE jobs SET a = 1").await.is_some() }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !second.is_finished(),
            "a second writer went while the first wrote"
        );
        drop(first);
        assert!(second.await.unwrap());
    }

    #[tokio::test]
    async fn a_writer_that_waited_too_long_goes_without_its_turn() {
        let gate = WriteGate::one_at_a_time(Duration::from_millis(20));
        let _held = gate.enter().await;
        assert!(gate.enter().await.is_none());
    }

    #[tokio::test]
    async fn an_open_gate_never_waits() {
        let gate = WriteGate::default();
        let _a = gate.enter().await;
        assert!(gate.enter().await.is_none());
    }
}
