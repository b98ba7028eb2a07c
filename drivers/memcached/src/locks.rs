//! Capacity locks, unique keys and unique windows: taken with `add`, changed with
//! compare-and-swap.
//!
//! A lock's value lists its holders, each with its expiry in milliseconds, so expiry is
//! exact (memcached's own expiry, in whole seconds, only cleans up after it): a request
//! drops the holds that ran out, renews its own, or joins while there is room, all in one
//! compare-and-swap. A unique key's value is the id of the job holding it; a key whose
//! job is gone (finished, failed, evicted) is free and is taken over by compare-and-swap.
//! A window's value is its end in milliseconds and the job that opened it. Freeing writes
//! an empty value by compare-and-swap rather than deleting, so a slow holder can never
//! delete a key someone else took over in the meantime.

use crate::client::ttl_secs;
use crate::index::Index;
use crate::record::{Record, State};
use crate::server::Server;
use rakit_job_core::{DriverError, JobId, LockRequest, Locked, Millis, now_ms};
use serde::{Deserialize, Serialize};

/// How many conflicts in a row a lock or key operation tolerates.
const TRIES: usize = 64;
/// Freed locks and keys linger this long (seconds) before memcached drops them.
const FREED_TTL: u32 = 60;

#[derive(Clone, Serialize, Deserialize)]
struct Hold {
    owner: String,
    until: Millis,
}

fn holds_bytes(holds: &[Hold]) -> Vec<u8> {
    serde_json::to_vec(holds).expect("holds always serialize")
}

/// Takes or renews one of the holds on a key.
pub(crate) fn lock(server: &Server, request: &LockRequest<'_>) -> Result<Locked, DriverError> {
    let key = server.keys.lock(request.key);
    for _ in 0..TRIES {
        let now = now_ms();
        let mine = Hold {
            owner: request.owner.to_string(),
            until: now + request.ttl_ms,
        };
        let Some((bytes, cas)) = server.mc.get(&key)? else {
            let holds = [mine];
            if server
                .mc
                .add(&key, &holds_bytes(&holds), ttl_secs(request.ttl_ms))?
            {
                return Ok(Locked::Taken);
            }
            continue;
        };
        // An unreadable (or freed) value holds nothing.
        let mut holds: Vec<Hold> = serde_json::from_slice(&bytes).unwrap_or_default();
        holds.retain(|h| h.until > now && h.owner != request.owner);
        if holds.len() >= request.capacity.max(1) as usize {
            let until = holds.iter().map(|h| h.until).min().unwrap_or(now);
            return Ok(Locked::Busy { until });
        }
        holds.push(mine);
        let last = holds.iter().map(|h| h.until).max().unwrap_or(now);
        if server
            .mc
            .cas(&key, &holds_bytes(&holds), ttl_secs(last - now), cas)?
        {
            return Ok(Locked::Taken);
        }
    }
    Err(DriverError::store(format!(
        "the lock {:?} is too contended; try again",
        request.key
    )))
}

/// Gives up `owner`'s hold on `key`, if it has one.
pub(crate) fn unlock(server: &Server, key: &str, owner: &str) -> Result<(), DriverError> {
    let k = server.keys.lock(key);
    for _ in 0..TRIES {
        let Some((bytes, cas)) = server.mc.get(&k)? else {
            return Ok(());
        };
        let mut holds: Vec<Hold> = serde_json::from_slice(&bytes).unwrap_or_default();
        let before = holds.len();
        holds.retain(|h| h.owner != owner);
        if holds.len() == before {
            return Ok(());
        }
        let now = now_ms();
        let ttl = match holds.iter().map(|h| h.until).max() {
            Some(last) => ttl_secs(last - now),
            None => FREED_TTL,
        };
        if server.mc.cas(&k, &holds_bytes(&holds), ttl, cas)? {
            return Ok(());
        }
    }
    Err(DriverError::store(format!(
        "the lock {key:?} is too contended; try again"
    )))
}

