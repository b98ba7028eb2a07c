//! Registries of names: small JSON lists grown by compare-and-swap, such as the queues
//! ever used (`<prefix>:queues`), since memcached cannot list its keys.

use crate::server::Server;
use rakit_job_core::DriverError;
use std::time::{Duration, Instant};

/// How long a process trusts that a name it registered is still in its registry (it is
/// checked again after that, in case memcached evicted the registry).
const RECHECK: Duration = Duration::from_secs(30);
const TRIES: usize = 64;

/// Makes sure `queue` is in the registry of queues.
pub(crate) fn register(server: &Server, queue: &str) -> Result<(), DriverError> {
    add(server, &server.keys.queues(), queue)
}

/// Every queue name ever registered.
pub(crate) fn registered(server: &Server) -> Result<Vec<String>, DriverError> {
    names(server, &server.keys.queues())
}

/// Makes sure `name` is in the registry under `key`.
pub(crate) fn add(server: &Server, key: &str, name: &str) -> Result<(), DriverError> {
    let local = format!("{key} {name}");
    {
        let registered = server.registered.lock().unwrap_or_else(|p| p.into_inner());
        if registered
            .get(&local)
            .is_some_and(|at| at.elapsed() < RECHECK)
        {
            return Ok(());
        }
    }
    for _ in 0..TRIES {
        let done = match server.mc.get(key)? {
            None => server.mc.add(key, &to_bytes(&[name.to_string()]), 0)?,
            Some((bytes, cas)) => {
                let mut names: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
                if names.iter().any(|n| n == name) {
                    true
                } else {
                    names.push(name.to_string());
                    names.sort();
                    server.mc.cas(key, &to_bytes(&names), 0, cas)?
                }
            }
        };
        if done {
            let mut registered = server.registered.lock().unwrap_or_else(|p| p.into_inner());
            registered.insert(local, Instant::now());
            return Ok(());
        }
    }
    Err(DriverError::store(
        "a registry of names in memcached is too contended; try again",
    ))
}

/// The names in the registry under `key`.
pub(crate) fn names(server: &Server, key: &str) -> Result<Vec<String>, DriverError> {
    Ok(match server.mc.get(key)? {
        Some((bytes, _)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Vec::new(),
    })
}

fn to_bytes(names: &[String]) -> Vec<u8> {
    serde_json::to_vec(names).expect("names serialize")
}
