//! The sqlx plumbing, written once for every database: binding values, reading rows, and
//! running statements on the pool, in a transaction or on a lent connection. The store
//! reaches it through small object-safe traits, so it is written once and picks its
//! dialect at run time.

use crate::errors::OpError;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, Encode};
use sqlx::{Executor, Type};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future that may cross threads.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What running one statement gives.
pub(crate) type Done<T> = Result<T, sqlx::Error>;

/// One bind value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    /// An integer.
    Int(i64),
    /// A text.
    Text(&'a str),
    /// A text or NULL.
    MaybeText(Option<&'a str>),
    /// An integer or NULL.
    MaybeInt(Option<i64>),
    /// A boolean.
    Flag(bool),
}

/// A row as any dialect returns it; columns are read by position.
pub(crate) type Row = Box<dyn ReadRow>;

/// Reading the columns of a row: text, nullable text, integer, nullable integer, boolean.
#[allow(missing_docs)]
pub(crate) trait ReadRow: Send + Sync {
    fn text(&self, i: usize) -> Result<String, OpError>;
    fn maybe_text(&self, i: usize) -> Result<Option<String>, OpError>;
    fn int(&self, i: usize) -> Result<i64, OpError>;
    fn maybe_int(&self, i: usize) -> Result<Option<i64>, OpError>;
    fn flag(&self, i: usize) -> Result<bool, OpError>;
}

impl<R> ReadRow for R
where
    R: sqlx::Row,
    usize: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, i: usize) -> Result<String, OpError> {
        Ok(self.try_get(i)?)
    }
    fn maybe_text(&self, i: usize) -> Result<Option<String>, OpError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, OpError> {
        Ok(self.try_get(i)?)
    }
    fn maybe_int(&self, i: usize) -> Result<Option<i64>, OpError> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool, OpError> {
        Ok(self.try_get(i)?)
    }
}

/// How many rows a statement changed; each dialect's result type has it, under no trait.
pub(crate) trait Affected {
    /// Rows changed (MySQL: rows matched, as its driver asks for).
    fn affected(&self) -> u64;
}

/// What this crate needs of an sqlx database; every dialect's database has it, through
/// the one implementation below that states the bounds once.
pub(crate) trait Db: Database {
    /// Runs `sql` with `args` on `conn` and returns its rows.
    fn rows<'c>(c: &'c mut Self::Connection, sql: &Arc<str>, args: &[Arg]) -> Fut<'c, Vec<Row>>;
    /// Runs `sql` with `args` on `conn` and returns how many rows it changed.
    fn run<'c>(c: &'c mut Self::Connection, sql: &Arc<str>, args: &[Arg]) -> Fut<'c, u64>;
    /// Runs `sql`, which takes no binds, as plain text (`BEGIN`, `COMMIT`, `ROLLBACK`).
    fn plain<'c>(c: &'c mut Self::Connection, sql: &'static str) -> Fut<'c, ()>;
    /// Runs `sql` with each of `columns` bound as one array, and returns its rows; only
    /// PostgreSQL has arrays.
    fn rows_of_arrays<'c>(
        c: &'c mut Self::Connection,
        sql: &Arc<str>,
        columns: Vec<Column<'_>>,
    ) -> Fut<'c, Vec<Row>>;
}

/// The values of one column for every row of a batch, bound as one array.
#[derive(Debug)]
pub(crate) enum Column<'a> {
    /// Texts, some NULL.
    Texts(Vec<Option<&'a str>>),
    /// Integers.
    Ints(Vec<i64>),
}

type Fut<'c, T> = BoxFuture<'c, Done<T>>;

