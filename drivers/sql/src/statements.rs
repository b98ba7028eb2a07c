//! The SQL text the dialects share, written once with `?` placeholders and the few
//! [`Syntax`] words a dialect gives; PostgreSQL's copy gets `$1, $2, …` ([`numbered`]).
//!
//! Only validated table names are formatted in; every value is a bind parameter.

use crate::dialect::Syntax;
use crate::tables::Tables;
use std::sync::Arc;

/// A job as a claim hands it out (read by `rows::stored_job`).
pub(crate) const JOB_COLUMNS: &str =
    "id, name, queue, payload, attempts, created_at, overlap_key, unique_key, last_error, meta, cancelled";

/// A job as people see it (read by `rows::queued_info`).
pub(crate) const INFO_COLUMNS: &str = "id, name, queue, payload, attempts, created_at, overlap_key, unique_key, last_error, meta, cancelled, available_at, lease_token, worker";

/// A failed job as people see it (read by `rows::failed_info`).
const FAILED_COLUMNS: &str = "id, name, queue, payload, attempts, created_at, overlap_key, error, failed_at, meta, cancelled";

/// What an insert writes; `rows::insert_args` binds the values in this order.
const INSERT_COLUMNS: &str =
    "id, name, queue, payload, attempts, available_at, created_at, overlap_key, unique_key, meta";
const INSERT_ROW: &str = "(?, ?, ?, ?, 0, ?, ?, ?, ?, ?)";

/// Which failed jobs a statement selects: by id, by queue, or all (binds one value, one,
/// none); see `FailedSelect`.
const WHICH_FAILED: [&str; 3] = [" WHERE id = ?", " WHERE queue = ?", ""];

/// The most rows one multi-row statement carries: at most nine binds each stays far below
/// every dialect's limit (SQLite 32,766; PostgreSQL and MySQL 65,535).
pub(crate) const BATCH_ROWS: usize = 1_000;
const _: () = assert!(BATCH_ROWS * 9 < 32_766);

/// The listing statements, one per state: pending, scheduled, running, then the failed
/// table's (failed or cancelled by its bind).
pub(crate) const LISTS: usize = 4;

/// Statements written once for every dialect, in its placeholder style.
#[derive(Debug)]
pub(crate) struct Statements {
    /// One per table, selecting every column this crate uses: fails on a missing table
    /// or column. No binds.
    pub probes: Vec<Arc<str>>,
    /// Binds: available_at, error, id, token.
    pub retry: Arc<str>,
    /// Hands a job back with its attempt uncounted. Binds: available_at, id, token.
    pub release: Arc<str>,
    /// Binds: id, token.
    pub delete_held: Arc<str>,
    /// Copies a held job into the failed table. Binds: error, failed_at, cancelled, id, token.
    pub fail_held: Arc<str>,
    /// Copies a job into the failed table whatever its lease. Binds: error, failed_at,
    /// cancelled, id.
    pub fail_any: Arc<str>,
    /// Binds: id.
    pub delete_job: Arc<str>,
    /// Locks a job for a cancel; returns available_at, lease_token. Binds: id.
    pub lock_job: Arc<str>,
    /// Binds: id.
    pub flag_cancel: Arc<str>,
    /// Per queue: ready, scheduled, reserved. Binds: now, now, now.
    pub stats_jobs: Arc<str>,
    /// Per queue: failed. No binds.
    pub stats_failed: Arc<str>,
    /// The first queue after a name in the jobs table, then in the failed table. Binds: name.
    pub next_queue: [Arc<str>; 2],
    /// One queue's page of a state, in `(available_at, id)` or `(failed_at, id)` order.
    /// Binds: queue, now (or the cancelled flag), name or NULL, after_at, after_at,
    /// after_id, limit.
    pub list: [Arc<str>; LISTS],
    /// Binds: id.
    pub job: Arc<str>,
    /// Binds: id.
    pub failed_job: Arc<str>,
    /// Locks the selected failed jobs; returns id, queue. Binds as [`WHICH_FAILED`].
    pub failed_ids: [Arc<str>; 3],
    /// Binds as [`WHICH_FAILED`].
    pub forget: [Arc<str>; 3],
    /// Binds: before.
    pub prune_failed: Arc<str>,
    /// The live holds of a key: slot, owner, expires_at. Binds: key, now.
    pub holders: Arc<str>,
    /// Binds: key, owner.
    pub unlock: Arc<str>,
    /// Binds: now.
    pub prune_windows: Arc<str>,
    /// Binds: kind, key, value, expires_at.
    pub put_entry: Arc<str>,
    /// Binds: kind, now.
    pub prune_entries: Arc<str>,
    /// Binds: kind, key.
    pub remove_entry: Arc<str>,
    /// Binds: kind, now.
    pub entries: Arc<str>,
    /// Adds to a minute's counts. Binds: minute, queue, done, failed.
    pub add_throughput: Arc<str>,
    /// Binds: oldest minute kept.
    pub prune_throughput: Arc<str>,
    /// Binds: since.
    pub throughput: Arc<str>,
    /// Creates the table of applied migrations. No binds.
    pub create_migrations: Arc<str>,
    /// No binds.
    pub migrations: Arc<str>,
    /// Binds: name.
    pub migration_done: Arc<str>,
    /// Binds: name, applied_at.
    pub record_migration: Arc<str>,
    /// The dialect's statement storing one job alone (`Opened::insert_one`).
    pub insert_one: Arc<str>,
    /// The dialect's statements taking a window or a lock slot.
    pub takes: Takes,
    syntax: &'static Syntax,
    tables: Tables,
}

