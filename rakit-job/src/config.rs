//! Configuration: `config/job.toml`, then `RAKIT_JOB_*` variables, then defaults.

use crate::error::Error;
use rakit_job_core::{redact_url, validate_identifier};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The settings of a connection and its workers: `config/job.toml`, each key overridable
/// by a `RAKIT_JOB_<KEY>` variable (docs/configuration.md lists them all).
///
/// ```
/// let config = rakit_job::Config::from_toml("max_retries = 5").unwrap();
/// assert_eq!(config.max_retries, 5);
/// assert_eq!(config.store_url(), "sqlite://storage/jobs.db");
/// let pg = rakit_job::Config::from_toml("url = \"postgres://app@db/app\"").unwrap();
/// assert_eq!(pg.store_kind(), rakit_job::StoreKind::Sql);
/// assert!(rakit_job::Config::from_toml("max_retires = 5").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `sqlite`, `postgres`, `mysql` (or `database`: any of the three, by the url), `redis`,
    /// `memcached`, `file`, or `memory` (tests only); empty means "follow the url's scheme".
    pub driver: String,
    /// Where the store is; empty means the driver's default (see [`Config::store_url`]).
    pub url: String,
    /// The jobs table (database driver).
    pub table: String,
    /// The failed-jobs table (database driver).
    pub failed_table: String,
    /// Jobs a `job:runall` worker process runs before it exits, so its supervisor restarts
    /// it fresh; 0 means no limit. Workers built in code run until stopped unless they set
    /// [`Worker::max_jobs`](crate::Worker::max_jobs).
    pub max_job: u64,
    /// Retries after a job's first run, unless the job or the worker says otherwise.
    pub max_retries: u32,
    /// How long an idle worker waits before looking again, in milliseconds.
    pub sleep_ms: u64,
    /// Print a line for every job added, run, retried and failed.
    pub logging: bool,
    /// Key prefix for redis and memcached.
    pub key: String,
    /// How long a reserved job's lease lasts, in milliseconds; renewed every third of it.
    pub lease_ms: u64,
    /// SQLite's `synchronous` setting: `normal` (a committed dispatch survives a crash of
    /// the process, not a power cut) or `full` (survives both; an fsync per commit).
    pub sqlite_synchronous: String,
}

/// The kind of store a [`Config`] names, from its `driver` or its url.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite, PostgreSQL or MySQL/MariaDB: the dialect follows the url.
    Sql,
    /// Redis (one server or a Cluster).
    Redis,
    /// memcached.
    Memcached,
    /// A folder.
    File,
    /// Process memory, for tests.
    Memory,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            driver: String::new(),
            url: String::new(),
            table: "rakit_jobs".into(),
            failed_table: "rakit_failed_jobs".into(),
            max_job: 100,
            max_retries: 3,
            sleep_ms: 1000,
            logging: true,
            key: "rakit.job".into(),
            lease_ms: 30_000,
            sqlite_synchronous: "normal".into(),
        }
    }
}

/// The keys `config/job.toml` and `RAKIT_JOB_*` accept.
const KEYS: &[&str] = &[
    "driver",
    "url",
    "table",
    "failed_table",
    "max_job",
    "max_retries",
    "sleep_ms",
    "logging",
    "key",
    "lease_ms",
    "sqlite_synchronous",
];