impl<DB> Db for DB
where
    DB: Database,
    DB::Connection: std::any::Any,
    DB::Row: ReadRow,
    DB::QueryResult: Affected,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    i64: for<'a> Encode<'a, DB> + Type<DB>,
    Option<i64>: for<'a> Encode<'a, DB> + Type<DB>,
    bool: for<'a> Encode<'a, DB> + Type<DB>,
{
    fn rows<'c>(c: &'c mut DB::Connection, sql: &Arc<str>, args: &[Arg]) -> Fut<'c, Vec<Row>> {
        let rows = c.fetch_all(bound::<DB>(sql, args));
        Box::pin(async move {
            Ok(rows
                .await?
                .into_iter()
                .map(|r| Box::new(r) as Row)
                .collect())
        })
    }

    fn run<'c>(c: &'c mut DB::Connection, sql: &Arc<str>, args: &[Arg]) -> Fut<'c, u64> {
        let done = c.execute(bound::<DB>(sql, args));
        Box::pin(async move { Ok(done.await?.affected()) })
    }

    fn plain<'c>(c: &'c mut DB::Connection, sql: &'static str) -> Fut<'c, ()> {
        Box::pin(async move { c.execute(sql).await.map(drop) })
    }

    fn rows_of_arrays<'c>(
        c: &'c mut DB::Connection,
        sql: &Arc<str>,
        columns: Vec<Column<'_>>,
    ) -> Fut<'c, Vec<Row>> {
        #[cfg(feature = "postgres")]
        if let Some(pg) = (c as &mut dyn std::any::Any).downcast_mut::<sqlx::PgConnection>() {
            let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
            for column in columns {
                query = match column {
                    Column::Texts(texts) => query.bind(texts),
                    Column::Ints(ints) => query.bind(ints),
                };
            }
            let rows = pg.fetch_all(query);
            return Box::pin(async move {
                Ok(rows
                    .await?
                    .into_iter()
                    .map(|r| Box::new(r) as Row)
                    .collect())
            });
        }
        #[cfg(not(feature = "postgres"))]
        let _ = (c, columns);
        let error = format!("{sql}: only PostgreSQL binds arrays, not {}", DB::NAME);
        Box::pin(async move { Err(sqlx::Error::Protocol(error)) })
    }
}

/// The statement `sql` with `args` bound (bound values are copied in).
fn bound<DB>(sql: &Arc<str>, args: &[Arg<'_>]) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
    i64: for<'a> Encode<'a, DB> + Type<DB>,
    Option<i64>: for<'a> Encode<'a, DB> + Type<DB>,
    bool: for<'a> Encode<'a, DB> + Type<DB>,
{
    let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
    for arg in args {
        query = match *arg {
            Arg::Int(n) => query.bind(n),
            Arg::Text(t) => query.bind(t),
            Arg::MaybeText(t) => query.bind(t),
            Arg::MaybeInt(n) => query.bind(n),
            Arg::Flag(b) => query.bind(b),
        };
    }
    query
}

/// Somewhere statements run: a pooled connection, a transaction, a lent connection.
#[async_trait::async_trait]
pub(crate) trait Exec: Send {
    /// Runs `sql` and returns its rows.
    async fn rows(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>>;
    /// Runs `sql` and returns how many rows it changed.
    async fn run(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64>;
    /// Runs `sql` with each of `columns` bound as one array (PostgreSQL only).
    async fn rows_of_arrays(&mut self, sql: &Arc<str>, columns: Vec<Column<'_>>) -> Done<Vec<Row>>;
}

/// A transaction of the store's own.
#[async_trait::async_trait]
pub(crate) trait Tx: Exec {
    /// Makes its writes durable and visible.
    async fn commit(self: Box<Self>) -> Done<()>;
    /// Undoes its writes and frees its locks now.
    async fn rollback(self: Box<Self>) -> Done<()>;
}

/// A connection the application lent (its own transaction's, for `push_in`).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) struct Lent<'c, DB: Database>(pub &'c mut DB::Connection);

#[async_trait::async_trait]
impl<DB: Db> Exec for Lent<'_, DB> {
    async fn rows(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>> {
        DB::rows(self.0, sql, args).await
    }
    async fn run(&mut self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64> {
        DB::run(self.0, sql, args).await
    }
    async fn rows_of_arrays(&mut self, sql: &Arc<str>, columns: Vec<Column<'_>>) -> Done<Vec<Row>> {
        DB::rows_of_arrays(self.0, sql, columns).await
    }
}

/// The connections of one store.
#[async_trait::async_trait]
pub(crate) trait Pool: Send + Sync {
    /// A connection of the pool, for statements that need no transaction.
    async fn acquire(&self) -> Done<Box<dyn Exec>>;
    /// A write transaction (SQLite takes the file's write lock at once).
    async fn begin(&self) -> Done<Box<dyn Tx>>;
    /// Why no connection can be had, from one direct attempt (a pool that timed out only
    /// says that it waited); `None` when the attempt succeeds.
    async fn probe(&self) -> Option<sqlx::Error>;

    /// Runs `sql` on a pooled connection and returns its rows.
    async fn rows(&self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<Vec<Row>> {
        self.acquire().await?.rows(sql, args).await
    }
    /// Runs `sql` on a pooled connection and returns how many rows it changed.
    async fn run(&self, sql: &Arc<str>, args: &[Arg<'_>]) -> Done<u64> {
        self.acquire().await?.run(sql, args).await
    }
}
