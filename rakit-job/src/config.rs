//! Configuration: `config/job.toml`, then `RAKIT_JOB_*` variables, then defaults.

use crate::error::Error;
use rakit_job_core::{redact_url, validate_identifier};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// The settings of a connection and its workers (DESIGN §6).
///
/// ```
/// let config = rakit_job::Config::from_toml("driver = \"database\"\nmax_retries = 5").unwrap();
/// assert_eq!(config.max_retries, 5);
/// assert_eq!(config.store_url(), "sqlite://storage/jobs.db");
/// assert!(rakit_job::Config::from_toml("max_retires = 5").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `database`, `redis`, `memcached`, `file`, or `memory` (tests only).
    pub driver: String,
    /// Where the store is; empty means the driver's default (see [`Config::store_url`]).
    pub url: String,
    /// The jobs table (database driver).
    pub table: String,
    /// The failed-jobs table (database driver).
    pub failed_table: String,
    /// Jobs a worker process runs before it exits, so a supervisor restarts it fresh; 0 means no limit.
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            driver: "database".into(),
            url: String::new(),
            table: "rakit_jobs".into(),
            failed_table: "rakit_failed_jobs".into(),
            max_job: 100,
            max_retries: 3,
            sleep_ms: 1000,
            logging: true,
            key: "rakit.job".into(),
            lease_ms: 30_000,
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

    /// The store's url: `url`, or the driver's default store when it is empty.
    pub fn store_url(&self) -> String {
        if !self.url.is_empty() {
            return self.url.clone();
        }
        match self.driver.as_str() {
            "file" => "storage/jobs",
            "redis" => "redis://127.0.0.1:6379",
            "memcached" => "memcache://127.0.0.1:11211",
            "memory" => "memory",
            _ => "sqlite://storage/jobs.db",
        }
        .to_string()
    }

    /// Checks every value; the error names the key and how to fix it.
    pub fn validate(&self) -> Result<(), Error> {
        let drivers = ["database", "redis", "memcached", "file", "memory"];
        if !drivers.contains(&self.driver.as_str()) {
            return Err(Error::Config(format!(
                "the driver {:?} is unknown; use one of database, redis, memcached or file",
                self.driver
            )));
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

fn unknown_key(message: &str) -> Option<String> {
    let start = message.find("unknown field `")? + "unknown field `".len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_string())
}

/// The list of keys, led by the closest one to `typo`.
fn suggest(typo: &str) -> String {
    let closest = KEYS
        .iter()
        .min_by_key(|k| distance(k, typo))
        .copied()
        .unwrap_or("driver");
    let list = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if distance(closest, typo) <= 2 {
        format!("{list} (did you mean `{closest}`?)")
    } else {
        list
    }
}

/// Levenshtein distance, for did-you-mean hints.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
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
    fn passwords_are_hidden_when_printed() {
        let c = Config::from_toml("url = \"postgres://app:hunter2@db/jobs\"").unwrap();
        assert!(!c.redacted_url().contains("hunter2"));
    }
}
