//! No-overlap locks and unique keys: taken with `add`, changed with compare-and-swap.
//!
//! A lock's value holds its owner and its expiry in milliseconds, so expiry is exact
//! (memcached's own expiry, in whole seconds, only cleans up after it). A unique key's
//! value is the id of the job holding it; a key whose job is gone (finished, failed,
//! evicted) is free and is taken over by compare-and-swap. Freeing writes an empty value
//! by compare-and-swap rather than deleting, so a slow holder can never delete a key
//! someone else took over in the meantime.

use crate::index::Index;
use crate::record::{Record, State};
use crate::store::Store;
use rakit_job_core::{DriverError, JobId, Millis, now_ms};
use serde::{Deserialize, Serialize};

/// How many conflicts in a row a lock or key operation tolerates.
const TRIES: usize = 64;
/// Freed locks and keys linger this long (seconds) before memcached drops them.
const FREED_TTL: u32 = 60;

#[derive(Serialize, Deserialize)]
struct LockValue {
    owner: String,
    until: Millis,
}

/// Whole seconds for memcached's own expiry: past the precise one, never zero (forever).
fn ttl_secs(ttl_ms: Millis) -> u32 {
    let secs = (ttl_ms.max(0) as u64).div_ceil(1000) + 1;
    secs.min(u32::MAX as u64) as u32
}

/// Takes the lock `key` for `owner` until now + `ttl_ms`; false while another owner holds it.
pub(crate) fn lock(
    store: &Store,
    key: &str,
    owner: &str,
    ttl_ms: Millis,
) -> Result<bool, DriverError> {
    let k = store.keys.lock(key);
    for _ in 0..TRIES {
        let now = now_ms();
        let mine = serde_json::to_vec(&LockValue {
            owner: owner.to_string(),
            until: now + ttl_ms,
        })
        .expect("a lock value always serializes");
        if store.mc.add(&k, &mine, ttl_secs(ttl_ms))? {
            return Ok(true);
        }
        let Some((bytes, cas)) = store.mc.get(&k)? else {
            continue;
        };
        // A freed (empty) or unreadable value is a free lock.
        if let Ok(held) = serde_json::from_slice::<LockValue>(&bytes)
            && held.owner != owner
            && held.until > now
        {
            return Ok(false);
        }
        if store.mc.cas(&k, &mine, ttl_secs(ttl_ms), cas)? {
            return Ok(true);
        }
    }
    Err(DriverError::store(format!(
        "the lock {key:?} is too contended; try again"
    )))
}

/// Frees the lock `key` if `owner` holds it.
pub(crate) fn unlock(store: &Store, key: &str, owner: &str) -> Result<(), DriverError> {
    let k = store.keys.lock(key);
    for _ in 0..TRIES {
        let Some((bytes, cas)) = store.mc.get(&k)? else {
            return Ok(());
        };
        match serde_json::from_slice::<LockValue>(&bytes) {
            Ok(held) if held.owner == owner => {
                if store.mc.cas(&k, b"", FREED_TTL, cas)? {
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
    }
    Err(DriverError::store(format!(
        "the lock {key:?} is too contended; try again"
    )))
}

/// Claims `key` for job `id`; false while another live job holds it.
pub(crate) fn claim_unique(store: &Store, key: &str, id: &JobId) -> Result<bool, DriverError> {
    let k = store.keys.unique(key);
    for _ in 0..TRIES {
        if store.mc.add(&k, id.as_str().as_bytes(), 0)? {
            return Ok(true);
        }
        let Some((bytes, cas)) = store.mc.get(&k)? else {
            continue;
        };
        let holder = String::from_utf8_lossy(&bytes).to_string();
        if !holder.is_empty() && holder_is_live(store, &holder)? {
            return Ok(false);
        }
        if store.mc.cas(&k, id.as_str().as_bytes(), 0, cas)? {
            return Ok(true);
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

/// Frees `key` if job `id` holds it.
pub(crate) fn release_unique(store: &Store, key: &str, id: &str) -> Result<(), DriverError> {
    let k = store.keys.unique(key);
    for _ in 0..TRIES {
        let Some((bytes, cas)) = store.mc.get(&k)? else {
            return Ok(());
        };
        if bytes != id.as_bytes() || store.mc.cas(&k, b"", FREED_TTL, cas)? {
            return Ok(());
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

/// True while the job `id` is waiting or running: its record is there, not finished or
/// failed, and either its push is under way or its queue index names it.
fn holder_is_live(store: &Store, id: &str) -> Result<bool, DriverError> {
    let key = store.keys.job(id);
    let Some((bytes, _)) = store.mc.get(&key)? else {
        return Ok(false);
    };
    let Ok(record) = Record::parse(&key, &bytes) else {
        return Ok(false);
    };
    if !matches!(record.state, State::Ready | State::Reserved) {
        return Ok(false);
    }
    if record.push_may_be_under_way(now_ms()) {
        return Ok(true);
    }
    // A push that died before publishing its entry left a record no worker can find.
    let Some(slot) = record.slot else {
        return Ok(false);
    };
    Index::new(store.keys.queue_index(&record.queue)).holds(store, slot, id)
}
