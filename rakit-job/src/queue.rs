//! [`Queue`]: a connection to one job store, shared by dispatchers and workers.

use crate::config::Config;
use crate::error::Error;
use rakit_job_core::{Driver, MemoryDriver};
use std::sync::Arc;
use tokio::sync::{Notify, OnceCell};

/// A connection to a job store. Cheap to clone; clones share the connection.
///
/// Jobs dispatched through a `Queue` also wake the workers of the same process at once,
/// whatever the store, so in-process work starts within milliseconds.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = rakit_job::Queue::memory();
/// assert_eq!(queue.describe(), "memory");
/// # });
/// ```
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    driver: Arc<dyn Driver>,
    config: Config,
    pushed: Notify,
    /// The same driver, typed, when it is SQL: transactional dispatch needs it.
    #[cfg(feature = "_sql")]
    sql: Option<Arc<rakit_job_sql::SqlDriver>>,
}

impl Queue {
    /// Connects to the store `config` names, checking it is reachable and set up.
    pub async fn connect(config: &Config) -> Result<Queue, Error> {
        let queue = Queue::connect_unchecked(config).await?;
        queue.driver().check().await?;
        Ok(queue)
    }

    /// Connects without checking that the tables exist, for `job:table` and `migrate`.
    pub(crate) async fn connect_unchecked(config: &Config) -> Result<Queue, Error> {
        config.validate()?;
        #[cfg(feature = "_sql")]
        if config.driver == "database" {
            let url = config.store_url();
            let sql = Arc::new(
                rakit_job_sql::SqlDriver::connect(&url, &config.table, &config.failed_table)
                    .await?,
            );
            let mut queue = Queue::with_driver(sql.clone(), config.clone());
            Arc::get_mut(&mut queue.inner)
                .expect("the queue was just made")
                .sql = Some(sql);
            return Ok(queue);
        }
        let driver = open_driver(config).await?;
        Ok(Queue::with_driver(driver, config.clone()))
    }

    /// Connects to the store at `url` with default settings (the driver follows the url).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rakit_job::Error> {
    /// let queue = rakit_job::Queue::open("sqlite://storage/jobs.db").await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(url: &str) -> Result<Queue, Error> {
        let config = Config {
            driver: driver_for_url(url).to_string(),
            url: url.to_string(),
            ..Config::default()
        };
        Queue::connect(&config).await
    }

    /// A queue kept in process memory: for tests and examples, nothing survives the process.
    pub fn memory() -> Queue {
        let config = Config {
            driver: "memory".into(),
            ..Config::default()
        };
        Queue::with_driver(Arc::new(MemoryDriver::new()), config)
    }

    /// Wraps an already opened driver.
    pub fn with_driver(driver: Arc<dyn Driver>, config: Config) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                driver,
                config,
                pushed: Notify::new(),
                #[cfg(feature = "_sql")]
                sql: None,
            }),
        }
    }

    /// The SQL driver behind this queue, when it is one.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn sql_driver(&self) -> Option<&rakit_job_sql::SqlDriver> {
        self.inner.sql.as_deref()
    }

    /// The store, for the worker and the CLI.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.inner.driver
    }

    /// The settings this queue was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store, for messages, with any password hidden.
    pub fn describe(&self) -> String {
        self.inner.driver.describe()
    }

    /// Tells this process's idle workers that a job was pushed.
    pub(crate) fn notify_pushed(&self) {
        self.inner.pushed.notify_waiters();
    }

    /// Completes when a job is pushed through this queue in this process.
    pub(crate) fn pushed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.pushed.notified()
    }
}

/// The driver a url implies, for [`Queue::open`].
fn driver_for_url(url: &str) -> &'static str {
    let scheme = url.split("://").next().unwrap_or("");
    match scheme {
        "redis" | "rediss" => "redis",
        "memcache" | "memcached" => "memcached",
        "memory" => "memory",
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => "database",
        _ if url.starts_with("sqlite:") => "database",
        _ => "file",
    }
}

fn not_compiled(driver: &str, feature: &str) -> Error {
    Error::Config(format!(
        "the {driver} driver is not compiled into this program; enable the `{feature}` feature of rakit-job"
    ))
}

async fn open_driver(config: &Config) -> Result<Arc<dyn Driver>, Error> {
    #[allow(unused_variables)]
    let url = config.store_url();
    match config.driver.as_str() {
        "memory" => Ok(Arc::new(MemoryDriver::new())),
        "database" => Err(not_compiled("database", "sqlite` (or `postgres`, `mysql`")),
        "redis" => {
            #[cfg(feature = "redis")]
            {
                Ok(Arc::new(
                    rakit_job_redis::RedisDriver::connect(&url, &config.key).await?,
                ))
            }
            #[cfg(not(feature = "redis"))]
            {
                Err(not_compiled("redis", "redis"))
            }
        }
        "memcached" => {
            #[cfg(feature = "memcached")]
            {
                Ok(Arc::new(
                    rakit_job_memcached::MemcachedDriver::connect(&url, &config.key).await?,
                ))
            }
            #[cfg(not(feature = "memcached"))]
            {
                Err(not_compiled("memcached", "memcached"))
            }
        }
        "file" => {
            #[cfg(feature = "file")]
            {
                let folder = url.strip_prefix("file://").unwrap_or(&url);
                Ok(Arc::new(rakit_job_file::FileDriver::open(folder).await?))
            }
            #[cfg(not(feature = "file"))]
            {
                Err(not_compiled("file", "file"))
            }
        }
        other => Err(Error::Config(format!(
            "the driver {other:?} is unknown; use one of database, redis, memcached or file"
        ))),
    }
}

static DEFAULT: OnceCell<Queue> = OnceCell::const_new();

/// Reads the configuration (`config/job.toml`, then `RAKIT_JOB_*`, then defaults),
/// connects, and installs the result as the connection dispatch and workers use.
///
/// Calling it again returns the connection already installed.
///
/// ```no_run
/// # async fn demo() -> Result<(), rakit_job::Error> {
/// let queue = rakit_job::init().await?;
/// println!("jobs go to {}", queue.describe());
/// # Ok(()) }
/// ```
pub async fn init() -> Result<Queue, Error> {
    DEFAULT
        .get_or_try_init(|| async {
            let config = Config::load()?;
            Queue::connect(&config).await
        })
        .await
        .cloned()
}

/// Installs `queue` as the default connection; false if one is already installed.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert!(rakit_job::install(rakit_job::Queue::memory()));
/// assert!(!rakit_job::install(rakit_job::Queue::memory()));
/// # });
/// ```
pub fn install(queue: Queue) -> bool {
    DEFAULT.set(queue).is_ok()
}

/// The default connection, set up by [`init`] on first use.
pub(crate) async fn default_queue() -> Result<Queue, Error> {
    init().await
}