impl Statements {
    /// The statements on `t` in the words of `syntax`, with the dialect's own
    /// `insert_one` and `takes`.
    pub fn new(t: &Tables, syntax: &'static Syntax, insert_one: Arc<str>, takes: Takes) -> Self {
        let s = |sql: String| finish(syntax, sql);
        let (jobs, failed) = (&t.jobs, &t.failed);
        let copy_to_failed = |lease: &str| {
            let set = upsert(
                syntax,
                failed,
                "id",
                &["name", "queue", "payload", "error", "attempts", "overlap_key", "created_at", "failed_at", "meta", "cancelled"],
                false,
            );
            s(format!(
                "INSERT INTO {failed} (id, name, queue, payload, error, attempts, overlap_key, created_at, failed_at, meta, cancelled) \
                 SELECT id, name, queue, payload, ?, attempts, overlap_key, created_at, ?, meta, ? FROM {jobs} \
                 WHERE id = ?{lease} {set}"
            ))
        };
        let page = |state: &str| {
            s(format!(
                "SELECT {INFO_COLUMNS} FROM {jobs} WHERE queue = ? AND {state} AND name = COALESCE(?, name) \
                 AND available_at >= ? AND (available_at > ? OR id > ?) ORDER BY available_at, id LIMIT ?"
            ))
        };
        let for_update = syntax.for_update;
        Statements {
            probes: [
                format!("{INFO_COLUMNS}, reserved_until"),
                format!("{FAILED_COLUMNS}"),
                "lock_key, slot, owner, expires_at".into(),
                "unique_key, expires_at".into(),
                "kind, entry_key, value, expires_at".into(),
                "minute, queue, done, failed".into(),
            ]
            .iter()
            .zip(t.all())
            .map(|(columns, table)| s(format!("SELECT {columns} FROM {table} WHERE 1 = 0")))
            .collect(),
            retry: s(format!(
                "UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, last_error = ? \
                 WHERE id = ? AND lease_token = ?"
            )),
            release: s(format!(
                "UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END \
                 WHERE id = ? AND lease_token = ?"
            )),
            delete_held: s(format!("DELETE FROM {jobs} WHERE id = ? AND lease_token = ?")),
            fail_held: copy_to_failed(" AND lease_token = ?"),
            fail_any: copy_to_failed(""),
            delete_job: s(format!("DELETE FROM {jobs} WHERE id = ?")),
            lock_job: s(format!("SELECT available_at, lease_token FROM {jobs} WHERE id = ?{for_update}")),
            flag_cancel: s(format!("UPDATE {jobs} SET cancelled = TRUE WHERE id = ?")),
            stats_jobs: s(format!(
                "SELECT queue, \
                 COUNT(CASE WHEN available_at <= ? THEN 1 END), \
                 COUNT(CASE WHEN available_at > ? AND lease_token IS NULL THEN 1 END), \
                 COUNT(CASE WHEN available_at > ? AND lease_token IS NOT NULL THEN 1 END) \
                 FROM {jobs} GROUP BY queue"
            )),
            stats_failed: s(format!("SELECT queue, COUNT(*) FROM {failed} GROUP BY queue")),
            next_queue: [jobs, failed].map(|table| s(format!("SELECT MIN(queue) FROM {table} WHERE queue > ?"))),
            list: [
                page("available_at <= ?"),
                page("available_at > ? AND lease_token IS NULL"),
                page("available_at > ? AND lease_token IS NOT NULL"),
                s(format!(
                    "SELECT {FAILED_COLUMNS} FROM {failed} WHERE queue = ? AND cancelled = ? AND name = COALESCE(?, name) \
                     AND failed_at >= ? AND (failed_at > ? OR id > ?) ORDER BY failed_at, id LIMIT ?"
                )),
            ],
            job: s(format!("SELECT {INFO_COLUMNS} FROM {jobs} WHERE id = ?")),
            failed_job: s(format!("SELECT {FAILED_COLUMNS} FROM {failed} WHERE id = ?")),
            failed_ids: WHICH_FAILED.map(|w| s(format!("SELECT id, queue FROM {failed}{w}{for_update}"))),
            forget: WHICH_FAILED.map(|w| s(format!("DELETE FROM {failed}{w}"))),
            prune_failed: s(format!("DELETE FROM {failed} WHERE failed_at < ?")),
            holders: s(format!(
                "SELECT slot, owner, expires_at FROM {} WHERE lock_key = ? AND expires_at > ?",
                t.locks
            )),
            unlock: s(format!("DELETE FROM {} WHERE lock_key = ? AND owner = ?", t.locks)),
            prune_windows: s(format!("DELETE FROM {} WHERE expires_at <= ?", t.windows)),
            put_entry: s(format!(
                "INSERT INTO {0} (kind, entry_key, value, expires_at) VALUES (?, ?, ?, ?) {1}",
                t.entries,
                upsert(syntax, &t.entries, "kind, entry_key", &["value", "expires_at"], false)
            )),
            prune_entries: s(format!("DELETE FROM {} WHERE kind = ? AND expires_at <= ?", t.entries)),
            remove_entry: s(format!("DELETE FROM {} WHERE kind = ? AND entry_key = ?", t.entries)),
            entries: s(format!(
                "SELECT entry_key, value FROM {} WHERE kind = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY entry_key",
                t.entries
            )),
            add_throughput: s(format!(
                "INSERT INTO {0} (minute, queue, done, failed) VALUES (?, ?, ?, ?) {1}",
                t.throughput,
                upsert(syntax, &t.throughput, "minute, queue", &["done", "failed"], true)
            )),
            prune_throughput: s(format!("DELETE FROM {} WHERE minute < ?", t.throughput)),
            throughput: s(format!(
                "SELECT queue, minute, done, failed FROM {} WHERE minute >= ? ORDER BY minute, queue",
                t.throughput
            )),
            create_migrations: s("CREATE TABLE IF NOT EXISTS rakit_migrations \
                 (name VARCHAR(255) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)"
                .into()),
            migrations: s("SELECT name FROM rakit_migrations ORDER BY name".into()),
            migration_done: s("SELECT name FROM rakit_migrations WHERE name = ?".into()),
            record_migration: s("INSERT INTO rakit_migrations (name, applied_at) VALUES (?, ?)".into()),
            insert_one,
            takes,
            syntax,
            tables: t.clone(),
        }
    }

