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

/// What one operation gives.
pub(crate) type Op<T> = Result<T, OpError>;

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
    /// The tables do not fit (another version or dialect, a column too small).
    Mismatch,
    /// The database refuses the user (permissions, password, no such database).
    Refused,
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
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => Fault::Mismatch,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            classify_database(&code, db.message(), source(db.as_ref()))
        }
        _ => Fault::Other,
    }
}

/// Which database reported an error: their codes overlap (SQLite's result codes and
/// PostgreSQL's SQLSTATEs are both often digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Sqlite,
    Postgres,
    /// MySQL, with its error number.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MySql(u16),
}

fn classify_database(code: &str, message: &str, source: Source) -> Fault {
    if let Source::MySql(number) = source {
        return match number {
            1205 | 1213 => Fault::Contended,
            1146 => Fault::MissingTable,
            1054 | 1264 | 1364 | 1366 | 1406 => Fault::Mismatch,
            1044 | 1045 | 1049 | 1142 | 1227 => Fault::Refused,
            1053 | 2002 | 2003 | 2006 | 2013 => Fault::Unreachable,
            _ => Fault::Other,
        };
    }
    // SQLite reports its numeric (extended) result code, PostgreSQL its SQLSTATE.
    if source == Source::Sqlite {
        return match code.parse::<i64>().unwrap_or(0) & 0xff {
            5 | 6 => Fault::Contended,
            14 => Fault::Unreachable,
            3 | 8 | 23 => Fault::Refused,
            _ if message.starts_with("no such table") => Fault::MissingTable,
            _ if message.starts_with("no such column") || message.contains("has no column") => {
                Fault::Mismatch
            }
            _ => Fault::Other,
        };
    }
    match code {
        "40001" | "40P01" | "55P03" => Fault::Contended,
        "42P01" => Fault::MissingTable,
        "42501" | "3D000" => Fault::Refused,
        _ if code.starts_with("28") => Fault::Refused,
        _ if code.starts_with("42") || code == "22003" => Fault::Mismatch,
        _ if code.starts_with("08") || code.starts_with("57P") => Fault::Unreachable,
        _ => Fault::Other,
    }
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "mysql")),
    allow(unused_variables)
)]
fn source(db: &dyn sqlx::error::DatabaseError) -> Source {
    #[cfg(feature = "mysql")]
    if let Some(e) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Source::MySql(e.number());
    }
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return Source::Sqlite;
    }
    Source::Postgres
}

/// True when the error is a unique-constraint violation on the index named `index`.
pub(crate) fn is_duplicate_on(e: &sqlx::Error, index: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation() && db.message().contains(index),
        _ => false,
    }
}

impl OpError {
    /// The error as the worker sees it; `store` is the redacted store description.
    pub fn into_driver(self, store: &str) -> DriverError {
        let e = match self {
            OpError::Corrupt { id, reason } => return DriverError::Corrupt { id, reason },
            OpError::Sql(e) => e,
        };
        let store = store.to_string();
        let broken = |mend: &str| DriverError::Broken {
            store: store.clone(),
            reason: format!("{}; {mend}", reason(&e)),
        };
        match classify(&e) {
            Fault::MissingTable => DriverError::MissingSchema { store },
            Fault::Mismatch => broken(
                "its job tables do not match this version of rakit-job for this database; create them from the DDL `job:table` writes",
            ),
            Fault::Refused => broken(
                "check the user, password and database in the url, and grant that user SELECT, INSERT, UPDATE and DELETE on the job tables",
            ),
            Fault::Unreachable => DriverError::Unreachable {
                reason: reason(&e),
                store,
            },
            Fault::Contended | Fault::Other => DriverError::Store(reason(&e)),
        }
    }

    fn is_contended(&self) -> bool {
        matches!(self, OpError::Sql(e) if classify(e) == Fault::Contended)
    }
}

/// An error's text as one clause: the database's own message without its "at line N"
/// noise, no trailing period, no line breaks.
pub(crate) fn reason(e: &sqlx::Error) -> String {
    let text = match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        sqlx::Error::PoolTimedOut => {
            "every connection of the pool stayed busy; raise `pool_size` in the url".to_string()
        }
        other => other.to_string(),
    };
    let text = text.replace('\n', " ");
    let text = match text.rfind(" at line ") {
        Some(at) if text[at + 9..].chars().all(|c| c.is_ascii_digit()) => &text[..at],
        _ => &text,
    };
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

    /// What the integration tests cannot make a server say on demand.
    #[test]
    fn lost_races_and_refusals_are_sorted_by_code() {
        use Source::{MySql, Postgres, Sqlite};
        let cases = [
            ("5", Sqlite, Fault::Contended),
            ("517", Sqlite, Fault::Contended),
            ("8", Sqlite, Fault::Refused),
            ("40P01", Postgres, Fault::Contended),
            ("42501", Postgres, Fault::Refused),
            ("57P01", Postgres, Fault::Unreachable),
            ("23505", Postgres, Fault::Other),
            ("", MySql(1213), Fault::Contended),
            ("", MySql(1142), Fault::Refused),
        ];
        for (code, source, fault) in cases {
            assert_eq!(
                classify_database(code, "", source),
                fault,
                "{code} {source:?}"
            );
        }
    }

    #[test]
    fn reasons_drop_the_line_number() {
        let io = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(reason(&io), "connection refused");
        let e = sqlx::Error::Protocol("You have an error near 'x' at line 1".into());
        assert!(!reason(&e).contains("at line"), "{}", reason(&e));
    }
}
