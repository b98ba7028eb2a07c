//! Capacity locks, unique keys and unique windows, all kept in [`Cell`]s, so every change
//! is one rename (or the exclusive creation of a cell) and a crash never leaves one stuck.
//!
//! A lock of capacity N is N slot cells, `locks/<hash of key>/<slot>`, each holding
//! `<until>-<hash of owner>`: a request takes a free or expired slot below its capacity,
//! or renews the slot its owner holds, by compare-and-swap; racing requests compete for
//! the same N slots, so at most N win. The expiry is read from the name to the
//! millisecond, so a crashed holder's slot frees itself.
//!
//! A unique key's value is `<claimed_at>-<job id>-<p|l>`: `p` while the push that claimed
//! it is still writing the job, `l` once the job is in its queue. A job gives its key
//! back before it leaves its queue (ack, fail, cancel), so a live key always names a
//! stored job; a key still pending after [`STALE_CLAIM`] belongs to a push that crashed
//! and may be taken over. A unique window's value is `<until>-<job id>`: the key is
//! taken until then, whatever became of the job.

use crate::cell::Cell;
use crate::fsio::{self, io_error};
use crate::keys::{Layout, hashed, leading_time, padded_time};
use rakit_job_core::{DriverError, JobId, LockRequest, Locked, Millis, now_ms};

/// How long a pending unique key is honoured before it is taken for a crashed push's.
const STALE_CLAIM: Millis = fsio::STALE_TEMP.as_millis() as Millis;
/// How many times a contended lock or key is tried before giving up with an error.
const TRIES: usize = 100;

/// One slot of a lock as read: its number, its value, and what the value says.
struct Slot {
    cell: Cell,
    value: Option<String>,
    until: Millis,
    owner: String,
}

fn read_slots(layout: &Layout, key: &str, capacity: u32) -> Result<Vec<Slot>, DriverError> {
    let dir = layout.locks().join(hashed(key));
    let err = |e| io_error(&dir, e);
    (0..capacity.max(1))
        .map(|n| {
            let cell = Cell::new(&dir, &n.to_string(), false);
            let value = cell.read().map_err(err)?;
            // An unreadable value is treated as expired rather than held forever.
            let (until, owner) = value
                .as_deref()
                .and_then(leading_time)
                .map_or((0, ""), |(until, rest)| (until, rest));
            let owner = owner.strip_prefix('-').unwrap_or_default().to_string();
            Ok(Slot {
                cell,
                value,
                until,
                owner,
            })
        })
        .collect()
}

/// Puts `value` into a slot read as `slot`; false when someone changed it first.
fn take(slot: &Slot, value: &str) -> std::io::Result<bool> {
    match &slot.value {
        None => slot.cell.create(value),
        Some(current) => slot.cell.swap(current, value),
    }
}

/// Takes or renews one of the holds on a key.
pub(crate) fn lock(layout: &Layout, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
    let me = hashed(request.owner);
    let err = |e| io_error(&layout.locks(), e);
    for _ in 0..TRIES {
        let slots = read_slots(layout, request.key, request.capacity)?;
        let now = now_ms();
        let value = format!("{}-{me}", padded_time(now + request.ttl_ms));
        let mine = slots.iter().find(|s| s.value.is_some() && s.owner == me);
        let free = || slots.iter().find(|s| s.value.is_none() || s.until <= now);
        match mine.or_else(free) {
            Some(slot) => {
                if take(slot, &value).map_err(err)? {
                    return Ok(Locked::Taken);
                }
            }
            None => {
                let until = slots.iter().map(|s| s.until).min().unwrap_or(now);
                return Ok(Locked::Busy { until });
            }
        }
    }
    Err(DriverError::store(format!(
        "the lock {:?} is too contended; try again",
        request.key
    )))
}

/// Frees the hold `owner` has on `key`, if any. Only slots below the largest capacity a
/// request asked for can hold it; those are the ones a key folder has.
pub(crate) fn unlock(layout: &Layout, key: &str, owner: &str) -> Result<(), DriverError> {
    let dir = layout.locks().join(hashed(key));
    let slots = fsio::subfolders(&dir).map_err(|e| io_error(&dir, e))?;
    let me = hashed(owner);
    for name in slots.iter().filter(|n| !n.starts_with('.')) {
        let cell = Cell::new(&dir, name, false);
        if let Some(current) = cell.read().map_err(|e| io_error(&dir, e))?
            && leading_time(&current).and_then(|(_, rest)| rest.strip_prefix('-')) == Some(&me)
        {
            cell.clear(&current).map_err(|e| io_error(&dir, e))?;
        }
    }
    Ok(())
}

/// A claim on a unique key, to be confirmed once the job is in its queue.
pub(crate) struct Claim {
    cell: Cell,
    value: String,
}

fn unique_cell(layout: &Layout, key: &str) -> Cell {
    Cell::new(&layout.unique(), &hashed(key), true)
}

