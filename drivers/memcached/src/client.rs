//! A thin layer over the blocking `memcache` client: the handful of commands the driver
//! uses, with answers as plain values and errors as [`DriverError`]s.
//!
//! Every method blocks; the driver only calls them from tokio's blocking pool.

use crate::pipeline::{Pipeline, Write, Written};
use memcache::{CommandError, MemcacheError};
use rakit_job_core::DriverError;
use std::collections::HashMap;
use std::time::Duration;

/// Connections kept open per driver.
const POOL_SIZE: u32 = 16;
/// How long to wait for a connection, and for an answer, before calling the server unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest relative expiry memcached accepts; longer ones are read as a date.
const MAX_RELATIVE_TTL: u32 = 30 * 24 * 3600;

/// A value and its compare-and-swap token.
pub(crate) type Versioned = (Vec<u8>, u64);

/// A pooled connection to one memcached server.
pub(crate) struct Mc {
    client: memcache::Client,
    /// Batches in one write, over TCP without authentication (else the client's own).
    multi: Option<Pipeline>,
    /// The url with any password hidden, for error messages.
    store: String,
}

impl Mc {
    /// Connects and checks the server answers.
    pub(crate) fn connect(url: &str, store: String) -> Result<Mc, DriverError> {
        let url = prepare_url(url)?;
        let unreachable = |e: MemcacheError| DriverError::Unreachable {
            store: store.clone(),
            reason: e.to_string(),
        };
        let client = memcache::Client::builder()
            .add_server(url.as_str())
            .and_then(|b| {
                b.with_max_pool_size(POOL_SIZE)
                    .with_min_idle_conns(1)
                    .with_connection_timeout(TIMEOUT)
                    .build()
            })
            .map_err(unreachable)?;
        let multi = pipelined_address(&url).map(|address| Pipeline::new(address, TIMEOUT));
        let mc = Mc {
            client,
            multi,
            store,
        };
        mc.version()?;
        Ok(mc)
    }

    fn fail(&self, e: MemcacheError) -> DriverError {
        match e {
            MemcacheError::IOError(_) | MemcacheError::PoolError(_) => DriverError::Unreachable {
                store: self.store.clone(),
                reason: e.to_string(),
            },
            MemcacheError::CommandError(CommandError::ValueTooLarge) => {
                DriverError::Invalid(format!(
                    "a record is larger than memcached's item size limit on {}; keep payloads and error texts small",
                    self.store
                ))
            }
            other => DriverError::store(format!("memcached {}: {other}", self.store)),
        }
    }

    /// The server's version; proves it answers.
    pub(crate) fn version(&self) -> Result<String, DriverError> {
        let versions = self.client.version().map_err(|e| self.fail(e))?;
        Ok(versions
            .into_iter()
            .map(|(_, v)| v)
            .next()
            .unwrap_or_default())
    }

    /// A value with its CAS token, or `None` when the key is absent.
    pub(crate) fn get(&self, key: &str) -> Result<Option<Versioned>, DriverError> {
        let got: Option<(Vec<u8>, u32, Option<u64>)> =
            self.client.get(key).map_err(|e| self.fail(e))?;
        Ok(got.map(|(value, _, cas)| (value, cas.unwrap_or(0))))
    }