    /// Puts `n` failed jobs back on their queues, due at once with no attempts. Binds:
    /// available_at, then the `n` ids.
    pub fn unfail(&self, n: usize) -> Arc<str> {
        let (jobs, failed) = (&self.tables.jobs, &self.tables.failed);
        finish(
            self.syntax,
            format!(
                "INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key, meta) \
                 SELECT id, name, queue, payload, 0, ?, created_at, overlap_key, meta FROM {failed} WHERE id IN ({})",
                marks(n)
            ),
        )
    }

    /// Deletes `n` failed jobs by id. Binds: the ids.
    pub fn forget_ids(&self, n: usize) -> Arc<str> {
        finish(
            self.syntax,
            format!("DELETE FROM {} WHERE id IN ({})", self.tables.failed, marks(n)),
        )
    }
}

/// What a column holds; a dialect's `Syntax::types` names the type of each, in this order.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Col {
    /// A job id (a UUID).
    Id,
    /// A job name.
    Name,
    /// A queue name.
    Queue,
    /// A key that is indexed or compared: unique, no-overlap, lock and entry keys.
    Key,
    /// Any text: payloads, errors, meta.
    Text,
    /// An integer: times in milliseconds, counts, tokens.
    Int,
    /// A flag.
    Flag,
}

/// One table of the schema, in `Tables::all` order: its columns (name, kind, constraint),
/// its primary key and its indexes (name suffix, columns, unique).
type TableDef = (
    &'static [(&'static str, Col, &'static str)],
    &'static str,
    &'static [(&'static str, &'static str, bool)],
);