impl Config {
    /// Reads `config/job.toml` (or the file named by `RAKIT_JOB_CONFIG`) if it exists,
    /// then applies `RAKIT_JOB_<KEY>` variables, and validates the result.
    pub fn load() -> Result<Config, Error> {
        let path = std::env::var("RAKIT_JOB_CONFIG").unwrap_or_else(|_| "config/job.toml".into());
        let mut config = if Path::new(&path).exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Error::Config(format!("cannot read {path}: {e}; check its permissions"))
            })?;
            Self::parse(&text, &path)?
        } else {
            Config::default()
        };
        config.apply_env(std::env::vars())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (unknown keys are an error) and validates it.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let config = Self::parse(text, "the configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn parse(text: &str, origin: &str) -> Result<Config, Error> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end_matches('.').to_string();
            let hint = match unknown_key(&message) {
                Some(key) => format!("; the keys are {}", suggest(&key)),
                None => String::new(),
            };
            Error::Config(format!("{origin} is invalid: {message}{hint}"))
        })
    }

    /// Applies `RAKIT_JOB_<KEY>` pairs from `vars` over this config.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), Error> {
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("RAKIT_JOB_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "config" {
                continue;
            }
            let bad = |what: &str| {
                Error::Config(format!("{name}={value:?} is not {what}; fix or unset it"))
            };
            match key.as_str() {
                "driver" => self.driver = value,
                "url" => self.url = value,
                "table" => self.table = value,
                "failed_table" => self.failed_table = value,
                "key" => self.key = value,
                "sqlite_synchronous" => self.sqlite_synchronous = value,
                "max_job" => self.max_job = value.parse().map_err(|_| bad("a whole number"))?,
                "max_retries" => {
                    self.max_retries = value.parse().map_err(|_| bad("a whole number"))?
                }
                "sleep_ms" => self.sleep_ms = value.parse().map_err(|_| bad("a whole number"))?,
                "lease_ms" => self.lease_ms = value.parse().map_err(|_| bad("a whole number"))?,
                "logging" => {
                    self.logging = match value.as_str() {
                        "1" | "true" | "on" | "yes" => true,
                        "0" | "false" | "off" | "no" => false,
                        _ => return Err(bad("true or false")),
                    }
                }
                _ => {
                    return Err(Error::Config(format!(
                        "{name} is not a rakit-job setting; the settings are RAKIT_JOB_ plus {}",
                        suggest(&key)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The kind of store: the `driver` named, or the one the url's scheme implies.
    pub fn store_kind(&self) -> StoreKind {
        match self.driver.as_str() {
            "redis" => StoreKind::Redis,
            "memcached" => StoreKind::Memcached,
            "file" => StoreKind::File,
            "memory" => StoreKind::Memory,
            "" => kind_of_url(&self.url),
            _ => StoreKind::Sql,
        }
    }

    /// The store's url: `url`, or the driver's default store when it is empty.
    pub fn store_url(&self) -> String {
        if !self.url.is_empty() {
            return self.url.clone();
        }
        match self.store_kind() {
            StoreKind::File => "storage/jobs",
            StoreKind::Redis => "redis://127.0.0.1:6379",
            StoreKind::Memcached => "memcache://127.0.0.1:11211",
            StoreKind::Memory => "memory",
            StoreKind::Sql => "sqlite://storage/jobs.db",
        }
        .to_string()
    }

    /// Checks every value; the error names the key and how to fix it.
    pub fn validate(&self) -> Result<(), Error> {
        const DRIVERS: &str = "sqlite, postgres, mysql, redis, memcached or file";
        let sql = [
            "database",
            "sqlite",
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
        ];
        let others = ["", "redis", "memcached", "file", "memory"];
        if !sql.contains(&self.driver.as_str()) && !others.contains(&self.driver.as_str()) {
            return Err(Error::Config(format!(
                "the driver {:?} is unknown; use one of {DRIVERS}, or leave `driver` out to follow the url",
                self.driver
            )));
        }
        if let Some(dialect) = sql_dialect(&self.driver) {
            if self.url.is_empty() && dialect != "sqlite" {
                return Err(Error::Config(format!(
                    "`driver = \"{}\"` needs a `url`, e.g. {dialect}://app:secret@127.0.0.1/app",
                    self.driver
                )));
            }
            let scheme = sql_dialect(url_scheme(&self.store_url()));
            if !self.url.is_empty() && scheme != Some(dialect) {
                return Err(Error::Config(format!(
                    "`driver = \"{}\"` does not match the url {}; give a {dialect} url or leave `driver` out",
                    self.driver,
                    self.redacted_url()
                )));
            }
        }
        validate_identifier(&self.table, false)
            .map_err(|e| Error::Config(format!("`table`: {e}")))?;
        validate_identifier(&self.failed_table, false)
            .map_err(|e| Error::Config(format!("`failed_table`: {e}")))?;
        if self.table == self.failed_table {
            return Err(Error::Config(
                "`table` and `failed_table` must differ; rename one of them".into(),
            ));
        }
        validate_identifier(&self.key, true).map_err(|e| Error::Config(format!("`key`: {e}")))?;
        if self.lease_ms < 1000 {
            return Err(Error::Config(format!(
                "`lease_ms` is {} but must be at least 1000, since the lease is renewed every third of it",
                self.lease_ms
            )));
        }
        if self.sleep_ms == 0 {
            return Err(Error::Config(
                "`sleep_ms` must be at least 1; an idle worker would spin".into(),
            ));
        }
        if !["normal", "full"].contains(&self.sqlite_synchronous.as_str()) {
            return Err(Error::Config(format!(
                "`sqlite_synchronous` is {:?}; use \"normal\" or \"full\"",
                self.sqlite_synchronous
            )));
        }
        Ok(())
    }

    /// The poll interval as a duration.
    pub fn sleep(&self) -> Duration {
        Duration::from_millis(self.sleep_ms)
    }

    /// The url with any password hidden, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.store_url())
    }
}

/// The scheme of a url (`postgres` in `postgres://…`, `sqlite` in `sqlite:jobs.db`).
fn url_scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(scheme, _)| scheme)
}

/// The SQL dialect a driver name or url scheme means, if it means one.
fn sql_dialect(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "sqlite" => Some("sqlite"),
        "postgres" | "postgresql" => Some("postgres"),
        "mysql" | "mariadb" => Some("mysql"),
        _ => None,
    }
}