/// Claims `key` for job `id`; false while another live job holds it. A key `id` holds
/// already is its own (a follow-up published again after a crash).
pub(crate) fn claim_unique(server: &Server, key: &str, id: &JobId) -> Result<bool, DriverError> {
    let k = server.keys.unique(key);
    for _ in 0..TRIES {
        if server.mc.add(&k, id.as_str().as_bytes(), 0)? {
            return Ok(true);
        }
        let Some((bytes, cas)) = server.mc.get(&k)? else {
            continue;
        };
        let holder = String::from_utf8_lossy(&bytes).to_string();
        if holder == id.as_str() {
            return Ok(true);
        }
        if !holder.is_empty() && holder_is_live(server, &holder)? {
            return Ok(false);
        }
        if server.mc.cas(&k, id.as_str().as_bytes(), 0, cas)? {
            return Ok(true);
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

/// Frees `key` if job `id` holds it.
pub(crate) fn release_unique(server: &Server, key: &str, id: &str) -> Result<(), DriverError> {
    free_if(server, &server.keys.unique(key), |value| {
        value == id.as_bytes()
    })
}

/// Writes an empty value over `k` while `held(value)`.
fn free_if(server: &Server, k: &str, held: impl Fn(&[u8]) -> bool) -> Result<(), DriverError> {
    for _ in 0..TRIES {
        let Some((bytes, cas)) = server.mc.get(k)? else {
            return Ok(());
        };
        if !held(&bytes) || server.mc.cas(k, b"", FREED_TTL, cas)? {
            return Ok(());
        }
    }
    Err(DriverError::store(format!(
        "the key {k} is too contended; try again"
    )))
}

/// True while the job `id` is waiting or running: its record is there, not finished or
/// failed, and either its push is under way or its queue index names it.
fn holder_is_live(server: &Server, id: &str) -> Result<bool, DriverError> {
    let key = server.keys.job(id);
    let Some((bytes, _)) = server.mc.get(&key)? else {
        return Ok(false);
    };
    let Ok(record) = Record::parse(&key, &bytes) else {
        return Ok(false);
    };
    let under_way = record.push_may_be_under_way(now_ms());
    match record.state {
        State::Staged => return Ok(under_way),
        State::Ready | State::Reserved if under_way => return Ok(true),
        State::Ready | State::Reserved => {}
        State::Failed | State::Done => return Ok(false),
    }
    // A push that died before publishing its entry left a record no worker can find.
    let Some(slot) = record.slot else {
        return Ok(false);
    };
    Index::queue(server, &record.queue).holds(server, slot, id)
}

#[derive(Serialize, Deserialize)]
struct Window {
    until: Millis,
    id: String,
}

/// Opens the window of `key` for job `id` until now + `window_ms`; false while an earlier
/// push's window on the key is still open.
pub(crate) fn open_window(
    server: &Server,
    key: &str,
    id: &JobId,
    window_ms: Millis,
) -> Result<bool, DriverError> {
    let k = server.keys.window(key);
    for _ in 0..TRIES {
        let now = now_ms();
        let value = serde_json::to_vec(&Window {
            until: now + window_ms,
            id: id.to_string(),
        })
        .expect("a window always serializes");
        if server.mc.add(&k, &value, ttl_secs(window_ms))? {
            return Ok(true);
        }
        let Some((bytes, cas)) = server.mc.get(&k)? else {
            continue;
        };
        // A window memcached keeps past its end (it counts whole seconds) is closed.
        if let Ok(open) = serde_json::from_slice::<Window>(&bytes)
            && open.until > now
        {
            return Ok(open.id == id.as_str());
        }
        if server.mc.cas(&k, &value, ttl_secs(window_ms), cas)? {
            return Ok(true);
        }
    }
    Err(DriverError::store(format!(
        "the unique key {key:?} is too contended; try again"
    )))
}

/// Closes the window of `key` if job `id` opened it (its push did not go through).
pub(crate) fn close_window(server: &Server, key: &str, id: &str) -> Result<(), DriverError> {
    free_if(server, &server.keys.window(key), |value| {
        serde_json::from_slice::<Window>(value).is_ok_and(|w| w.id == id)
    })
}
