//! The SQL text shared by the dialects, written once with `?` placeholders.
//!
//! Only validated table names are formatted in; every value is a bind parameter.
//! PostgreSQL gets the same text with `$1, $2, …` through [`numbered`].

use crate::tables::Tables;
use std::sync::Arc;

/// The columns of a job as read back, in the order the row decoders expect.
pub(crate) const JOB_COLUMNS: &str =
    "id, name, queue, payload, attempts, created_at, overlap_key, unique_key, last_error";

/// The columns of a failed job as read back.
pub(crate) const FAILED_COLUMNS: &str =
    "id, name, queue, payload, error, attempts, overlap_key, created_at, failed_at";

/// Statements whose text is the same in every dialect (up to placeholders).
#[derive(Clone, Debug)]
pub(crate) struct Statements {
    /// Binds: id, name, queue, payload, available_at, created_at, overlap_key, unique_key.
    pub insert: Arc<str>,
    /// Due jobs of one queue, oldest first. Binds: queue, now, limit.
    pub due: Arc<str>,
    /// Due jobs of one queue and one name. Binds: queue, now, name, limit.
    pub due_named: Arc<str>,
    /// Binds: deadline, deadline, id, token.
    pub extend: Arc<str>,
    /// Binds: id, token.
    pub ack: Arc<str>,
    /// Binds: available_at, error, id, token.
    pub retry: Arc<str>,
    /// Binds: available_at, id, token.
    pub release: Arc<str>,
    /// Binds: key, owner.
    pub unlock: Arc<str>,
    /// No binds.
    pub queues: Arc<str>,
    /// Binds: now, now, now.
    pub stats_jobs: Arc<str>,
    /// No binds.
    pub stats_failed: Arc<str>,
    /// Binds: limit.
    pub failed: Arc<str>,
    /// Copies a failed job back to the jobs table. Binds: available_at, id.
    pub unfail: Arc<str>,
    /// Binds: id.
    pub forget: Arc<str>,
    /// No binds.
    pub flush: Arc<str>,
    /// One probe per table, each failing when its table is missing.
    pub probes: Vec<Arc<str>>,
}

impl Statements {
    /// The statements for `tables`, with `?` placeholders.
    pub fn new(t: &Tables) -> Self {
        let (jobs, failed, locks) = (&t.jobs, &t.failed, &t.locks);
        let due = |named: &str| {
            format!(
                "SELECT {JOB_COLUMNS} FROM {jobs} WHERE queue = ? AND available_at <= ?{named} \
                 ORDER BY available_at, id LIMIT ?"
            )
        };
        Statements {
            insert: format!(
                "INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key, unique_key) \
                 VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)"
            )
            .into(),
            due: due("").into(),
            due_named: due(" AND name = ?").into(),
            extend: format!("UPDATE {jobs} SET available_at = ?, reserved_until = ? WHERE id = ? AND lease_token = ?")
                .into(),
            ack: format!("DELETE FROM {jobs} WHERE id = ? AND lease_token = ?").into(),
            retry: format!(
                "UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, last_error = ? \
                 WHERE id = ? AND lease_token = ?"
            )
            .into(),
            release: format!(
                "UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
                 WHERE id = ? AND lease_token = ?"
            )
            .into(),
            unlock: format!("DELETE FROM {locks} WHERE lock_key = ? AND owner = ?").into(),
            queues: format!("SELECT queue FROM {jobs} UNION SELECT queue FROM {failed} ORDER BY queue").into(),
            stats_jobs: format!(
                "SELECT queue, \
                 COUNT(CASE WHEN available_at <= ? THEN 1 END) AS ready, \
                 COUNT(CASE WHEN available_at > ? AND lease_token IS NULL THEN 1 END) AS scheduled, \
                 COUNT(CASE WHEN available_at > ? AND lease_token IS NOT NULL THEN 1 END) AS reserved \
                 FROM {jobs} GROUP BY queue"
            )
            .into(),
            stats_failed: format!("SELECT queue, COUNT(*) AS failed FROM {failed} GROUP BY queue").into(),
            failed: format!("SELECT {FAILED_COLUMNS} FROM {failed} ORDER BY failed_at DESC, id DESC LIMIT ?").into(),
            unfail: format!(
                "INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key) \
                 SELECT id, name, queue, payload, 0, ?, created_at, overlap_key FROM {failed} WHERE id = ?"
            )
            .into(),
            forget: format!("DELETE FROM {failed} WHERE id = ?").into(),
            flush: format!("DELETE FROM {failed}").into(),
            probes: [jobs, failed, locks].iter().map(|t| format!("SELECT 1 FROM {t} LIMIT 1").into()).collect(),
        }
    }

