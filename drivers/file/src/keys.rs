//! No-overlap locks and unique keys, both kept in [`Cell`]s.
//!
//! A lock cell's value is `<until>-<hash of owner>`: the expiry is read from the name, to
//! the millisecond, so a crashed holder's lock frees itself. A unique key's value is
//! `<claimed_at>-<job id>-<p|l>`: `p` while the push that claimed it is still writing the
//! job, `l` once the job is in its queue. A job gives its key back before it leaves its
//! queue (ack or fail), so a live key always names a stored job; a key still pending
//! after [`STALE_CLAIM`] belongs to a push that crashed and may be taken over.

use crate::cell::Cell;
use crate::fsio::{self, io_error};
use crate::layout::{Layout, hashed, leading_time, padded_time};
use rakit_job_core::{DriverError, JobId, Millis, now_ms};

/// How long a pending unique key is honoured before it is taken for a crashed push's.
const STALE_CLAIM: Millis = fsio::STALE_TEMP.as_millis() as Millis;
/// How many times a contended lock or key is tried before giving up with an error.
const TRIES: usize = 100;

/// Takes the lock `key` for `owner` until now + `ttl_ms`; false while another owner holds it.
pub(crate) fn lock(
    layout: &Layout,
    key: &str,
    owner: &str,
    ttl_ms: Millis,
) -> Result<bool, DriverError> {
    let cell = Cell::new(&layout.locks(), key, false);
    let me = hashed(owner);
    let err = |e| io_error(&layout.locks(), e);
    for _ in 0..TRIES {
        let now = now_ms();
        let value = format!("{}-{me}", padded_time(now + ttl_ms));
        match cell.read().map_err(err)? {
            None => {
                if cell.create(&value).map_err(err)? {
                    return Ok(true);
                }
            }
            Some(current) => {
                // An unreadable value is treated as expired rather than held forever.
                let (until, holder) = leading_time(&current).unwrap_or((0, ""));
                if holder.strip_prefix('-') != Some(me.as_str()) && until > now {
                    return Ok(false);
                }
                if cell.swap(&current, &value).map_err(err)? {
                    return Ok(true);
                }
            }
        }
    }
    Err(DriverError::store(format!(
        "the lock {key:?} is too contended; try again"
    )))
}

/// Frees the lock `key` if `owner` holds it.
pub(crate) fn unlock(layout: &Layout, key: &str, owner: &str) -> Result<(), DriverError> {
    let cell = Cell::new(&layout.locks(), key, false);
    let me = hashed(owner);
    let err = |e| io_error(&layout.locks(), e);
    if let Some(current) = cell.read().map_err(err)? {
        let holder = leading_time(&current).map(|(_, rest)| rest);
        if holder.and_then(|h| h.strip_prefix('-')) == Some(me.as_str()) {
            cell.clear(&current).map_err(err)?;
        }
    }
    Ok(())
}

/// A claim on a unique key, to be confirmed once the job is in its queue.
pub(crate) struct Claim {
    cell: Cell,
    value: String,
}

/// Claims `key` for job `id`; `None` while another stored job (or a push in progress) holds it.
pub(crate) fn claim_unique(
    layout: &Layout,
    key: &str,
    id: &JobId,
) -> Result<Option<Claim>, DriverError> {
    let cell = Cell::new(&layout.unique(), key, true);
    let err = |e| io_error(&layout.unique(), e);
    for _ in 0..TRIES {
        let now = now_ms();
        let value = format!("{}-{id}-p", padded_time(now));
        let won = match cell.read().map_err(err)? {
            None => cell.create(&value).map_err(err)?,
            Some(current) => {
                let pending_since = match leading_time(&current) {
                    Some((claimed_at, rest)) if rest.ends_with("-p") => claimed_at,
                    Some(_) => return Ok(None),
                    None => 0,
                };
                if now - pending_since < STALE_CLAIM {
                    return Ok(None);
                }
                tracing::warn!(
                    key,
                    "taking over a unique key left by a push that did not finish"
                );
                cell.swap(&current, &value).map_err(err)?
            }
        };
        if won {
            return Ok(Some(Claim { cell, value }));
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

impl Claim {
    /// Marks the key as held by a stored job.
    pub(crate) fn confirm(self, layout: &Layout) -> Result<(), DriverError> {
        let live = format!("{}l", self.value.trim_end_matches('p'));
        self.cell
            .swap(&self.value, &live)
            .map_err(|e| io_error(&layout.unique(), e))?;
        Ok(())
    }

    /// Gives the key back after the push failed.
    pub(crate) fn abandon(self) {
        let _ = self.cell.clear(&self.value);
    }
}

/// Gives `key` back if job `id` holds it.
pub(crate) fn release_unique(layout: &Layout, key: &str, id: &JobId) -> Result<(), DriverError> {
    let cell = Cell::new(&layout.unique(), key, true);
    let err = |e| io_error(&layout.unique(), e);
    if let Some(current) = cell.read().map_err(err)? {
        let holder = leading_time(&current).and_then(|(_, rest)| rest.strip_prefix('-'));
        if holder.is_some_and(|h| h.starts_with(id.as_str())) {
            cell.clear(&current).map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let root =
            std::env::temp_dir().join(format!("rakit-keys-{}", uuid::Uuid::new_v4().simple()));
        let layout = Layout::new(root);
        std::fs::create_dir_all(layout.unique()).unwrap();
        layout
    }

    #[test]
    fn a_key_left_pending_by_a_crashed_push_is_taken_over_only_once_stale() {
        let layout = layout();
        let crashed = JobId::generate();
        let cell = Cell::new(&layout.unique(), "k", false);
        let long_ago = now_ms() - STALE_CLAIM - 1_000;
        assert!(
            cell.create(&format!("{}-{crashed}-p", padded_time(long_ago)))
                .unwrap()
        );
        let me = JobId::generate();
        let claim = claim_unique(&layout, "k", &me)
            .unwrap()
            .expect("a stale pending key is free");
        // A fresh pending claim, and then a confirmed one, both hold the key.
        assert!(
            claim_unique(&layout, "k", &JobId::generate())
                .unwrap()
                .is_none()
        );
        claim.confirm(&layout).unwrap();
        assert!(
            claim_unique(&layout, "k", &JobId::generate())
                .unwrap()
                .is_none()
        );
        // Only the holder gives it back.
        release_unique(&layout, "k", &crashed).unwrap();
        assert!(
            claim_unique(&layout, "k", &JobId::generate())
                .unwrap()
                .is_none()
        );
        release_unique(&layout, "k", &me).unwrap();
        assert!(
            claim_unique(&layout, "k", &JobId::generate())
                .unwrap()
                .is_some()
        );
        std::fs::remove_dir_all(layout.root()).unwrap();
    }

    #[test]
    fn an_expired_lock_is_taken_over_and_its_old_owner_cannot_free_it() {
        let layout = layout();
        std::fs::create_dir_all(layout.locks()).unwrap();
        assert!(lock(&layout, "k", "a", 1).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(lock(&layout, "k", "b", 60_000).unwrap());
        unlock(&layout, "k", "a").unwrap();
        assert!(!lock(&layout, "k", "c", 60_000).unwrap());
        std::fs::remove_dir_all(layout.root()).unwrap();
    }
}
