//! Control entries (paused queues, worker heartbeats). memcached cannot list keys, so each
//! kind keeps the list of its keys (`<prefix>:entries:<hash of kind>`) beside one value
//! per entry (`<prefix>:entry:<hash of kind>:<hash of key>`) holding the key, the value
//! and when it runs out, to the millisecond (memcached's own expiry, in whole seconds,
//! only cleans up after it).
//!
//! A put writes the entry, then rewrites the list by compare-and-swap even when the key
//! is in it already; a listing drops from the list the keys whose entry ran out, by
//! compare-and-swap too. So a put that lands while a listing prunes makes the prune fail
//! rather than lose the key.

use crate::client::ttl_secs;
use crate::server::Server;
use rakit_job_core::{DriverError, Millis, now_ms};
use serde::{Deserialize, Serialize};

const TRIES: usize = 64;

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    value: String,
    until: Option<Millis>,
}

/// Rewrites the key list of `kind` with `edit` applied, by compare-and-swap; false when
/// another writer came first and `give_up_on_conflict`.
fn edit_list(
    server: &Server,
    kind: &str,
    give_up_on_conflict: bool,
    edit: impl Fn(&mut Vec<String>),
) -> Result<bool, DriverError> {
    let list = server.keys.entry_list(kind);
    for _ in 0..TRIES {
        let written = match server.mc.get(&list)? {
            None => {
                let mut keys = Vec::new();
                edit(&mut keys);
                server.mc.add(&list, &to_bytes(&keys), 0)?
            }
            Some((bytes, cas)) => {
                let mut keys: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
                edit(&mut keys);
                server.mc.cas(&list, &to_bytes(&keys), 0, cas)?
            }
        };
        if written || give_up_on_conflict {
            return Ok(written);
        }
    }
    Err(DriverError::store(format!(
        "the {kind:?} entries are too contended; try again"
    )))
}

fn to_bytes(keys: &[String]) -> Vec<u8> {
    serde_json::to_vec(keys).expect("keys serialize")
}

/// Sets the entry `key` of `kind`.
pub(crate) fn put(
    server: &Server,
    kind: &str,
    key: &str,
    value: &str,
    ttl_ms: Option<Millis>,
) -> Result<(), DriverError> {
    let entry = Entry {
        key: key.to_string(),
        value: value.to_string(),
        until: ttl_ms.map(|ttl| now_ms() + ttl),
    };
    let bytes = serde_json::to_vec(&entry).expect("an entry always serializes");
    server.mc.set(
        &server.keys.entry(kind, key),
        &bytes,
        ttl_ms.map_or(0, ttl_secs),
    )?;
    edit_list(server, kind, false, |keys| {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    })?;
    Ok(())
}

/// Reads one entry: its live value and its compare-and-swap token, or the token of a
/// value that ran out.
fn read(
    server: &Server,
    kind: &str,
    key: &str,
) -> Result<Option<(Option<String>, u64)>, DriverError> {
    let Some((bytes, cas)) = server.mc.get(&server.keys.entry(kind, key))? else {
        return Ok(None);
    };
    let now = now_ms();
    let live = serde_json::from_slice::<Entry>(&bytes)
        .ok()
        .filter(|e| e.until.is_none_or(|until| until > now))
        .map(|e| e.value);
    Ok(Some((live, cas)))
}

/// The live value of the entry `key` of `kind`.
pub(crate) fn get(server: &Server, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
    Ok(read(server, kind, key)?.and_then(|(live, _)| live))
}

/// Sets the entry `key` of `kind` to `value` if its live value is `expected`, by
/// memcached's own compare-and-swap (`add` when there is no value at all). A new key joins
/// its kind's list first, so a listing never misses a value that was set.
pub(crate) fn swap(
    server: &Server,
    kind: &str,
    key: &str,
    expected: Option<&str>,
    value: &str,
) -> Result<bool, DriverError> {
    let entry = Entry {
        key: key.to_string(),
        value: value.to_string(),
        until: None,
    };
    let bytes = serde_json::to_vec(&entry).expect("an entry always serializes");
    let name = server.keys.entry(kind, key);
    let current = read(server, kind, key)?;
    if current.as_ref().and_then(|(live, _)| live.as_deref()) != expected {
        return Ok(false);
    }
    if expected.is_none() {
        edit_list(server, kind, false, |keys| {
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        })?;
    }
    match current {
        Some((_, cas)) => server.mc.cas(&name, &bytes, 0, cas),
        None => server.mc.add(&name, &bytes, 0),
    }
}

/// Removes the entry `key` of `kind`, if present.
pub(crate) fn remove(server: &Server, kind: &str, key: &str) -> Result<(), DriverError> {
    server.mc.delete(&server.keys.entry(kind, key))?;
    edit_list(server, kind, false, |keys| keys.retain(|k| k != key))?;
    Ok(())
}

/// The live entries of `kind` as (key, value), sorted by key.
pub(crate) fn list(server: &Server, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
    let keys: Vec<String> = match server.mc.get(&server.keys.entry_list(kind))? {
        Some((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => return Ok(Vec::new()),
    };
    let names: Vec<String> = keys.iter().map(|k| server.keys.entry(kind, k)).collect();
    let values = server.mc.get_many(&names)?;
    let now = now_ms();
    let mut live = Vec::new();
    let mut gone = Vec::new();
    for (key, name) in keys.iter().zip(&names) {
        let entry = values
            .get(name)
            .and_then(|(bytes, _)| serde_json::from_slice::<Entry>(bytes).ok())
            .filter(|e| e.until.is_none_or(|until| until > now));
        match entry {
            Some(e) => live.push((e.key, e.value)),
            None => gone.push(key.clone()),
        }
    }
    if !gone.is_empty() {
        // Losing this race to a put is right: that put's entry is live.
        edit_list(server, kind, true, |keys| {
            keys.retain(|k| !gone.contains(k))
        })?;
    }
    live.sort();
    Ok(live)
}