/// The kind of store a url's scheme implies; a bare path is a folder.
fn kind_of_url(url: &str) -> StoreKind {
    match url_scheme(url).to_ascii_lowercase().as_str() {
        "" if url.is_empty() => StoreKind::Sql,
        "redis" | "rediss" | "redis+cluster" => StoreKind::Redis,
        "memcache" | "memcached" => StoreKind::Memcached,
        "memory" => StoreKind::Memory,
        "file" => StoreKind::File,
        scheme if sql_dialect(scheme).is_some() => StoreKind::Sql,
        _ => StoreKind::File,
    }
}

fn unknown_key(message: &str) -> Option<String> {
    let start = message.find("unknown field `")? + "unknown field `".len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_string())
}

/// The list of keys, led by the closest one to `typo`.
fn suggest(typo: &str) -> String {
    let list = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match closest(typo, KEYS) {
        Some(key) => format!("{list} (did you mean `{key}`?)"),
        None => list,
    }
}

/// The candidate closest to `typo`, when it is close enough to be what was meant: at
/// most one edit (insert, delete, substitute, swap two neighbours) per three letters, the
/// rule `#[job]`'s own suggestions follow.
pub(crate) fn closest<'a>(typo: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (typo.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(c, typo), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = Config::from_toml("max_retries = 5\nsleep_ms = 10").unwrap();
        c.apply_env(env(&[("RAKIT_JOB_MAX_RETRIES", "7"), ("PATH", "/bin")]))
            .unwrap();
        assert_eq!((c.max_retries, c.sleep_ms), (7, 10));
    }

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        let err = Config::from_toml("max_retires = 5")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_retires") && err.contains("did you mean `max_retries`?"),
            "{err}"
        );
        let err = Config::default()
            .apply_env(env(&[("RAKIT_JOB_SLEEP", "5")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAKIT_JOB_SLEEP"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Config::from_toml("table = \"jobs; drop table x\"").is_err());
        assert!(Config::from_toml("lease_ms = 500").is_err());
        assert!(Config::from_toml("driver = \"rabbit\"").is_err());
        assert!(Config::from_toml("driver = \"postgres\"").is_err());
        assert!(Config::from_toml("driver = \"postgres\"\nurl = \"mysql://root@db/app\"").is_err());
        assert!(Config::from_toml("sqlite_synchronous = \"off\"").is_err());
        assert!(Config::from_toml("max_job = \"many\"").is_err());
        let err = Config::default()
            .apply_env(env(&[("RAKIT_JOB_LOGGING", "maybe")]))
            .unwrap_err();
        assert!(err.to_string().contains("true or false"));
    }

    #[test]
    fn each_driver_has_a_default_url() {
        assert_eq!(
            Config::from_toml("driver = \"file\"").unwrap().store_url(),
            "storage/jobs"
        );
        assert_eq!(
            Config::from_toml("driver = \"redis\"").unwrap().store_url(),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn the_store_follows_the_driver_or_the_url() {
        let kind = |toml: &str| Config::from_toml(toml).unwrap().store_kind();
        assert_eq!(kind(""), StoreKind::Sql);
        assert_eq!(
            kind("driver = \"postgres\"\nurl = \"postgres://db/app\""),
            StoreKind::Sql
        );
        assert_eq!(kind("driver = \"database\""), StoreKind::Sql);
        assert_eq!(kind("url = \"redis://127.0.0.1/\""), StoreKind::Redis);
        assert_eq!(
            kind("url = \"memcache://127.0.0.1:11211\""),
            StoreKind::Memcached
        );
        assert_eq!(kind("url = \"storage/jobs\""), StoreKind::File);
        assert_eq!(kind("url = \"mariadb://root@db/app\""), StoreKind::Sql);
    }

    #[test]
    fn passwords_are_hidden_when_printed() {
        let c = Config::from_toml("url = \"postgres://app:hunter2@db/jobs\"").unwrap();
        assert!(!c.redacted_url().contains("hunter2"));
    }
}