    /// The same statements with PostgreSQL's numbered placeholders.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub fn numbered(&self) -> Self {
        let n = |s: &Arc<str>| -> Arc<str> { numbered(s).into() };
        Statements {
            insert: n(&self.insert),
            due: n(&self.due),
            due_named: n(&self.due_named),
            extend: n(&self.extend),
            ack: n(&self.ack),
            retry: n(&self.retry),
            release: n(&self.release),
            unlock: n(&self.unlock),
            queues: n(&self.queues),
            stats_jobs: n(&self.stats_jobs),
            stats_failed: n(&self.stats_failed),
            failed: n(&self.failed),
            unfail: n(&self.unfail),
            forget: n(&self.forget),
            flush: n(&self.flush),
            probes: self.probes.iter().map(n).collect(),
        }
    }
}

/// The claim's second step for SQLite and MySQL: lease `n` picked jobs, each with its own
/// token. Binds: deadline, deadline, then `n` pairs (id, token), then the `n` ids.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn lease_picked(jobs: &str, n: usize) -> String {
    let cases = " WHEN ? THEN ?".repeat(n);
    let ids = vec!["?"; n].join(", ");
    format!(
        "UPDATE {jobs} SET attempts = attempts + 1, available_at = ?, reserved_until = ?, \
         lease_token = CASE id{cases} END WHERE id IN ({ids})"
    )
}

/// The most jobs one batch statement (`ack_many`, `retry_many`) carries; a bigger batch
/// is cut into statements of this many, so the binds (at most four per job) stay far below
/// every dialect's limit (SQLite 32,766, PostgreSQL and MySQL 65,535).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) const BATCH_ROWS: usize = 1000;
const _: () = assert!(BATCH_ROWS * 4 < 32_766);

/// Deletes a batch of acked jobs, each only if its lease token still matches. SQLite
/// returns the ids deleted; MySQL 8 has no `DELETE … RETURNING`, so its form returns
/// nothing and the caller checks what is left. Binds: id, token per lease. (PostgreSQL
/// binds a batch as arrays instead, in a statement of its own.)
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn ack_many(jobs: &str, leases: usize, dialect: crate::schema::Dialect) -> String {
    use crate::schema::Dialect;
    if dialect == Dialect::MySql {
        let pairs = vec!["(?, ?)"; leases].join(", ");
        return format!("DELETE FROM {jobs} WHERE (id, lease_token) IN ({pairs})");
    }
    let p = placeholder;
    let pairs: Vec<String> = (0..leases)
        .map(|j| format!("({}, {})", p(2 * j + 1), p(2 * j + 2)))
        .collect();
    format!(
        "DELETE FROM {jobs} WHERE id IN ({}) AND (id, lease_token) IN (VALUES {}) RETURNING id",
        id_list(leases, 2),
        pairs.join(", ")
    )
}

/// Bind number `i` (from 1), named as SQLite does (`?i`): a batch statement names its binds
/// so it can use each id twice.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn placeholder(i: usize) -> String {
    format!("?{i}")
}

