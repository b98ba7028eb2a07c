//! The tables of each dialect, and the splitting of a migration into statements.
//!
//! Every table holds times as milliseconds since the Unix epoch (UTC). In the jobs
//! table `available_at` is when the job may next be taken: its scheduled time while it
//! waits, its lease deadline while it is reserved. So "due" is one range condition,
//! `available_at <= now`, served by the `(queue, available_at, id)` claim index.

use crate::tables::Tables;

/// The SQL dialects this crate speaks (those whose feature is off are never built).
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite 3.35+.
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
    /// MySQL 8 or MariaDB 10.6+.
    MySql,
}

/// The table recording applied migrations.
pub(crate) const MIGRATIONS_TABLE: &str = "rakit_migrations";

/// Creates the migrations table if missing (the same text works in every dialect).
pub(crate) const CREATE_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS rakit_migrations \
     (name VARCHAR(255) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Lists applied migrations.
pub(crate) const LIST_MIGRATIONS: &str = "SELECT name FROM rakit_migrations ORDER BY name";

/// The DDL creating the jobs, failed-jobs and locks tables with their indexes.
///
/// Statements are separated by `;` at the end of a line and use `IF NOT EXISTS`,
/// so running it twice is harmless.
pub(crate) fn ddl(dialect: Dialect, t: &Tables) -> String {
    let (jobs, failed, locks) = (&t.jobs, &t.failed, &t.locks);
    match dialect {
        Dialect::Sqlite => format!(
            "-- rakit-job tables for SQLite\n\
CREATE TABLE IF NOT EXISTS {jobs} (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reserved_until INTEGER,
    lease_token INTEGER,
    overlap_key TEXT,
    unique_key TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS {jobs}_claim ON {jobs} (queue, available_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS {jobs}_unique ON {jobs} (unique_key);
CREATE TABLE IF NOT EXISTS {failed} (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    overlap_key TEXT,
    created_at INTEGER NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS {failed}_time ON {failed} (failed_at, id);
CREATE TABLE IF NOT EXISTS {locks} (
    lock_key TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"
        ),
        Dialect::Postgres => format!(
            "-- rakit-job tables for PostgreSQL\n\
CREATE TABLE IF NOT EXISTS {jobs} (
    id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    queue TEXT COLLATE \"C\" NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    available_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    reserved_until BIGINT,
    lease_token BIGINT,
    overlap_key TEXT,
    unique_key TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS {jobs}_claim ON {jobs} (queue, available_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS {jobs}_unique ON {jobs} (unique_key);
CREATE TABLE IF NOT EXISTS {failed} (
    id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    queue TEXT COLLATE \"C\" NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    overlap_key TEXT,
    created_at BIGINT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS {failed}_time ON {failed} (failed_at, id);
CREATE TABLE IF NOT EXISTS {locks} (
    lock_key TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
"
        ),
        Dialect::MySql => format!(
            "-- rakit-job tables for MySQL 8 / MariaDB 10.6+\n\
CREATE TABLE IF NOT EXISTS {jobs} (
    id CHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(191) NOT NULL,
    queue VARCHAR(64) NOT NULL,
    payload MEDIUMTEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    available_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    reserved_until BIGINT NULL,
    lease_token BIGINT NULL,
    overlap_key VARCHAR(255) NULL,
    unique_key VARCHAR(255) NULL,
    last_error MEDIUMTEXT NULL,
    UNIQUE KEY {jobs}_unique (unique_key),
    KEY {jobs}_claim (queue, available_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS {failed} (
    id CHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(191) NOT NULL,
    queue VARCHAR(64) NOT NULL,
    payload MEDIUMTEXT NOT NULL,
    error MEDIUMTEXT NOT NULL,
    attempts BIGINT NOT NULL,
    overlap_key VARCHAR(255) NULL,
    created_at BIGINT NOT NULL,
    failed_at BIGINT NOT NULL,
    KEY {failed}_time (failed_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE IF NOT EXISTS {locks} (
    lock_key VARCHAR(255) NOT NULL PRIMARY KEY,
    owner VARCHAR(255) NOT NULL,
    expires_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
"
        ),
    }
}

/// Splits a script into statements at each `;` outside quotes and comments; empty
/// statements and comment-only pieces are dropped.
///
/// Quotes are `'…'`, `"…"` and `` `…` ``, comments are `-- …` and `/* … */`.
/// PostgreSQL dollar-quoted bodies (`$$ … $$`) are kept whole too.
pub(crate) fn split_statements(script: &str) -> Vec<String> {
    let chars: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' | '`' => {
                let end = find_char(&chars, i + 1, c);
                current.extend(&chars[i..end]);
                i = end;
            }
            '-' if next == Some('-') => {
                let end = find_char(&chars, i, '\n');
                current.extend(&chars[i..end]);
                i = end;
            }
            '/' if next == Some('*') => {
                let end = find_seq(&chars, i + 2, &['*', '/']);
                current.extend(&chars[i..end]);
                i = end;
            }
            '$' if next == Some('$') => {
                let end = find_seq(&chars, i + 2, &['$', '$']);
                current.extend(&chars[i..end]);
                i = end;
            }
            ';' => {
                push_statement(&mut out, &current);
                current.clear();
                i += 1;
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    push_statement(&mut out, &current);
    out
}

/// The index just past the next `close` at or after `from` (or the end).
fn find_char(chars: &[char], from: usize, close: char) -> usize {
    chars[from..]
        .iter()
        .position(|&c| c == close)
        .map_or(chars.len(), |p| from + p + 1)
}

/// The index just past the next `seq` at or after `from` (or the end).
fn find_seq(chars: &[char], from: usize, seq: &[char]) -> usize {
    (from..chars.len())
        .find(|&i| chars[i..].starts_with(seq))
        .map_or(chars.len(), |p| p + seq.len())
}

fn push_statement(out: &mut Vec<String>, piece: &str) {
    let has_code = piece.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    });
    if has_code {
        out.push(piece.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let script = "-- head\nCREATE TABLE a (x TEXT DEFAULT 'a;b');\n/* c; */ INSERT INTO a VALUES (\"q;\");\n-- tail;\n";
        let got = split_statements(script);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("DEFAULT 'a;b')"));
        assert!(got[1].ends_with("VALUES (\"q;\")"));
    }

    #[test]
    fn every_dialect_ddl_has_three_tables() {
        let t = Tables::new("jobs", "failed_jobs").unwrap();
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let parts = split_statements(&ddl(d, &t));
            assert_eq!(
                parts.iter().filter(|s| s.contains("CREATE TABLE")).count(),
                3,
                "{d:?}"
            );
        }
    }
}