    /// Many values in one round trip; absent keys are left out.
    pub(crate) fn get_many(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Versioned>, DriverError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        if let Some(multi) = &self.multi {
            return multi.get_many(keys).map_err(|e| DriverError::Unreachable {
                store: self.store.clone(),
                reason: e.to_string(),
            });
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let got: HashMap<String, (Vec<u8>, u32, Option<u64>)> =
            self.client.gets(&keys).map_err(|e| self.fail(e))?;
        Ok(got
            .into_iter()
            .map(|(k, (value, _, cas))| (k, (value, cas.unwrap_or(0))))
            .collect())
    }

    /// Stores `value` under `key`, whatever was there.
    pub(crate) fn set(&self, key: &str, value: &[u8], ttl_secs: u32) -> Result<(), DriverError> {
        self.client
            .set(key, value, ttl(ttl_secs))
            .map_err(|e| self.fail(e))
    }

    /// Stores `value` only if `key` is absent; false when it exists.
    pub(crate) fn add(&self, key: &str, value: &[u8], ttl_secs: u32) -> Result<bool, DriverError> {
        match self.client.add(key, value, ttl(ttl_secs)) {
            Ok(()) => Ok(true),
            Err(MemcacheError::CommandError(
                CommandError::KeyExists | CommandError::Unknown(5),
            )) => Ok(false),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Stores `value` only if `key` still has the CAS token `cas`; false otherwise.
    pub(crate) fn cas(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u32,
        cas: u64,
    ) -> Result<bool, DriverError> {
        self.client
            .cas(key, value, ttl(ttl_secs), cas)
            .map_err(|e| self.fail(e))
    }

    /// Adds `by` to a counter, creating it at 0 when absent (the binary protocol's rule),
    /// and returns the new value.
    pub(crate) fn incr(&self, key: &str, by: u64) -> Result<u64, DriverError> {
        self.client.increment(key, by).map_err(|e| self.fail(e))
    }

    /// Runs `writes` in one round trip where the server is reached over plain TCP (else
    /// one after the other through the client); one answer per write, in order.
    pub(crate) fn write_many(&self, writes: &[Write<'_>]) -> Result<Vec<Written>, DriverError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(multi) = &self.multi {
            return multi
                .write_many(writes)
                .map_err(|e| DriverError::Unreachable {
                    store: self.store.clone(),
                    reason: e.to_string(),
                });
        }
        writes
            .iter()
            .map(|write| match write {
                Write::Swap { key, value, cas } => Ok(if self.cas(key, value, 0, *cas)? {
                    Written::Done
                } else {
                    Written::Changed
                }),
                Write::Add { key, value, ttl } => Ok(if self.add(key, value, *ttl)? {
                    Written::Done
                } else {
                    Written::Changed
                }),
                Write::Delete { key } => Ok(if self.delete(key)? {
                    Written::Done
                } else {
                    Written::Missing
                }),
            })
            .collect()
    }

    /// Removes a key; false when it was absent.
    pub(crate) fn delete(&self, key: &str) -> Result<bool, DriverError> {
        self.client.delete(key).map_err(|e| self.fail(e))
    }
}

/// Whole seconds for memcached's own expiry of something that ends in `ttl_ms`: past the
/// precise end (which the value itself keeps, in milliseconds), never zero (forever).
pub(crate) fn ttl_secs(ttl_ms: rakit_job_core::Millis) -> u32 {
    let secs = (ttl_ms.max(0) as u64).div_ceil(1000) + 1;
    secs.min(u32::MAX as u64) as u32
}

fn ttl(secs: u32) -> u32 {
    secs.min(MAX_RELATIVE_TTL)
}

/// The `host:port` that multi-gets may reach over a plain TCP connection: not for a
/// Unix socket, nor for a server that asks for a user and password.
fn pipelined_address(url: &str) -> Option<String> {
    let parsed = memcache::Url::parse(url).ok()?;
    let plain = matches!(parsed.scheme(), "memcache" | "memcache+tcp")
        && parsed.username().is_empty()
        && parsed.password().is_none();
    let host = parsed.host_str().filter(|_| plain)?;
    Some(format!("{host}:{}", parsed.port().unwrap_or(11211)))
}

/// Checks the url and adds socket timeouts, so a hung server cannot block a thread forever.
fn prepare_url(url: &str) -> Result<String, DriverError> {
    let parsed = memcache::Url::parse(url).map_err(|e| {
        DriverError::Invalid(format!(
            "the memcached url {} is invalid ({e}); use memcache://host:port",
            rakit_job_core::redact_url(url)
        ))
    })?;
    match parsed.scheme() {
        "memcache" | "memcache+tcp" | "memcache+unix" => {}
        other => {
            return Err(DriverError::Invalid(format!(
                "the memcached url scheme {other:?} is not supported; use memcache://host:port"
            )));
        }
    }
    // The ASCII protocol's `add` does not say whether it stored anything, and UDP loses
    // packets: the driver needs the binary protocol over a stream.
    for (key, value) in parsed.query_pairs() {
        if (key == "protocol" && value == "ascii") || (key == "udp" && value == "true") {
            return Err(DriverError::Invalid(format!(
                "the memcached driver needs the binary protocol over TCP; remove `{key}={value}` from the url"
            )));
        }
    }
    if parsed.query_pairs().any(|(k, _)| k == "timeout") {
        return Ok(url.to_string());
    }
    let separator = if parsed.query().is_some() { '&' } else { '?' };
    Ok(format!("{url}{separator}timeout={}", TIMEOUT.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_gets_go_straight_to_plain_tcp_servers_only() {
        let address = |url: &str| pipelined_address(url);
        assert_eq!(
            address("memcache://127.0.0.1:11211?timeout=5").as_deref(),
            Some("127.0.0.1:11211")
        );
        assert_eq!(address("memcache://cache").as_deref(), Some("cache:11211"));
        assert_eq!(address("memcache://user:pw@cache:11211"), None);
        assert_eq!(address("memcache+unix:///tmp/mc.sock"), None);
    }

    #[test]
    fn urls_get_a_timeout_and_unsafe_modes_are_refused() {
        assert_eq!(
            prepare_url("memcache://127.0.0.1:11211").unwrap(),
            "memcache://127.0.0.1:11211?timeout=5"
        );
        assert_eq!(
            prepare_url("memcache://h:1?timeout=2").unwrap(),
            "memcache://h:1?timeout=2"
        );
        assert_eq!(
            prepare_url("memcache://h:1?tcp_nodelay=true").unwrap(),
            "memcache://h:1?tcp_nodelay=true&timeout=5"
        );
        assert!(prepare_url("memcache://h:1?protocol=ascii").is_err());
        assert!(prepare_url("memcache+udp://h:1").is_err());
        assert!(prepare_url("redis://h:1").is_err());
        let err = prepare_url("not a url").unwrap_err().to_string();
        assert!(err.contains("memcache://host:port"), "{err}");
    }
}
