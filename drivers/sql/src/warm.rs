//! The connection a store used last, kept for its next statement.
//!
//! sqlx pings every connection it takes back into its pool, a round trip before that
//! connection can serve again, so a store working one statement at a time alternates
//! between connections, and on SQLite each then re-reads the pages the other one wrote.
//! A connection whose work succeeded is parked here instead, and the next statement or
//! transaction takes it; one parked for [`TRUST_IDLE`] or longer is pinged first. While
//! anyone waits on sqlx's pool the connection goes back there, so parking starves no one.

use crate::db::{Arg, Column, Db, Done, Exec, Row, Tx};
use crate::gate::Turn;
use sqlx::Connection;
use sqlx::pool::PoolConnection;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a connection may sit idle and still be used without a ping first.
pub(crate) const TRUST_IDLE: Duration = Duration::from_secs(1);

/// The parked connection of one pool, and how many takers are looking for one.
pub(crate) struct Warm<DB: Db> {
    parked: Mutex<Option<(PoolConnection<DB>, Instant)>>,
    takers: AtomicUsize,
}

impl<DB: Db> Default for Warm<DB> {
    fn default() -> Self {
        Warm {
            parked: Mutex::new(None),
            takers: AtomicUsize::new(0),
        }
    }
}

impl<DB: Db> Warm<DB> {
    /// The parked connection if it is alive, else one from `pool`.
    pub async fn take(self: &Arc<Self>, pool: &sqlx::Pool<DB>) -> Done<Taken<DB>> {
        self.takers.fetch_add(1, SeqCst);
        let _counted = Counted(&self.takers);
        let conn = match self.unpark() {
            Some((conn, at)) if at.elapsed() < TRUST_IDLE => conn,
            Some((mut conn, _)) => match conn.ping().await {
                Ok(()) => conn,
                Err(_) => {
                    conn.close_on_drop();
                    drop(conn);
                    pool.acquire().await?
                }
            },
            None => pool.acquire().await?,
        };
        Ok(Taken {
            conn: Some(conn),
            home: self.clone(),
            clean: false,
            turn: None,
        })
    }

    fn unpark(&self) -> Option<(PoolConnection<DB>, Instant)> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Keeps `conn` for the next taker, unless one is kept already or a taker is looking
    /// (then it goes back to the pool, where a taker waiting there gets it).
    fn park(&self, conn: PoolConnection<DB>) {
        let refused = {
            let mut slot = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            match *slot {
                Some(_) => Some(conn),
                None => {
                    *slot = Some((conn, Instant::now()));
                    None
                }
            }
        };
        drop(refused);
        // A taker counts itself before it looks at the slot: either it saw the connection
        // parked above, or this sees it counted.
        if self.takers.load(SeqCst) > 0 {
            drop(self.unpark());
        }
    }
}

/// Uncounts a taker however its take ends, cancelled included.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// A connection taken for some statements: parked again when dropped if its last statement succeeded, else
/// handed back to sqlx, which pings it and closes it if it is broken.
pub(crate) struct Taken<DB: Db> {
    conn: Option<PoolConnection<DB>>,
    home: Arc<Warm<DB>>,
    clean: bool,
    /// The writer's turn it was taken in, if its store's writers take turns.
    turn: Turn,
}

impl<DB: Db> Taken<DB> {
    /// The connection, for one statement; [`Taken::settle`] its outcome.
    pub fn conn(&mut self) -> &mut DB::Connection {
        self.clean = false;
        self.conn
            .as_mut()
            .expect("a taken connection leaves only on drop")
    }

    /// Passes on `done`, the outcome of the statement run on [`Taken::conn`]: the
    /// connection stays warm only if it succeeded.
    pub fn settle<T>(&mut self, done: Done<T>) -> Done<T> {
        self.clean = done.is_ok();
        done
    }

    /// Holds the writer's turn `turn` until it is dropped (a transaction: until it ends).
    pub fn holding(mut self, turn: Turn) -> Self {
        self.turn = turn;
        self
    }

    /// Opens a transaction on the connection with `begin`.
    pub async fn begin(mut self, begin: &'static str) -> Done<Open<DB>> {
        let done = DB::plain(self.conn(), begin).await;
        self.settle(done)?;
        Ok(Open { taken: Some(self) })
    }
}

impl<DB: Db> Drop for Taken<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.clean
        {
            self.home.park(conn);
        }
    }
}

