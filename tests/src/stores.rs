//! Each store's test set-up, written once: a fresh, isolated store (its own SQLite file,
//! tables, key prefix or folder) on the servers `rakit_job_core::test_support` names.

use rakit_job::Config;
use rakit_job_core::test_support::{
    memcached_url, mysql_url, postgres_url, redis_url, temp_dir, unique_name,
};

/// The stores the cross-crate suites run on.
#[derive(Clone, Copy, Debug)]
pub enum TestStore {
    /// An SQLite file in a fresh folder.
    Sqlite,
    /// Fresh tables on the test PostgreSQL server.
    Postgres,
    /// Fresh tables on the test MariaDB/MySQL server.
    Mysql,
    /// A fresh key prefix on the test Redis server.
    Redis,
    /// A fresh key prefix on the test memcached server.
    Memcached,
    /// A fresh folder.
    File,
}

/// The configuration of a fresh store of kind `store`: a one-second lease, so a killed
/// worker's jobs come back quickly, and a short poll interval.
pub fn config(store: TestStore) -> Config {
    let name = unique_name("rk");
    let url = match store {
        TestStore::Sqlite => format!("sqlite://{}/jobs.db", temp_dir("sqlite").display()),
        TestStore::Postgres => postgres_url(),
        TestStore::Mysql => mysql_url(),
        TestStore::Redis => redis_url(),
        TestStore::Memcached => memcached_url(),
        TestStore::File => temp_dir("file-store").display().to_string(),
    };
    Config {
        driver: String::new(),
        url,
        table: name.clone(),
        failed_table: format!("{name}_failed"),
        key: name.replace('_', "."),
        lease_ms: 1000,
        sleep_ms: 100,
        ..Config::default()
    }
}