/// Claims `key` for job `id`; `None` while another stored job (or a push in progress) holds it.
pub(crate) fn claim_unique(
    layout: &Layout,
    key: &str,
    id: &JobId,
) -> Result<Option<Claim>, DriverError> {
    let cell = unique_cell(layout, key);
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

/// The holder named in a unique key's value, and whether its claim is still pending.
fn unique_holder(value: &str) -> Option<(&str, bool)> {
    let rest = leading_time(value)?.1.strip_prefix('-')?;
    match rest.strip_suffix("-p") {
        Some(id) => Some((id, true)),
        None => Some((rest.strip_suffix("-l")?, false)),
    }
}

/// Marks `key` as held by the stored job `id`, if `id` claimed it and it is still pending
/// (a push or a follow-up found half-way after a crash).
pub(crate) fn confirm_unique(layout: &Layout, key: &str, id: &JobId) -> Result<(), DriverError> {
    let cell = unique_cell(layout, key);
    let err = |e| io_error(&layout.unique(), e);
    if let Some(current) = cell.read().map_err(err)?
        && unique_holder(&current) == Some((id.as_str(), true))
    {
        let live = format!("{}l", current.trim_end_matches('p'));
        cell.swap(&current, &live).map_err(err)?;
    }
    Ok(())
}

/// Gives `key` back if job `id` holds it.
pub(crate) fn release_unique(layout: &Layout, key: &str, id: &JobId) -> Result<(), DriverError> {
    let cell = unique_cell(layout, key);
    let err = |e| io_error(&layout.unique(), e);
    if let Some(current) = cell.read().map_err(err)?
        && unique_holder(&current).is_some_and(|(holder, _)| holder == id.as_str())
    {
        cell.clear(&current).map_err(err)?;
    }
    Ok(())
}

fn window_cell(layout: &Layout, key: &str) -> Cell {
    Cell::new(&layout.windows(), &hashed(key), true)
}

/// Opens the window of `key` for job `id` until now + `window_ms`; false while an earlier
/// push's window on the key is still open.
pub(crate) fn open_window(
    layout: &Layout,
    key: &str,
    id: &JobId,
    window_ms: Millis,
) -> Result<bool, DriverError> {
    let cell = window_cell(layout, key);
    let err = |e| io_error(&layout.windows(), e);
    for _ in 0..TRIES {
        let now = now_ms();
        let value = format!("{}-{id}", padded_time(now + window_ms));
        let opened = match cell.read().map_err(err)? {
            None => cell.create(&value).map_err(err)?,
            Some(current) => {
                let until = leading_time(&current).map_or(0, |(until, _)| until);
                if until > now {
                    return Ok(false);
                }
                cell.swap(&current, &value).map_err(err)?
            }
        };
        if opened {
            return Ok(true);
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

/// Closes the window of `key` if job `id` opened it (its push did not go through).
pub(crate) fn close_window(layout: &Layout, key: &str, id: &JobId) -> Result<(), DriverError> {
    let cell = window_cell(layout, key);
    let err = |e| io_error(&layout.windows(), e);
    if let Some(current) = cell.read().map_err(err)?
        && leading_time(&current).and_then(|(_, rest)| rest.strip_prefix('-')) == Some(id.as_str())
    {
        cell.clear(&current).map_err(err)?;
    }
    Ok(())
}

/// Removes windows that ran out, so keys pushed once do not leave a folder each forever.
pub(crate) fn sweep_windows(layout: &Layout) -> Result<(), DriverError> {
    let root = layout.windows();
    let now = now_ms();
    let names = fsio::subfolders(&root).map_err(|e| io_error(&root, e))?;
    for name in names.iter().filter(|n| !n.starts_with('.')) {
        let cell = Cell::new(&root, name, false);
        if let Ok(Some(current)) = cell.read()
            && leading_time(&current).is_none_or(|(until, _)| until <= now)
        {
            let _ = cell.clear(&current);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let root =
            std::env::temp_dir().join(format!("rakit-locks-{}", uuid::Uuid::new_v4().simple()));
        let layout = Layout::new(root);
        for dir in layout.fixed_folders() {
            std::fs::create_dir_all(dir).unwrap();
        }
        layout
    }

    fn ask<'a>(key: &'a str, capacity: u32, owner: &'a str, ttl_ms: Millis) -> LockRequest<'a> {
        LockRequest {
            key,
            capacity,
            owner,
            ttl_ms,
        }
    }

    #[test]
    fn a_key_left_pending_by_a_crashed_push_is_taken_over_only_once_stale() {
        let layout = layout();
        let crashed = JobId::generate();
        let cell = unique_cell(&layout, "k");
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
        let other = JobId::generate();
        assert!(claim_unique(&layout, "k", &other).unwrap().is_some());
        confirm_unique(&layout, "k", &other).unwrap();
        assert_eq!(
            cell.read().unwrap().as_deref().and_then(unique_holder),
            Some((other.as_str(), false))
        );
        std::fs::remove_dir_all(layout.root()).unwrap();
    }

    #[test]
    fn an_expired_lock_is_taken_over_and_its_old_owner_cannot_free_it() {
        let layout = layout();
        assert_eq!(lock(&layout, &ask("k", 1, "a", 1)).unwrap(), Locked::Taken);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(
            lock(&layout, &ask("k", 1, "b", 60_000)).unwrap(),
            Locked::Taken
        );
        unlock(&layout, "k", "a").unwrap();
        assert!(matches!(
            lock(&layout, &ask("k", 1, "c", 60_000)).unwrap(),
            Locked::Busy { .. }
        ));
        std::fs::remove_dir_all(layout.root()).unwrap();
    }

    #[test]
    fn a_window_holds_its_key_until_it_runs_out_and_only_its_opener_closes_it() {
        let layout = layout();
        let (first, second) = (JobId::generate(), JobId::generate());
        assert!(open_window(&layout, "w", &first, 60_000).unwrap());
        assert!(!open_window(&layout, "w", &second, 60_000).unwrap());
        close_window(&layout, "w", &second).unwrap();
        assert!(!open_window(&layout, "w", &second, 60_000).unwrap());
        close_window(&layout, "w", &first).unwrap();
        assert!(open_window(&layout, "w", &second, 1).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
        sweep_windows(&layout).unwrap();
        assert!(fsio::subfolders(&layout.windows()).unwrap().is_empty());
        std::fs::remove_dir_all(layout.root()).unwrap();
    }
}