const NOT_NULL: &str = "NOT NULL";

/// The schema, written once: every time is milliseconds since the Unix epoch. In the jobs
/// table `available_at` is when the job may next be taken (its due time while it waits,
/// its lease deadline while a worker holds it), so "due" is one range on the claim index.
const SCHEMA: [TableDef; 6] = [
    (
        &[
            ("id", Col::Id, NOT_NULL),
            ("name", Col::Name, NOT_NULL),
            ("queue", Col::Queue, NOT_NULL),
            ("payload", Col::Text, NOT_NULL),
            ("attempts", Col::Int, "NOT NULL DEFAULT 0"),
            ("available_at", Col::Int, NOT_NULL),
            ("created_at", Col::Int, NOT_NULL),
            ("reserved_until", Col::Int, "NULL"),
            ("lease_token", Col::Int, "NULL"),
            ("worker", Col::Text, "NULL"),
            ("overlap_key", Col::Key, "NULL"),
            ("unique_key", Col::Key, "NULL"),
            ("last_error", Col::Text, "NULL"),
            ("meta", Col::Text, "NULL"),
            ("cancelled", Col::Flag, "NOT NULL DEFAULT FALSE"),
        ],
        "id",
        &[("claim", "queue, available_at, id", false), ("unique", "unique_key", true)],
    ),
    (
        &[
            ("id", Col::Id, NOT_NULL),
            ("name", Col::Name, NOT_NULL),
            ("queue", Col::Queue, NOT_NULL),
            ("payload", Col::Text, NOT_NULL),
            ("error", Col::Text, NOT_NULL),
            ("attempts", Col::Int, NOT_NULL),
            ("overlap_key", Col::Key, "NULL"),
            ("created_at", Col::Int, NOT_NULL),
            ("failed_at", Col::Int, NOT_NULL),
            ("meta", Col::Text, "NULL"),
            ("cancelled", Col::Flag, "NOT NULL DEFAULT FALSE"),
        ],
        "id",
        &[("time", "failed_at, id", false), ("listing", "queue, cancelled, failed_at, id", false)],
    ),
    (
        &[
            ("lock_key", Col::Key, NOT_NULL),
            ("slot", Col::Int, NOT_NULL),
            ("owner", Col::Key, NOT_NULL),
            ("expires_at", Col::Int, NOT_NULL),
        ],
        "lock_key, slot",
        &[],
    ),
    (
        &[("unique_key", Col::Key, NOT_NULL), ("expires_at", Col::Int, NOT_NULL)],
        "unique_key",
        &[("expiry", "expires_at", false)],
    ),
    (
        &[
            ("kind", Col::Key, NOT_NULL),
            ("entry_key", Col::Key, NOT_NULL),
            ("value", Col::Text, NOT_NULL),
            ("expires_at", Col::Int, "NULL"),
        ],
        "kind, entry_key",
        &[],
    ),
    (
        &[
            ("minute", Col::Int, NOT_NULL),
            ("queue", Col::Queue, NOT_NULL),
            ("done", Col::Int, NOT_NULL),
            ("failed", Col::Int, NOT_NULL),
        ],
        "minute, queue",
        &[],
    ),
];

