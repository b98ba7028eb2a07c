//! Where MySQL's last claim of each queue stopped, so that the next one starts there.
//!
//! InnoDB keeps the index entries of the rows a claim moved or an ack deleted until its
//! purge reaches them, and under load the purge lags a whole burn-down behind. A claim
//! that walks the claim index from its start steps over every one of those entries: in a
//! 20,000-job burn-down on MariaDB each claim took longer than the one before, from
//! 0.3 ms to 15 ms. A claim that starts after the last job the previous claim took skips
//! them. A job that lands behind that point (its insert committed late, its lease
//! expired, another host's clock is behind) is found by a walk from the start, which runs
//! whenever the walk from the cursor comes up short and at least every [`WALK_EVERY`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a claim keeps starting from a cursor before it walks from the start.
pub(crate) const WALK_EVERY: Duration = Duration::from_secs(1);

/// The last job a claim took: its due time and id, the claim index's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub available_at: i64,
    pub id: String,
}

#[derive(Debug)]
struct Cursor {
    after: Position,
    walked_at: Instant,
}

/// One cursor per queue and job name a worker claims from.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    at: Mutex<HashMap<(String, Option<String>), Cursor>>,
}

type Key<'a> = (&'a str, Option<&'a str>);

fn owned((queue, name): Key<'_>) -> (String, Option<String>) {
    (queue.to_string(), name.map(str::to_string))
}

impl Cursors {
    fn at(&self) -> MutexGuard<'_, HashMap<(String, Option<String>), Cursor>> {
        self.at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a claim of `key` may start, or `None` when it must walk from the start.
    pub fn start(&self, key: Key<'_>) -> Option<Position> {
        let at = self.at();
        let cursor = at.get(&owned(key))?;
        (cursor.walked_at.elapsed() < WALK_EVERY).then(|| cursor.after.clone())
    }

    /// Records a claim of `key`: `last` is the last job it took when it took all it asked
    /// for (`None` sends the next claim back to the start), `walked` whether it walked
    /// from the start.
    pub fn record(&self, key: Key<'_>, last: Option<Position>, walked: bool) {
        let mut at = self.at();
        let key = owned(key);
        let Some(after) = last else {
            at.remove(&key);
            return;
        };
        let walked_at = match at.get(&key) {
            Some(cursor) if !walked => cursor.walked_at,
            _ => Instant::now(),
        };
        at.insert(key, Cursor { after, walked_at });
    }

    /// Sends every next claim back to the start (a claim whose transaction failed may
    /// have moved a cursor past jobs it did not take).
    pub fn forget(&self) {
        self.at().clear();
    }

    /// Makes the cursor of `key` as old as [`WALK_EVERY`], for tests.
    #[cfg(test)]
    pub fn age(&self, key: Key<'_>) {
        let mut at = self.at();
        if let Some(cursor) = at.get_mut(&owned(key)) {
            cursor.walked_at = cursor
                .walked_at
                .checked_sub(WALK_EVERY)
                .unwrap_or(cursor.walked_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(available_at: i64, id: &str) -> Position {
        Position {
            available_at,
            id: id.into(),
        }
    }

    #[test]
    fn a_full_claim_moves_the_cursor_and_a_short_one_sends_the_next_to_the_start() {
        let cursors = Cursors::default();
        let key = ("default", None);
        assert_eq!(
            cursors.start(key),
            None,
            "the first claim walks from the start"
        );
        cursors.record(key, Some(at(5, "a")), true);
        assert_eq!(cursors.start(key), Some(at(5, "a")));
        assert_eq!(
            cursors.start(("default", Some("Mail"))),
            None,
            "names apart"
        );
        assert_eq!(cursors.start(("other", None)), None, "queues apart");
        cursors.record(key, Some(at(7, "b")), false);
        assert_eq!(cursors.start(key), Some(at(7, "b")));
        cursors.record(key, None, false);
        assert_eq!(cursors.start(key), None);
    }

    #[test]
    fn a_cursor_is_left_once_a_walk_from_the_start_is_due() {
        let cursors = Cursors::default();
        let key = ("default", None);
        cursors.record(key, Some(at(5, "a")), true);
        cursors.age(key);
        cursors.record(key, Some(at(6, "b")), false);
        assert_eq!(
            cursors.start(key),
            None,
            "a claim from the cursor keeps its age"
        );
        cursors.record(key, Some(at(9, "c")), true);
        assert_eq!(cursors.start(key), Some(at(9, "c")), "a walk renews it");
        cursors.forget();
        assert_eq!(cursors.start(key), None);
    }
}
