//! The Redis driver of rakit-job: a ready list, a delayed, a reserved and a failed sorted
//! set per queue, jobs in hashes, and one Lua script per step so every change is atomic.
//!
//! Applications do not use this crate directly: they enable the `redis` feature of
//! rakit-job and set `driver = "redis"` in `config/job.toml`. The guide is
//! `docs/redis.md` in the repository.
//!
//! ```no_run
//! use rakit_job_core::{NewJob, StoreExt};
//!
//! # async fn demo() -> Result<(), rakit_job_core::DriverError> {
//! let driver = rakit_job_redis::connect("redis://127.0.0.1:6379/", "rakit.job").await?;
//! driver.push_one(NewJob::now("send-email", "default", "{}")).await?;
//! # Ok(()) }
//! ```

mod admin;
mod conn;
mod exec;
mod keys;
mod listing;
mod records;
mod scripts;
mod store;
mod wake;

use conn::{Conn, Server};
use keys::Keys;
use rakit_job_core::{DriverError, redact_url};

/// The oldest server this driver runs on: it needs `LPOP` with a count and
/// sub-second `BLPOP` timeouts.
const MIN_VERSION: (u32, u32) = (6, 2);

/// A job store on a Redis server (6.2 or newer) or Cluster, shared by any number of
/// worker processes.
///
/// Commands go through one auto-reconnecting multiplexed connection (per node, on a
/// cluster); idle workers block in `BLPOP` on separate connections, so a push from any
/// process wakes them at once.
///
/// ```no_run
/// use rakit_job_core::Store;
///
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_redis::connect("redis://127.0.0.1:6379/0", "rakit.job").await?;
/// assert!(driver.capabilities().wakes_across_processes);
/// println!("jobs are kept in {}", driver.describe());
/// # Ok(()) }
/// ```
pub struct RedisDriver {
    store: String,
    keys: Keys,
    conn: Conn,
    waiter: wake::Waiter,
}

impl RedisDriver {
    /// Connects to the Redis server at `url` with key prefix `prefix`; the same as [`connect`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
    /// let driver = rakit_job_redis::RedisDriver::connect("redis://127.0.0.1:6379/", "rakit.job").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, DriverError> {
        connect(url, prefix).await
    }
}

/// Connects to the Redis server at `url`, keeping every key under `prefix` (config `key`).
///
/// The prefix is 1 to 64 letters, digits, `_` or `.`; an unreachable server, a wrong
/// password or a server older than Redis 6.2 is an error that says so. A server in
/// cluster mode is detected, and the driver then follows the whole cluster.
///
/// ```no_run
/// # async fn demo() -> Result<(), rakit_job_core::DriverError> {
/// let driver = rakit_job_redis::connect("redis://:secret@cache.internal:6379/2", "rakit.job").await?;
/// assert_eq!(
///     rakit_job_core::Store::describe(&driver),
///     "redis redis://:***@cache.internal:6379/2 (key prefix rakit.job)"
/// );
/// # Ok(()) }
/// ```
pub async fn connect(url: &str, prefix: &str) -> Result<RedisDriver, DriverError> {
    let keys = Keys::new(prefix)?;
    let store = format!("redis {} (key prefix {})", redact_url(url), keys.prefix());
    if url.starts_with("rediss://") {
        return Err(DriverError::Invalid(format!(
            "{store}: TLS (rediss://) is not built into the redis driver; \
             use redis:// through a TLS tunnel such as stunnel"
        )));
    }
    let (server, conn, info) = Server::open(url)
        .await
        .map_err(|e| conn::opening_error(&store, &redact_url(url), e))?;
    let store = if server.is_cluster() {
        store.replacen("redis ", "redis cluster ", 1)
    } else {
        store
    };
    check_version(&store, &info)?;
    Ok(RedisDriver {
        waiter: wake::Waiter::new(server, store.clone()),
        store,
        keys,
        conn,
    })
}

/// Refuses servers too old for the scripts.
fn check_version(store: &str, info: &str) -> Result<(), DriverError> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found >= MIN_VERSION {
        Ok(())
    } else {
        Err(DriverError::Invalid(format!(
            "{store} runs Redis {version}; the redis driver needs Redis {}.{} or newer",
            MIN_VERSION.0, MIN_VERSION.1
        )))
    }
}

/// An error that means the server could not be reached.
fn unreachable(store: &str, e: &redis::RedisError) -> DriverError {
    DriverError::Unreachable {
        store: store.to_string(),
        reason: e.to_string(),
    }
}

/// True when a Redis error means the server was lost (worth retrying later).
fn lost(e: &redis::RedisError) -> bool {
    use redis::ErrorKind;
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed | ErrorKind::ClusterConnectionNotFound
        )
}

/// Sorts a Redis error into unreachable (worth retrying later), broken (waiting cannot
/// mend it) or another store failure.
fn error(store: &str, e: redis::RedisError) -> DriverError {
    if lost(&e) {
        return unreachable(store, &e);
    }
    match broken(&e) {
        Some(reason) => DriverError::Broken {
            store: store.to_string(),
            reason: reason.to_string(),
        },
        None => DriverError::store(format!("{store}: {e}")),
    }
}

/// Why a Redis error means the server cannot be used as it is, if it does. Errors raised
/// inside a script carry the command's error text, so the text is what is matched.
fn broken(e: &redis::RedisError) -> Option<&'static str> {
    let text = e.to_string();
    if text.contains("WRONGTYPE") {
        Some(
            "a key under the driver's prefix holds another kind of value; give the job store a key prefix (config `key`) of its own",
        )
    } else if text.contains("NOPERM") {
        Some(
            "the Redis user lacks a permission the driver needs; allow the commands and key pattern listed in docs/redis.md",
        )
    } else if text.contains("READONLY") {
        Some("the server is a read-only replica; point the url at the primary")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_older_than_6_2_are_refused() {
        assert!(check_version("r", "# Server\r\nredis_version:7.0.15\r\n").is_ok());
        assert!(check_version("r", "redis_version:6.2.0\r\n").is_ok());
        let err = check_version("r", "redis_version:6.0.9\r\n").unwrap_err();
        assert!(err.to_string().contains("needs Redis 6.2"), "{err}");
        assert!(check_version("r", "").is_err());
    }

    #[test]
    fn errors_waiting_cannot_mend_are_broken() {
        let wrong: redis::RedisError = (
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "Error running script",
            "WRONGTYPE Operation against a key holding the wrong kind of value".to_string(),
        )
            .into();
        let err = error("redis x", wrong);
        assert!(err.is_permanent(), "{err}");
        assert!(err.to_string().contains("key prefix"), "{err}");
        let other: redis::RedisError = (
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "OOM command not allowed",
        )
            .into();
        assert!(!error("redis x", other).is_permanent());
    }
}
