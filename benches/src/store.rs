//! The stores a benchmark runs on, and the isolated corner of each that one measurement uses.

use crate::BenchError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// PostgreSQL on this machine (user `postgres`, trust authentication, database `test`).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// MariaDB on this machine (user `root`, no password, database `test`).
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";
/// Redis on this machine.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// memcached on this machine.
pub const MEMCACHED_URL: &str = "memcache://127.0.0.1:11211";

/// One kind of store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    /// An SQLite file in WAL mode.
    Sqlite,
    /// PostgreSQL over loopback TCP.
    Postgres,
    /// MariaDB (the MySQL dialect) over loopback TCP.
    Mysql,
    /// Redis over loopback TCP.
    Redis,
    /// A folder of job files.
    File,
    /// memcached over loopback TCP.
    Memcached,
}

impl Store {
    /// Every store, in the order tables list them.
    pub const ALL: [Store; 6] = [
        Store::Sqlite,
        Store::Postgres,
        Store::Mysql,
        Store::Redis,
        Store::File,
        Store::Memcached,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
            Store::Mysql => "mysql",
            Store::Redis => "redis",
            Store::File => "file",
            Store::Memcached => "memcached",
        }
    }

    /// The store named `name` (`mariadb` is accepted for `mysql`).
    pub fn parse(name: &str) -> Result<Store, BenchError> {
        let name = name.trim().to_ascii_lowercase();
        Store::ALL
            .into_iter()
            .find(|s| s.name() == name || (name == "mariadb" && *s == Store::Mysql))
            .ok_or_else(|| {
                BenchError::Usage(format!(
                    "unknown store `{name}`; use a comma-separated list of sqlite, postgres, mysql, redis, file, memcached"
                ))
            })
    }

    /// A comma-separated list of stores, or `all`.
    pub fn parse_list(list: &str) -> Result<Vec<Store>, BenchError> {
        if list.trim() == "all" {
            return Ok(Store::ALL.to_vec());
        }
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Store::parse)
            .collect()
    }

    /// Whether the store polls across processes (no wake-up signal): pickup latency is then
    /// about half the poll interval.
    pub fn polls(self) -> bool {
        matches!(
            self,
            Store::Sqlite | Store::Mysql | Store::File | Store::Memcached
        )
    }
}

/// One measurement's own corner of a store: tables, key prefix, folder or database file
/// named after `ns`, so runs never see each other's jobs.
#[derive(Clone, Debug)]
pub struct Target {
    /// The store.
    pub store: Store,
    /// The namespace: a lowercase identifier unique to this measurement.
    pub ns: String,
    /// The folder holding SQLite files, job folders and migrations.
    pub dir: PathBuf,
    /// A server address to use instead of this machine's (the scale bench's relay).
    pub url: Option<String>,
}

impl Target {
    /// A fresh namespace on `store`, with its files under `dir`.
    pub fn fresh(store: Store, dir: &Path) -> Target {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let ns = format!("rkb{}_{n}", std::process::id() % 100_000);
        Target {
            store,
            ns,
            dir: dir.to_path_buf(),
            url: None,
        }
    }

    /// The SQLite database file of this namespace.
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.join(format!("{}.db", self.ns))
    }

    /// The folder of this namespace (file store, migrations).
    pub fn folder(&self) -> PathBuf {
        self.dir.join(&self.ns)
    }

    /// The url of the store: a server, or this namespace's SQLite file or folder.
    pub fn url(&self) -> String {
        if let Some(url) = &self.url {
            return url.clone();
        }
        match self.store {
            Store::Sqlite => format!("sqlite://{}", self.sqlite_path().display()),
            Store::Postgres => POSTGRES_URL.into(),
            Store::Mysql => MYSQL_URL.into(),
            Store::Redis => REDIS_URL.into(),
            Store::File => self.folder().display().to_string(),
            Store::Memcached => MEMCACHED_URL.into(),
        }
    }

    /// The arguments that name this target to a worker process.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--store".into(),
            self.store.name().into(),
            "--ns".into(),
            self.ns.clone(),
            "--dir".into(),
            self.dir.display().to_string(),
        ];
        if let Some(url) = &self.url {
            args.extend(["--url".into(), url.clone()]);
        }
        args
    }
}

/// Deletes every Redis key under `prefix` (SCAN, then DEL in batches).
pub async fn redis_delete_prefix(prefix: &str) -> Result<(), BenchError> {
    let client = redis::Client::open(REDIS_URL).map_err(BenchError::store)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(BenchError::store)?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(BenchError::store)?;
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .map_err(BenchError::store)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Empties memcached (`flush_all`): the only way to drop a prefix's keys.
pub async fn memcached_flush() -> Result<(), BenchError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = tokio::net::TcpStream::connect("127.0.0.1:11211")
        .await
        .map_err(BenchError::store)?;
    stream
        .write_all(b"flush_all\r\n")
        .await
        .map_err(BenchError::store)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .await
        .map_err(BenchError::store)?;
    if line.trim() == "OK" {
        Ok(())
    } else {
        Err(BenchError::Store(format!(
            "memcached answered {line:?} to flush_all"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_lists_parse_and_name_mariadb_as_mysql() {
        assert_eq!(
            Store::parse_list("sqlite,mariadb").unwrap(),
            vec![Store::Sqlite, Store::Mysql]
        );
        assert_eq!(Store::parse_list("all").unwrap().len(), 6);
        assert!(Store::parse_list("oracle").is_err());
    }

    #[test]
    fn each_target_gets_its_own_namespace() {
        let a = Target::fresh(Store::Sqlite, Path::new("/tmp"));
        let b = Target::fresh(Store::Sqlite, Path::new("/tmp"));
        assert_ne!(a.ns, b.ns);
        assert!(a.url().starts_with("sqlite:///tmp/rkb"));
    }
}
