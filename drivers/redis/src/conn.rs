//! Connections: to one server, or to a Redis Cluster, chosen when connecting by asking
//! the server whether it runs in cluster mode.
//!
//! Both kinds reconnect by themselves. Commands share one multiplexed connection (per
//! node, for a cluster); each blocking wait gets a connection of its own.

use rakit_job_core::DriverError;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::time::Duration;

/// How long one command may take before the server counts as unreachable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the driver's blocking connections go.
pub(crate) enum Server {
    /// One server.
    Single(redis::Client),
    /// A Redis Cluster, discovered from the url's node (a client without response timeout).
    Cluster(Box<ClusterClient>),
}

/// The shared command connection.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// On a Cluster, one script or pipeline may only touch keys of one slot.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

impl Server {
    /// Opens the command connection to `url`, switching to cluster mode when the server
    /// says it runs in it. Errors are raw so the caller can word them.
    /// Also returns the `INFO` text of the url's server.
    pub(crate) async fn open(url: &str) -> Result<(Server, Conn, String), Opening> {
        let client = redis::Client::open(url).map_err(|_| Opening::BadUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(4)
            .set_max_delay(Duration::from_secs(2));
        let mut single = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(Opening::Unreachable)?;
        let info: String = redis::cmd("INFO")
            .query_async(&mut single)
            .await
            .map_err(Opening::Failed)?;
        if !info.lines().any(|line| line.trim() == "cluster_enabled:1") {
            return Ok((Server::Single(client), Conn::Single(single), info));
        }
        let build = |timeout: Option<Duration>| {
            let mut builder = ClusterClient::builder([url])
                .connection_timeout(CONNECT_TIMEOUT)
                .retries(4);
            if let Some(timeout) = timeout {
                builder = builder.response_timeout(timeout);
            }
            builder.build().map_err(|_| Opening::BadUrl)
        };
        let (commands, blocking) = (build(Some(RESPONSE_TIMEOUT))?, build(None)?);
        let conn = commands
            .get_async_connection()
            .await
            .map_err(Opening::Unreachable)?;
        Ok((
            Server::Cluster(Box::new(blocking)),
            Conn::Cluster(conn),
            info,
        ))
    }

    /// A new connection for one blocking call.
    pub(crate) async fn blocking(&self) -> Result<Blocking, redis::RedisError> {
        match self {
            Server::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(None);
                Ok(Blocking::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Server::Cluster(blocking) => {
                Ok(Blocking::Cluster(blocking.get_async_connection().await?))
            }
        }
    }

    /// True for a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Server::Cluster(_))
    }
}

/// Why a connection could not be opened.
pub(crate) enum Opening {
    BadUrl,
    Unreachable(redis::RedisError),
    Failed(redis::RedisError),
}

/// A connection that may block (in `BLPOP`) without stalling anything else.
pub(crate) enum Blocking {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl ConnectionLike for Blocking {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Blocking::Single(c) => c.req_packed_command(cmd),
            Blocking::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Blocking::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Blocking::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Blocking::Single(c) => c.get_db(),
            Blocking::Cluster(c) => c.get_db(),
        }
    }
}

/// Turns an [`Opening`] failure into the error `connect` returns for `store` (`url` redacted).
pub(crate) fn opening_error(store: &str, redacted_url: &str, e: Opening) -> DriverError {
    match e {
        Opening::BadUrl => DriverError::Invalid(format!(
            "the redis url {redacted_url} is invalid; use redis://[user:password@]host[:port][/db] \
             (or redis+unix:///path/to/socket)"
        )),
        Opening::Unreachable(e) => crate::unreachable(store, &e),
        Opening::Failed(e) => crate::error(store, e),
    }
}
