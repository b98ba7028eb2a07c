//! Control entries (paused queues, worker heartbeats): one file per entry,
//! `entries/<hash of kind>/<hash of key>`, holding the key, the value and when it runs out.
//!
//! A put writes a synced temp file and renames it over the old one, so a reader sees the
//! old entry or the new one, whole, and the last put wins; removing is unlinking. A swap
//! compares and writes while it holds the kind's `.lock` file locked (an OS lock, let go
//! when its process dies), so swaps of one key never lose each other's updates. An
//! entry that ran out is left out of listings at once, and its file is deleted an hour
//! later (a put of the same key in between replaces it first).

use crate::fsio::{self, io_error};
use crate::keys::{Layout, hashed};
use rakit_job_core::{DriverError, Millis, now_ms};
use serde::{Deserialize, Serialize};
use std::fs;

/// How long after running out an entry's file is deleted.
const FORGET_AFTER: Millis = 3_600_000;

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    value: String,
    until: Option<Millis>,
}

/// Sets the entry `key` of `kind`.
pub(crate) fn put(
    layout: &Layout,
    kind: &str,
    key: &str,
    value: &str,
    ttl_ms: Option<Millis>,
) -> Result<(), DriverError> {
    let dir = layout.entries().join(hashed(kind));
    fsio::ensure_dir(&dir)?;
    let entry = Entry {
        key: key.to_string(),
        value: value.to_string(),
        until: ttl_ms.map(|ttl| now_ms() + ttl),
    };
    let bytes = serde_json::to_vec(&entry).expect("an entry always serializes");
    fsio::write_durably(&dir, &hashed(key), &bytes).map_err(|e| io_error(&dir, e))
}

/// The live value of the entry `key` of `kind`.
pub(crate) fn get(layout: &Layout, kind: &str, key: &str) -> Result<Option<String>, DriverError> {
    let path = layout.entries().join(hashed(kind)).join(hashed(key));
    let entry = match fsio::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Entry>(&bytes).ok(),
        Err(e) if fsio::is_gone(&e) => None,
        Err(e) => return Err(io_error(&path, e)),
    };
    let now = now_ms();
    Ok(entry
        .filter(|e| e.until.is_none_or(|until| until > now))
        .map(|e| e.value))
}

/// Sets the entry `key` of `kind` to `value` if its live value is `expected`.
pub(crate) fn swap(
    layout: &Layout,
    kind: &str,
    key: &str,
    expected: Option<&str>,
    value: &str,
) -> Result<bool, DriverError> {
    let dir = layout.entries().join(hashed(kind));
    fsio::ensure_dir(&dir)?;
    let lock_path = dir.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, e))?;
    lock.lock().map_err(|e| io_error(&lock_path, e))?;
    if get(layout, kind, key)?.as_deref() != expected {
        return Ok(false);
    }
    put(layout, kind, key, value, None)?;
    Ok(true)
}

/// Removes the entry `key` of `kind`, if present.
pub(crate) fn remove(layout: &Layout, kind: &str, key: &str) -> Result<(), DriverError> {
    let path = layout.entries().join(hashed(kind)).join(hashed(key));
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if fsio::is_gone(&e) => Ok(()),
        Err(e) => Err(io_error(&path, e)),
    }
}

/// The live entries of `kind` as (key, value), sorted by key.
pub(crate) fn list(layout: &Layout, kind: &str) -> Result<Vec<(String, String)>, DriverError> {
    let dir = layout.entries().join(hashed(kind));
    let now = now_ms();
    let mut live = Vec::new();
    for file in fsio::list(&dir).map_err(|e| io_error(&dir, e))? {
        if file.name.starts_with('.') || !file.is_file {
            continue;
        }
        let entry = match fsio::read(&file.path) {
            Ok(bytes) => serde_json::from_slice::<Entry>(&bytes).ok(),
            Err(e) if fsio::is_gone(&e) => None,
            Err(e) => return Err(io_error(&file.path, e)),
        };
        match entry {
            Some(e) if e.until.is_none_or(|until| until > now) => live.push((e.key, e.value)),
            Some(e) if e.until.is_some_and(|until| until + FORGET_AFTER < now) => {
                let _ = fs::remove_file(&file.path);
            }
            _ => {}
        }
    }
    live.sort();
    Ok(live)
}