/// The DDL creating every table of `t` with its indexes, in the words of `syntax`; its
/// first line names the dialect, and every statement is `IF NOT EXISTS`.
pub(crate) fn ddl(t: &Tables, syntax: &Syntax) -> String {
    let mut out = format!("{}\n", crate::schema::marker(syntax.name));
    for (table, (columns, primary, indexes)) in t.all().into_iter().zip(SCHEMA) {
        let mut lines: Vec<String> = columns
            .iter()
            .map(|(name, col, rule)| format!("    {name} {} {rule}", syntax.types[*col as usize]))
            .collect();
        lines.push(format!("    PRIMARY KEY ({primary})"));
        let unique = |u: bool| if u { "UNIQUE " } else { "" };
        if syntax.inline_indexes {
            lines.extend(indexes.iter().map(|(suffix, cols, u)| {
                format!("    {}KEY {table}_{suffix} ({cols})", unique(*u))
            }));
        }
        let options = syntax.table_options;
        out += &format!("CREATE TABLE IF NOT EXISTS {table} (\n{}\n){options};\n", lines.join(",\n"));
        if !syntax.inline_indexes {
            for (suffix, cols, u) in indexes.iter() {
                out += &format!(
                    "CREATE {}INDEX IF NOT EXISTS {table}_{suffix} ON {table} ({cols});\n",
                    unique(*u)
                );
            }
        }
    }
    out
}

/// The statement in the dialect's placeholder style.
pub(crate) fn finish(syntax: &Syntax, sql: String) -> Arc<str> {
    match syntax.numbered {
        true => numbered(&sql).into(),
        false => sql.into(),
    }
}

/// `n` placeholders, comma-separated.
pub(crate) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The clause that makes an insert meeting `key` set `cols` to the proposed values, or
/// (`add`) add the proposed values to the stored ones.
fn upsert(syntax: &Syntax, table: &str, key: &str, cols: &[&str], add: bool) -> String {
    let set: Vec<String> = cols
        .iter()
        .map(|c| {
            let proposed = syntax.proposed.replace("{col}", c);
            match add {
                true => format!("{c} = {table}.{c} + {proposed}"),
                false => format!("{c} = {proposed}"),
            }
        })
        .collect();
    format!("{} {}", syntax.on_conflict.replace("{key}", key), set.join(", "))
}

/// A multi-row insert of `rows` jobs; binds `rows::insert_args` per job.
pub(crate) fn insert_jobs(jobs: &str, rows: usize) -> String {
    let values = vec![INSERT_ROW; rows].join(", ");
    format!("INSERT INTO {jobs} ({INSERT_COLUMNS}) VALUES {values}")
}

/// Statements that take a row keyed by a unique key when that row is free: absent, run
/// out, or (a lock slot) already the asker's.
#[derive(Debug)]
pub(crate) struct Take {
    /// SQLite and PostgreSQL: an upsert that changes the row when it took it. MySQL: an
    /// update that changes the row when it is there and free.
    pub first: Arc<str>,
    /// MySQL: then, when the update changed nothing, an insert of the row binding the
    /// first `n` values, which fails on a taken key.
    pub insert: Option<(Arc<str>, usize)>,
}