/// The ids of a batch whose items bind `stride` values each, id first, as a list for
/// `id IN (…)`. Matching the ids against a literal list is what makes SQLite look the
/// rows up by primary key: joined to a `VALUES` table alone, it may scan the whole jobs
/// table once per batch.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn id_list(items: usize, stride: usize) -> String {
    (0..items)
        .map(|j| placeholder(stride * j + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// MySQL: locks the rows of a batch whose lease tokens still match and returns their
/// ids. Binds: id, token per lease.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) fn lock_held(jobs: &str, leases: usize) -> String {
    let pairs = vec!["(?, ?)"; leases].join(", ");
    format!("SELECT id FROM {jobs} WHERE (id, lease_token) IN ({pairs}) FOR UPDATE")
}

/// Retries a batch of held jobs in one statement, each with its own due time and error,
/// and only where its lease token still matches. The batch is a table of its own
/// (`retried`) joined to the jobs by id and token. SQLite (3.33+) runs `UPDATE … FROM` and
/// returns the ids updated; MySQL runs a multi-table `UPDATE … JOIN` on a derived table and
/// returns nothing. Binds: id, token, available_at, error per job. (PostgreSQL binds a
/// batch as arrays instead, in a statement of its own.)
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn retry_many(jobs: &str, n: usize, dialect: crate::schema::Dialect) -> String {
    use crate::schema::Dialect;
    if dialect == Dialect::MySql {
        let more = " UNION ALL SELECT ?, ?, ?, ?".repeat(n.saturating_sub(1));
        return format!(
            "UPDATE {jobs} AS j JOIN \
             (SELECT ? AS job_id, ? AS token, ? AS available_at, ? AS error{more}) AS retried \
             ON j.id = retried.job_id AND j.lease_token = retried.token \
             SET j.available_at = retried.available_at, j.reserved_until = NULL, \
             j.lease_token = NULL, j.last_error = retried.error"
        );
    }
    let p = placeholder;
    let rows: Vec<String> = (0..n)
        .map(|j| {
            let first = 4 * j + 1;
            format!(
                "({}, {}, {}, {})",
                p(first),
                p(first + 1),
                p(first + 2),
                p(first + 3)
            )
        })
        .collect();
    format!(
        "WITH retried (job_id, token, available_at, error) AS (VALUES {}) \
         UPDATE {jobs} AS j SET available_at = retried.available_at, reserved_until = NULL, \
         lease_token = NULL, last_error = retried.error \
         FROM retried WHERE j.id IN ({}) AND j.id = retried.job_id \
         AND j.lease_token = retried.token RETURNING id",
        rows.join(", "),
        id_list(n, 4)
    )
}

/// Rewrites `?` placeholders as `$1, $2, …` (none of our statements has `?` in a literal).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
/// The most jobs one multi-row insert stores: 8 binds each stays far under every
/// dialect's bind limit (SQLite 32,766; PostgreSQL and MySQL 65,535).
pub(crate) const PUSH_CHUNK: usize = 1_000;

/// A multi-row insert of `rows` jobs; on SQLite and PostgreSQL it skips taken unique keys
/// and returns the ids it stored. Binds: id, name, queue, payload, available_at,
/// created_at, overlap_key, unique_key per job.
pub(crate) fn insert_many(jobs: &str, rows: usize, dialect: crate::schema::Dialect) -> String {
    use crate::schema::Dialect;
    let values = vec!["(?, ?, ?, ?, 0, ?, ?, ?, ?)"; rows].join(", ");
    let insert = format!(
        "INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key, unique_key) \
         VALUES {values}"
    );
    match dialect {
        Dialect::MySql => insert,
        Dialect::Sqlite => format!("{insert} ON CONFLICT (unique_key) DO NOTHING RETURNING id"),
        Dialect::Postgres => numbered(&format!(
            "{insert} ON CONFLICT (unique_key) DO NOTHING RETURNING id"
        )),
    }
}

pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// SQLite and PostgreSQL: a push that stores nothing when its unique key is taken.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn insert_unless_duplicate(s: &Statements) -> String {
    format!("{} ON CONFLICT (unique_key) DO NOTHING", s.insert)
}

/// SQLite and PostgreSQL: take a lock that is free, expired or already ours, in one
/// statement. Binds: key, owner, expires_at, now.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn lock_upsert(t: &Tables) -> String {
    let locks = &t.locks;
    format!(
        "INSERT INTO {locks} (lock_key, owner, expires_at) VALUES (?, ?, ?) \
         ON CONFLICT (lock_key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
         WHERE {locks}.owner = excluded.owner OR {locks}.expires_at <= ?"
    )
}

/// SQLite: copy a held job into the failed table (replacing an older failure of the
/// same id). Binds: error, failed_at, id, token.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn fail_copy_upsert(t: &Tables) -> String {
    let (jobs, failed) = (&t.jobs, &t.failed);
    format!(
        "INSERT INTO {failed} ({FAILED_COLUMNS}) \
         SELECT id, name, queue, payload, ?, attempts, overlap_key, created_at, ? FROM {jobs} \
         WHERE id = ? AND lease_token = ? \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, queue = excluded.queue, \
         payload = excluded.payload, error = excluded.error, attempts = excluded.attempts, \
         overlap_key = excluded.overlap_key, created_at = excluded.created_at, failed_at = excluded.failed_at"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
    }

    #[test]
    fn batch_statements_bind_every_job() {
        use crate::schema::Dialect;
        let mysql = retry_many("jobs", 3, Dialect::MySql);
        assert_eq!(mysql.matches('?').count(), 3 * 4, "{mysql}");
        assert_eq!(
            retry_many("jobs", 2, Dialect::Sqlite),
            "WITH retried (job_id, token, available_at, error) AS \
             (VALUES (?1, ?2, ?3, ?4), (?5, ?6, ?7, ?8)) UPDATE jobs AS j SET \
             available_at = retried.available_at, reserved_until = NULL, lease_token = NULL, \
             last_error = retried.error FROM retried WHERE j.id IN (?1, ?5) \
             AND j.id = retried.job_id AND j.lease_token = retried.token RETURNING id"
        );
        assert_eq!(
            ack_many("jobs", 2, Dialect::Sqlite),
            "DELETE FROM jobs WHERE id IN (?1, ?3) \
             AND (id, lease_token) IN (VALUES (?1, ?2), (?3, ?4)) RETURNING id"
        );
        assert_eq!(lock_held("jobs", 2).matches('?').count(), 4);
    }

    #[test]
    fn lease_picked_binds_one_token_per_job() {
        let sql = lease_picked("jobs", 2);
        assert_eq!(sql.matches('?').count(), 2 + 2 * 2 + 2);
        assert!(sql.contains("CASE id WHEN ? THEN ? WHEN ? THEN ? END WHERE id IN (?, ?)"));
    }
}
