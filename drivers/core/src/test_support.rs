//! Per-store test set-up written once: where each test server is, and names and folders
//! no other test uses, so tests run in parallel. Every store's tests (the driver crates'
//! and the cross-crate suites in `tests/`) take their set-up from here.
//!
//! The servers come from `RAKIT_TEST_<STORE>_URL`, defaulting to the local services that
//! `scripts/services.sh` starts. A test that cannot reach its server fails and says how
//! to start it; none is skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The PostgreSQL server tests use (`RAKIT_TEST_POSTGRES_URL`).
pub fn postgres_url() -> String {
    from_env("POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
}

/// The MySQL/MariaDB server tests use (`RAKIT_TEST_MYSQL_URL`).
pub fn mysql_url() -> String {
    from_env("MYSQL", "mysql://root@127.0.0.1:3306/test")
}

/// The Redis server tests use (`RAKIT_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    from_env("REDIS", "redis://127.0.0.1:6379/")
}

/// The memcached server tests use (`RAKIT_TEST_MEMCACHED_URL`).
pub fn memcached_url() -> String {
    from_env("MEMCACHED", "memcache://127.0.0.1:11211")
}

fn from_env(store: &str, default: &str) -> String {
    std::env::var(format!("RAKIT_TEST_{store}_URL")).unwrap_or_else(|_| default.to_string())
}

/// A name no other test uses, fit for an SQL table and a key prefix alike:
/// `<prefix><unix seconds>_<counter>_<random>`. The seconds let a sweep find leftovers of
/// old runs (see [`started_before`]).
///
/// ```
/// let a = rakit_job_core::test_support::unique_name("rk");
/// let b = rakit_job_core::test_support::unique_name("rk");
/// assert_ne!(a, b);
/// assert!(rakit_job_core::validate_identifier(&a, false).is_ok());
/// ```
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = crate::fresh_token() % 1_000_000_000;
    format!("{prefix}{}_{n}_{random}", crate::now_ms() / 1000)
}

/// True when `name` came from [`unique_name`] with `prefix` more than `secs` seconds ago:
/// a test run that ended long ago left it behind.
///
/// ```
/// use rakit_job_core::test_support::{started_before, unique_name};
/// assert!(!started_before(&unique_name("rk"), "rk", 60));
/// assert!(started_before("rk1000_0_1", "rk", 60));
/// assert!(!started_before("users", "rk", 60));
/// ```
pub fn started_before(name: &str, prefix: &str, secs: i64) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let started: Option<i64> = rest.split('_').next().and_then(|s| s.parse().ok());
    started.is_some_and(|at| at < crate::now_ms() / 1000 - secs)
}

/// A fresh, empty folder for one test, under the system's temporary folder.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("rakit-job-tests")
        .join(unique_name(label));
    std::fs::create_dir_all(&dir).expect("cannot create a temporary folder for a test");
    dir
}

/// Fails the test because the server a store needs is down, saying how to start it.
pub fn unreachable(store: &str, url: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "the {store} server at {url} is needed for this test and cannot be reached ({error}); \
         start it with scripts/services.sh (or point RAKIT_TEST_{}_URL at one) and run the tests again",
        store.to_ascii_uppercase()
    )
}