/// How a dialect takes a unique window (binds: key, until, now) and a lock slot (binds:
/// key, slot, owner, until, now).
#[derive(Debug)]
pub(crate) struct Takes {
    /// A unique key's window.
    pub window: Take,
    /// A slot of a capacity lock.
    pub slot: Take,
}

impl Takes {
    /// SQLite and PostgreSQL: one `INSERT … ON CONFLICT … DO UPDATE … WHERE <free>` each.
    pub fn on_conflict(t: &Tables, syntax: &Syntax) -> Self {
        let take = |table: &str, key: &str, cols: &[&str], free_when: String| {
            let set: Vec<String> = cols.iter().map(|c| format!("{c} = excluded.{c}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({key}) DO UPDATE SET {} WHERE {free_when}",
                cols.join(", "),
                marks(cols.len()),
                set.join(", ")
            );
            Take {
                first: finish(syntax, sql),
                insert: None,
            }
        };
        let (w, l) = (&t.windows, &t.locks);
        Takes {
            window: take(w, "unique_key", &["unique_key", "expires_at"], format!("{w}.expires_at <= ?")),
            slot: take(
                l,
                "lock_key, slot",
                &["lock_key", "slot", "owner", "expires_at"],
                format!("{l}.owner = excluded.owner OR {l}.expires_at <= ?"),
            ),
        }
    }
}

/// The statement storing one job alone, as SQLite and MySQL write it.
pub(crate) fn insert_one(jobs: &str, syntax: &Syntax) -> Arc<str> {
    let skip = syntax.skip_taken.unwrap_or_default();
    finish(syntax, format!("{}{skip}", insert_jobs(jobs, 1)))
}

/// SQLite and MySQL claim, first step: one queue's due jobs, oldest first, through the
/// claim index; `lock` locks the rows returned. Binds: queue, now, limit (with `named`:
/// queue, now, name, limit).
pub(crate) fn due(jobs: &str, named: bool, lock: &str) -> Arc<str> {
    let name = if named { " AND name = ?" } else { "" };
    format!(
        "SELECT {JOB_COLUMNS} FROM {jobs} WHERE queue = ? AND available_at <= ?{name} \
         ORDER BY available_at, id LIMIT ?{lock}"
    )
    .into()
}

/// SQLite and MySQL claim, second step: lease `n` picked jobs, each with its own token.
/// Binds: deadline, deadline, worker, `n` pairs (id, token), the `n` ids.
pub(crate) fn lease_picked(jobs: &str, n: usize) -> Arc<str> {
    let cases = " WHEN ? THEN ?".repeat(n);
    format!(
        "UPDATE {jobs} SET attempts = attempts + 1, available_at = ?, reserved_until = ?, worker = ?, \
         lease_token = CASE id{cases} END WHERE id IN ({})",
        marks(n)
    )
    .into()
}

/// Drops every table of `t`, for tests that made their own.
#[cfg(test)]
pub(crate) fn drop_tables(t: &Tables) -> Vec<Arc<str>> {
    t.all().iter().map(|table| format!("DROP TABLE IF EXISTS {table}").into()).collect()
}

/// Rewrites `?` placeholders as `$1, $2, …` (none of our statements has `?` in a literal).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b = ?"), "a = $1 AND b = $2");
    }

    #[test]
    fn batch_statements_bind_every_job() {
        let sql = lease_picked("jobs", 2);
        assert_eq!(sql.matches('?').count(), 3 + 2 * 2 + 2);
        assert!(sql.contains("CASE id WHEN ? THEN ? WHEN ? THEN ? END WHERE id IN (?, ?)"));
        assert_eq!(insert_jobs("jobs", 3).matches('?').count(), 3 * 9);
    }
}