#[async_trait::async_trait]
impl<DB: Db> Exec for Taken<DB> {
    async fn rows(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>> {
        let done = DB::rows(self.conn(), sql, args).await;
        self.settle(done)
    }
    async fn run(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64> {
        let done = DB::run(self.conn(), sql, args).await;
        self.settle(done)
    }
    async fn rows_of_arrays(&mut self, sql: &Arc<str>, columns: Vec<Column<'_>>) -> Done<Vec<Row>> {
        let done = DB::rows_of_arrays(self.conn(), sql, columns).await;
        self.settle(done)
    }
}

/// A transaction on a taken connection. One dropped before it ends is rolled back on a
/// task of its own (or, with no runtime to run one, its connection is closed).
pub(crate) struct Open<DB: Db> {
    /// The connection; `None` once the transaction has ended.
    taken: Option<Taken<DB>>,
}

impl<DB: Db> Open<DB> {
    fn taken(&mut self) -> &mut Taken<DB> {
        self.taken
            .as_mut()
            .expect("an open transaction holds its connection")
    }

    /// Ends the transaction with `statement` (`COMMIT` or `ROLLBACK`); if that fails, the
    /// drop rolls it back.
    async fn end(mut self, statement: &'static str) -> Done<()> {
        let taken = self.taken();
        let done = DB::plain(taken.conn(), statement).await;
        let done = taken.settle(done);
        if done.is_ok() {
            // Over: the connection is parked, and the drop has nothing to roll back.
            self.taken.take();
        }
        done
    }
}

impl<DB: Db> Drop for Open<DB> {
    fn drop(&mut self) {
        let Some(mut taken) = self.taken.take() else {
            return;
        };
        taken.clean = false;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let done = DB::plain(taken.conn(), "ROLLBACK").await;
                    let _ = taken.settle(done);
                });
            }
            Err(_) => {
                if let Some(conn) = taken.conn.as_mut() {
                    conn.close_on_drop();
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl<DB: Db> Exec for Open<DB> {
    async fn rows(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>> {
        self.taken().rows(sql, args).await
    }
    async fn run(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64> {
        self.taken().run(sql, args).await
    }
    async fn rows_of_arrays(&mut self, sql: &Arc<str>, columns: Vec<Column<'_>>) -> Done<Vec<Row>> {
        self.taken().rows_of_arrays(sql, columns).await
    }
}

#[async_trait::async_trait]
impl<DB: Db> Tx for Open<DB> {
    async fn commit(self: Box<Self>) -> Done<()> {
        (*self).end("COMMIT").await
    }
    async fn rollback(self: Box<Self>) -> Done<()> {
        (*self).end("ROLLBACK").await
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use crate::db::Pool as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    /// The connections of a fresh SQLite file with table `t`; `size` connections at most.
    async fn conns(size: u32) -> crate::conns::Conns<sqlx::Sqlite> {
        conns_with(size, Duration::from_secs(5), Duration::from_secs(5)).await
    }

    /// [`conns`] whose connections wait `busy` at most for another's write lock, and whose
    /// writers wait `patience` at most for their turn.
    async fn conns_with(
        size: u32,
        busy: Duration,
        patience: Duration,
    ) -> crate::conns::Conns<sqlx::Sqlite> {
        let dir = rakit_job_core::test_support::temp_dir("warm");
        let options = SqliteConnectOptions::new()
            .filename(dir.join("t.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(busy);
        let pool = SqlitePoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(5));
        let writers = crate::conns::Writers::OneAtATime { patience };
        let conns = crate::conns::Conns::open(options, pool, writers)
            .await
            .unwrap();
        let create = Arc::from("CREATE TABLE t (n INTEGER)");
        conns.run(&create, &[]).await.unwrap();
        conns
    }

    async fn count(conns: &crate::conns::Conns<sqlx::Sqlite>) -> i64 {
        let rows = conns.rows(&Arc::from("SELECT count(*) FROM t"), &[]).await;
        rows.unwrap()[0].int(0).unwrap()
    }

    /// The connection of the last statement serves the next (a temporary table is seen
    /// only by the connection that made it), unless that statement failed.
    #[tokio::test]
    async fn the_last_good_connection_serves_the_next_statement() {
        let file = rakit_job_core::test_support::temp_dir("warm").join("t.db");
        let options = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .unwrap();
        let warm = Arc::new(Warm::<DB>::default());
        let mut first = warm.take(&pool).await.unwrap();
        let made = DB::run(first.conn(), &Arc::from("CREATE TEMP TABLE mine (x)"), &[]).await;
        first.settle(made).unwrap();
        drop(first);
        let mut second = warm.take(&pool).await.unwrap();
        let seen = DB::rows(second.conn(), &Arc::from("SELECT * FROM mine"), &[]).await;
        second
            .settle(seen)
            .expect("the next statement ran on another connection");
        let failed = DB::run(second.conn(), &Arc::from("SELECT x FROM nowhere"), &[]).await;
        assert!(second.settle(failed).is_err());
        drop(second);
        assert!(
            warm.unpark().is_none(),
            "a connection whose statement failed was parked"
        );
    }

    type DB = sqlx::Sqlite;

    /// A transaction dropped before it ends leaves nothing written, and with one connection
    /// in all, the next statement gets that connection back, out of any transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_transaction_is_rolled_back_and_its_connection_serves_again() {
        let conns = conns(1).await;
        let mut tx = conns.begin().await.unwrap();
        tx.run(&Arc::from("INSERT INTO t (n) VALUES (1)"), &[])
            .await
            .unwrap();
        drop(tx);
        assert_eq!(count(&conns).await, 0);
        let mut tx = conns
            .begin()
            .await
            .expect("the connection is still in a transaction");
        tx.run(&Arc::from("INSERT INTO t (n) VALUES (2)"), &[])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&conns).await, 1);
    }

    /// With one connection in all and many statements at once, parking it never leaves a
    /// statement waiting on the pool until it times out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_connection_serves_many_statements_at_once() {
        let conns = Arc::new(conns(1).await);
        insert_from_eight_tasks(&conns, 5)
            .await
            .expect("a statement waited for the pool's only connection");
        assert_eq!(count(&conns).await, 400);
    }

    /// Eight tasks at once insert 50 rows each into `t`, every `tx_every`-th in a
    /// transaction of its own and the others as single statements; the first error.
    async fn insert_from_eight_tasks(
        conns: &Arc<crate::conns::Conns<sqlx::Sqlite>>,
        tx_every: usize,
    ) -> Done<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let conns = conns.clone();
            tasks.spawn(async move {
                let insert = Arc::from("INSERT INTO t (n) VALUES (1)");
                for i in 0..50 {
                    if i % tx_every == 0 {
                        let mut tx = conns.begin().await?;
                        tx.run(&insert, &[]).await?;
                        tx.commit().await?;
                    } else {
                        conns.run(&insert, &[]).await?;
                    }
                }
                Ok::<_, sqlx::Error>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("an inserting task panicked")?;
        }
        Ok(())
    }

    /// The writers of one process take turns before they ask for SQLite's write lock:
    /// with no busy timeout at all, eight tasks writing at once through four connections,
    /// in transactions and in single statements, never find the file locked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_of_one_process_never_find_the_file_locked() {
        let conns = Arc::new(conns_with(4, Duration::ZERO, Duration::from_secs(5)).await);
        insert_from_eight_tasks(&conns, 2)
            .await
            .expect("a writer found the file locked");
        assert_eq!(count(&conns).await, 400);
    }

    /// A writer waiting for its turn holds no connection: with one connection in all,
    /// writers through every path (a lent connection, a transaction, one statement) and
    /// readers beside them all finish, none waiting out its patience for a turn held by
    /// a writer that waits for that connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_waiting_for_their_turn_hold_no_connection() {
        let conns = Arc::new(conns_with(1, Duration::ZERO, Duration::from_secs(600)).await);
        let insert: Arc<str> = Arc::from("INSERT INTO t (n) VALUES (1)");
        let select: Arc<str> = Arc::from("SELECT count(*) FROM t");
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..6 {
            let (conns, insert, select) = (conns.clone(), insert.clone(), select.clone());
            tasks.spawn(async move {
                for i in 0..30 {
                    match (task + i) % 4 {
                        0 => drop(conns.acquire().await?.run(&insert, &[]).await?),
                        1 => {
                            let mut tx = conns.begin().await?;
                            tx.run(&insert, &[]).await?;
                            tx.commit().await?;
                        }
                        2 => drop(conns.run(&insert, &[]).await?),
                        _ => drop(conns.rows(&select, &[]).await?),
                    }
                }
                Ok::<_, sqlx::Error>(())
            });
        }
        let all = async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap().expect("a statement failed");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("writers waited for each other: one held the connection the other needed");
        let writes = (0..6)
            .flat_map(|task| (0..30).map(move |i| (task + i) % 4))
            .filter(|path| *path != 3)
            .count();
        assert_eq!(count(&conns).await, writes as i64);
    }
}
