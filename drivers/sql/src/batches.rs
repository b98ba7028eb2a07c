//! Lease-checked batch writes on SQLite: one statement per chunk of up to [`BATCH_ROWS`]
//! items, and per item whether its lease was still current (its id came back). PostgreSQL
//! binds a whole batch as arrays instead; MySQL has no `RETURNING`.

use crate::errors::{OpError, retrying};
use crate::rows::{JobRow, returned_ids};
use crate::statements::BATCH_ROWS;
use rakit_job_core::{Lease, Retry};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Encode, Executor, Pool, Type};
use std::sync::Arc;

type Q<DB> = Query<'static, DB, <DB as Database>::Arguments>;

/// Something a batch statement binds and recognises by id.
pub(crate) trait BatchItem {
    /// The job id the statement returns when the item's lease was current.
    fn id(&self) -> &str;
    /// Binds the item's values, in the statement's order.
    fn bind<DB: Database>(&self, query: Q<DB>) -> Q<DB>
    where
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        i64: for<'a> Encode<'a, DB> + Type<DB>;
}

/// A lease binds as (id, token): what `statements::ack_many` takes.
impl BatchItem for Lease {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn bind<DB: Database>(&self, query: Q<DB>) -> Q<DB>
    where
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        i64: for<'a> Encode<'a, DB> + Type<DB>,
    {
        query.bind(self.id.as_str()).bind(self.token as i64)
    }
}

/// A retry binds as (id, token, available_at, error): what `statements::retry_many` takes.
impl BatchItem for Retry {
    fn id(&self) -> &str {
        self.lease.id.as_str()
    }
    fn bind<DB: Database>(&self, query: Q<DB>) -> Q<DB>
    where
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        i64: for<'a> Encode<'a, DB> + Type<DB>,
    {
        self.lease
            .bind(query)
            .bind(self.available_at)
            .bind(self.error.as_str())
    }
}

/// Runs `sql_for(chunk length)` once per chunk of `items`, each bound in order, and says
/// per item whether the statement returned its id.
pub(crate) async fn returning<DB, T>(
    pool: &Pool<DB>,
    items: &[T],
    sql_for: impl Fn(usize) -> String,
) -> Result<Vec<bool>, OpError>
where
    DB: Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    T: BatchItem,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    i64: for<'a> Encode<'a, DB> + Type<DB>,
    DB::Row: JobRow,
    usize: ColumnIndex<DB::Row>,
{
    let mut done = Vec::with_capacity(items.len());
    for chunk in items.chunks(BATCH_ROWS) {
        let sql: Arc<str> = sql_for(chunk.len()).into();
        let ids = retrying(|| async {
            let mut query: Q<DB> = sqlx::query(AssertSqlSafe(sql.clone()));
            for item in chunk {
                query = item.bind(query);
            }
            let rows: Vec<DB::Row> = query.fetch_all(pool).await?;
            returned_ids(&rows)
        })
        .await?;
        done.extend(chunk.iter().map(|item| ids.contains(item.id())));
    }
    Ok(done)
}
