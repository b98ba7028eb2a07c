//! How store failures become [`DriverError`]s, and which ones are worth a retry.

use rakit_job_core::DriverError;
use std::future::Future;
use std::time::Duration;

/// A failure inside one operation, before it is turned into a [`DriverError`].
#[derive(Debug)]
pub(crate) enum OpError {
    /// The database said no.
    Sql(sqlx::Error),
    /// A row could not be read back as a job.
    Corrupt {
        /// The job id, or `?` when even that is unreadable.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Sql(e)
    }
}

/// What kind of failure an [`sqlx::Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Lost a race for a lock (SQLite busy, a deadlock); nothing was written, so retry.
    Contended,
    /// A table is missing.
    MissingTable,
    /// The server or file cannot be reached.
    Unreachable,
    /// Anything else.
    Other,
}

/// Sorts an error into a [`Fault`].
pub(crate) fn classify(e: &sqlx::Error) -> Fault {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Fault::Unreachable,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message();
            classify_database(&code, message, mysql_number(db.as_ref()))
        }
        _ => Fault::Other,
    }
}

fn classify_database(code: &str, message: &str, mysql_number: Option<u16>) -> Fault {
    if let Some(number) = mysql_number {
        return match number {
            1205 | 1213 => Fault::Contended,
            1146 => Fault::MissingTable,
            1053 | 2002 | 2003 | 2006 | 2013 => Fault::Unreachable,
            _ => Fault::Other,
        };
    }
    // SQLite reports its numeric (extended) result code, PostgreSQL its SQLSTATE.
    if let Ok(sqlite_code) = code.parse::<i64>() {
        return match sqlite_code & 0xff {
            5 | 6 => Fault::Contended,
            14 => Fault::Unreachable,
            _ if message.starts_with("no such table") => Fault::MissingTable,
            _ => Fault::Other,
        };
    }
    match code {
        "40001" | "40P01" | "55P03" => Fault::Contended,
        "42P01" => Fault::MissingTable,
        _ if code.starts_with("08") || code.starts_with("57P") => Fault::Unreachable,
        _ => Fault::Other,
    }
}

#[cfg(feature = "mysql")]
fn mysql_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[cfg(not(feature = "mysql"))]
fn mysql_number(_db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    None
}

/// True when the error is a unique-constraint violation on the index named `index`.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) fn is_duplicate_on(e: &sqlx::Error, index: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation() && db.message().contains(index),
        _ => false,
    }
}

impl OpError {
    /// The error as the worker sees it; `store` is the redacted store description.
    pub fn into_driver(self, store: &str) -> DriverError {
        match self {
            OpError::Corrupt { id, reason } => DriverError::Corrupt { id, reason },
            OpError::Sql(e) => match classify(&e) {
                Fault::MissingTable => DriverError::MissingSchema {
                    store: store.to_string(),
                },
                Fault::Unreachable => DriverError::Unreachable {
                    store: store.to_string(),
                    reason: reason(&e),
                },
                Fault::Contended | Fault::Other => DriverError::Store(reason(&e)),
            },
        }
    }

    fn is_contended(&self) -> bool {
        matches!(self, OpError::Sql(e) if classify(e) == Fault::Contended)
    }
}

/// An error's text as one clause: no trailing period, no line breaks.
pub(crate) fn reason(e: &sqlx::Error) -> String {
    let text = e.to_string().replace('\n', " ");
    text.trim_end_matches('.').to_string()
}

/// How often an operation that lost a lock race is tried before giving up.
const ATTEMPTS: u32 = 25;

/// Runs `op` again while it fails for contention (SQLite busy, a deadlock): such a
/// failure rolled everything back, so the retry can neither lose nor double a write.
pub(crate) async fn retrying<T, F, Fut>(mut op: F) -> Result<T, OpError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OpError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_contended() && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                let pause = Duration::from_millis(u64::from(attempt.min(10)) * 5 + jitter());
                tracing::debug!(attempt, "job store busy, trying again in {pause:?}");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

/// A few milliseconds of noise so contending processes do not retry in lockstep.
fn jitter() -> u64 {
    u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            % 7,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_are_sorted_by_code() {
        assert_eq!(
            classify_database("5", "database is locked", None),
            Fault::Contended
        );
        assert_eq!(
            classify_database("517", "database is locked", None),
            Fault::Contended
        );
        assert_eq!(
            classify_database("1", "no such table: jobs", None),
            Fault::MissingTable
        );
        assert_eq!(
            classify_database("42P01", "relation does not exist", None),
            Fault::MissingTable
        );
        assert_eq!(
            classify_database("40P01", "deadlock detected", None),
            Fault::Contended
        );
        assert_eq!(
            classify_database("57P01", "terminating connection", None),
            Fault::Unreachable
        );
        assert_eq!(
            classify_database("42S02", "table doesn't exist", Some(1146)),
            Fault::MissingTable
        );
        assert_eq!(
            classify_database("40001", "deadlock", Some(1213)),
            Fault::Contended
        );
        assert_eq!(classify_database("23505", "duplicate", None), Fault::Other);
    }
}
