//! A store's pool of connections: how it connects, checks and begins, and which
//! connection it hands out next.

use crate::db::{Arg, Db, Done, Exec, Pool, Row, Tx};
use crate::gate::{Turn, WriteGate};
use crate::warm::{TRUST_IDLE, Taken, Warm};
use sqlx::{ConnectOptions, Connection};
use std::sync::Arc;
use std::time::Duration;

/// A pool with the options it connects with, how its writers share the database, and the
/// connection it used last.
pub(crate) struct Conns<DB: Db> {
    pool: sqlx::Pool<DB>,
    options: <DB::Connection as Connection>::Options,
    begin: &'static str,
    gate: WriteGate,
    warm: Arc<Warm<DB>>,
}

/// How a store's writers share its database.
pub(crate) enum Writers {
    /// Side by side, locking rows (PostgreSQL, MySQL).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    SideBySide,
    /// One at a time (SQLite): the writers of this process take turns, waiting up to
    /// `patience` for one, and a transaction takes the file's write lock as it begins.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    OneAtATime { patience: Duration },
}

impl<DB: Db> Conns<DB> {
    /// Connects once to learn, with the real cause, whether the database can be reached,
    /// then builds the pool.
    ///
    /// A connection is pinged before use only when it sat idle for [`TRUST_IDLE`] or more:
    /// that is when a restart or an idle timeout may have closed it unseen. A busy pool
    /// skips the ping, which would add a round trip to every statement.
    pub async fn open(
        options: <DB::Connection as Connection>::Options,
        pool: sqlx::pool::PoolOptions<DB>,
        writers: Writers,
    ) -> Done<Self> {
        options.connect().await?.close().await?;
        let pool = pool
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= TRUST_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options.clone());
        let (begin, gate) = match writers {
            Writers::SideBySide => ("BEGIN", WriteGate::default()),
            Writers::OneAtATime { patience } => {
                ("BEGIN IMMEDIATE", WriteGate::one_at_a_time(patience))
            }
        };
        Ok(Conns {
            pool,
            options,
            begin,
            gate,
            warm: Arc::default(),
        })
    }

    /// A connection for some statements, which may write: the one used last if it is
    /// free, else the pool's, taken in the writer's turn.
    pub async fn take(&self) -> Done<Taken<DB>> {
        let turn = self.gate.enter().await;
        self.take_in(turn).await
    }

    /// A connection held with `turn`. The turn comes first, so that a writer waiting for
    /// its turn holds no connection that the writer whose turn it is may need.
    async fn take_in(&self, turn: Turn) -> Done<Taken<DB>> {
        Ok(self.warm.take(&self.pool).await?.holding(turn))
    }
}

#[async_trait::async_trait]
impl<DB: Db> Pool for Conns<DB> {
    async fn acquire(&self) -> Done<Box<dyn Exec>> {
        Ok(Box::new(self.take().await?))
    }

    async fn begin(&self) -> Done<Box<dyn Tx>> {
        Ok(Box::new(self.take().await?.begin(self.begin).await?))
    }

    async fn rows(&self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>> {
        let turn = self.gate.enter_for(sql).await;
        self.take_in(turn).await?.rows(sql, args).await
    }

    async fn run(&self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64> {
        let turn = self.gate.enter_for(sql).await;
        self.take_in(turn).await?.run(sql, args).await
    }

    async fn probe(&self) -> Option<sqlx::Error> {
        match self.options.connect().await {
            Ok(conn) => {
                let _ = conn.close().await;
                None
            }
            Err(e) => Some(e),
        }
    }
}
