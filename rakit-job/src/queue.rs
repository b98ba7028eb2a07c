//! [`Queue`]: a connection to one job store, shared by dispatchers and workers, and the
//! process's default connection.

use crate::config::{Config, StoreKind};
use crate::error::Error;
use rakit_job_core::{Driver, MemoryDriver};
use std::future::Future;
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
    /// Where jobs run from this queue send their own dispatches by default.
    follow_ups: FollowUps,
    /// The same store, typed, when it is SQL: migrations and transactional dispatch need it.
    #[cfg(feature = "_sql")]
    sql: Option<Arc<rakit_job_sql::SqlDriver>>,
}

/// Where the jobs a worker runs from a queue dispatch to when they name no connection.
#[derive(Clone, Default)]
pub(crate) enum FollowUps {
    /// The process's default connection (what `init` installed).
    #[default]
    Default,
    /// Back into the queue they came from (a test fake keeps its jobs to itself).
    Same,
    /// Into another queue (a fake's inline run sends them to the fake).
    To(Queue),
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
        let url = config.store_url();
        let driver: Arc<dyn Driver> = match config.store_kind() {
            StoreKind::Sql => return open_sql(config, &url).await,
            StoreKind::Memory => Arc::new(MemoryDriver::new()),
            StoreKind::Redis => open_redis(config, &url).await?,
            StoreKind::Memcached => open_memcached(config, &url).await?,
            StoreKind::File => open_file(&url).await?,
        };
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

    /// Wraps an already opened store.
    pub fn with_driver(driver: Arc<dyn Driver>, config: Config) -> Queue {
        Queue {
            inner: Arc::new(Inner {
                driver,
                config,
                pushed: Notify::new(),
                follow_ups: FollowUps::Default,
                #[cfg(feature = "_sql")]
                sql: None,
            }),
        }
    }

    /// The same store, with jobs run from it dispatching to `follow_ups` by default.
    pub(crate) fn with_follow_ups(
        driver: Arc<dyn Driver>,
        config: Config,
        follow_ups: FollowUps,
    ) -> Queue {
        let mut queue = Queue::with_driver(driver, config);
        if let Some(inner) = Arc::get_mut(&mut queue.inner) {
            inner.follow_ups = follow_ups;
        }
        queue
    }

    /// The SQL store behind this queue, when it is one.
    #[cfg(feature = "_sql")]
    pub(crate) fn sql_driver(&self) -> Option<&rakit_job_sql::SqlDriver> {
        self.inner.sql.as_deref()
    }

    /// The store, for the worker, the CLI and tools.
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

    /// Runs `future` with this queue as the default connection: its dispatches that name no
    /// connection (no `.via`) go here. Tasks it spawns are not covered; scope them too.
    ///
    /// ```
    /// use rakit_job::prelude::*;
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tenant = rakit_job::Queue::memory();
    /// tenant
    ///     .scope(async { Job::dispatch("send-invoice", json!({"n": 1})).await })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(tenant.driver().stats().await.unwrap()[0].ready, 1);
    /// # });
    /// ```
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        SCOPED.scope(self.clone(), future)
    }

    /// Where jobs run from this queue dispatch when they name no connection: `None` for
    /// the process default.
    pub(crate) fn follow_up_queue(&self) -> Option<Queue> {
        match &self.inner.follow_ups {
            FollowUps::Default => None,
            FollowUps::Same => Some(self.clone()),
            FollowUps::To(queue) => Some(queue.clone()),
        }
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

tokio::task_local! {
    /// The connection plain dispatches use inside [`Queue::scope`].
    static SCOPED: Queue;
}

#[cfg(feature = "_sql")]
async fn open_sql(config: &Config, url: &str) -> Result<Queue, Error> {
    use rakit_job_sql::{SqlDriver, SqlOptions, Synchronous};
    let options = SqlOptions {
        table: config.table.clone(),
        failed_table: config.failed_table.clone(),
        sqlite_synchronous: match config.sqlite_synchronous.as_str() {
            "full" => Synchronous::Full,
            _ => Synchronous::Normal,
        },
    };
    let sql = Arc::new(SqlDriver::connect(url, &options).await?);
    let mut queue = Queue::with_driver(sql.clone(), config.clone());
    if let Some(inner) = Arc::get_mut(&mut queue.inner) {
        inner.sql = Some(sql);
    }
    Ok(queue)
}

#[cfg(not(feature = "_sql"))]
async fn open_sql(_config: &Config, _url: &str) -> Result<Queue, Error> {
    Err(not_compiled("SQL", "sqlite` (or `postgres`, `mysql"))
}

#[cfg(feature = "redis")]
async fn open_redis(config: &Config, url: &str) -> Result<Arc<dyn Driver>, Error> {
    Ok(Arc::new(
        rakit_job_redis::RedisDriver::connect(url, &config.key).await?,
    ))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_config: &Config, _url: &str) -> Result<Arc<dyn Driver>, Error> {
    Err(not_compiled("redis", "redis"))
}

#[cfg(feature = "memcached")]
async fn open_memcached(config: &Config, url: &str) -> Result<Arc<dyn Driver>, Error> {
    Ok(Arc::new(
        rakit_job_memcached::MemcachedDriver::connect(url, &config.key).await?,
    ))
}

#[cfg(not(feature = "memcached"))]
async fn open_memcached(_config: &Config, _url: &str) -> Result<Arc<dyn Driver>, Error> {
    Err(not_compiled("memcached", "memcached"))
}

#[cfg(feature = "file")]
async fn open_file(url: &str) -> Result<Arc<dyn Driver>, Error> {
    let folder = url.strip_prefix("file://").unwrap_or(url);
    Ok(Arc::new(rakit_job_file::FileDriver::open(folder).await?))
}

#[cfg(not(feature = "file"))]
async fn open_file(_url: &str) -> Result<Arc<dyn Driver>, Error> {
    Err(not_compiled("file", "file"))
}

#[allow(dead_code)] // unused when every driver is compiled in
fn not_compiled(driver: &str, feature: &str) -> Error {
    Error::Config(format!(
        "the {driver} driver is not compiled into this program; enable the `{feature}` feature of rakit-job"
    ))
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

/// The connection a dispatch without `.via` uses: the scoped one inside
/// [`Queue::scope`], else the default, set up by [`init`] on first use.
pub(crate) async fn default_queue() -> Result<Queue, Error> {
    match SCOPED.try_with(Queue::clone) {
        Ok(queue) => Ok(queue),
        Err(_) => init().await,
    }
}
