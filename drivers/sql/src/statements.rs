//! The SQL text the dialects share, written once with `?` placeholders and the few
//! [`Syntax`] words a dialect gives; PostgreSQL's copy gets `$1, $2, …` ([`numbered`]).
//!
//! Only validated table names are formatted in; every value is a bind parameter.

use crate::dialect::{ArrayInserts, Syntax};
use crate::tables::Tables;
use std::sync::Arc;

/// A job as a claim hands it out (read by `rows::stored_job`).
pub(crate) const JOB_COLUMNS: &str = "id, name, queue, payload, attempts, created_at, overlap_key, unique_key, last_error, meta, cancelled";

/// What an insert writes; `rows::insert_args` binds the values in this order.
pub(crate) const INSERT_COLUMNS: &str =
    "id, name, queue, payload, attempts, available_at, created_at, overlap_key, unique_key, meta";
const INSERT_ROW: &str = "(?, ?, ?, ?, 0, ?, ?, ?, ?, ?)";

/// The most rows one multi-row statement carries: at most nine binds each stays far below
/// every dialect's limit (SQLite 32,766; PostgreSQL and MySQL 65,535).
pub(crate) const BATCH_ROWS: usize = 1_000;
const _: () = assert!(BATCH_ROWS * 9 < 32_766);

/// The statements every dialect shares, one a line, in [`Sql`] order, each followed by
/// what it binds (`-- …`, dropped before use). `{jobs}` and `{failed}` stand for the
/// tables (the others are named after the jobs table), `{info}` and `{failed_info}` for
/// the columns `rows` reads, `{page}` for a listing page after a position, `{copy}` for a
/// job copied into the failed table; the rest is the dialect's `Syntax`.
const SHARED: &str = "\
UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, last_error = ? WHERE id = ? AND lease_token = ? -- available_at, error, id, token
UPDATE {jobs} SET available_at = ?, reserved_until = NULL, lease_token = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = ? AND lease_token = ? -- available_at, id, token
DELETE FROM {jobs} WHERE id = ? AND lease_token = ? -- id, token
{copy} AND lease_token = ? {upsert_failed} -- error, failed_at, cancelled, id, token
{copy} {upsert_failed} -- error, failed_at, cancelled, id
DELETE FROM {jobs} WHERE id = ? -- id
SELECT available_at, lease_token FROM {jobs} WHERE id = ?{for_update} -- id
UPDATE {jobs} SET cancelled = TRUE WHERE id = ? -- id
SELECT queue, COUNT(CASE WHEN available_at <= ? THEN 1 END), COUNT(CASE WHEN available_at > ? AND lease_token IS NULL THEN 1 END), COUNT(CASE WHEN available_at > ? AND lease_token IS NOT NULL THEN 1 END) FROM {jobs} GROUP BY queue -- now, now, now
SELECT COUNT(*) FROM {jobs} WHERE queue = ? AND available_at <= ? -- queue, now
SELECT COUNT(CASE WHEN lease_token IS NULL THEN 1 END), COUNT(lease_token) FROM {jobs} WHERE queue = ? AND available_at > ? -- queue, now
SELECT MIN(available_at) FROM {jobs} WHERE queue = ? -- queue
SELECT queue, COUNT(*) FROM {failed} GROUP BY queue
SELECT MIN(queue) FROM {jobs} WHERE queue > ? -- after
SELECT MIN(queue) FROM {failed} WHERE queue > ? -- after
SELECT {info} FROM {jobs} WHERE queue = ? AND available_at <= ? AND {page} -- queue, now, {page}
SELECT {info} FROM {jobs} WHERE queue = ? AND available_at > ? AND lease_token IS NULL AND {page} -- queue, now, {page}
SELECT {info} FROM {jobs} WHERE queue = ? AND available_at > ? AND lease_token IS NOT NULL AND {page} -- queue, now, {page}
SELECT {failed_info} FROM {failed} WHERE queue = ? AND cancelled = ? AND {failed_page} -- queue, cancelled, {page}
SELECT {info} FROM {jobs} WHERE id = ? -- id
SELECT {failed_info} FROM {failed} WHERE id = ? -- id
SELECT id, queue FROM {failed} WHERE id = ?{for_update} -- id
SELECT id, queue FROM {failed} WHERE queue = ?{for_update} -- queue
SELECT id, queue FROM {failed}{for_update}
DELETE FROM {failed} WHERE id = ? -- id
DELETE FROM {failed} WHERE queue = ? -- queue
DELETE FROM {failed}
DELETE FROM {failed} WHERE failed_at < ? -- before
SELECT slot, owner, expires_at FROM {jobs}_locks WHERE lock_key = ? AND expires_at > ? -- key, now
DELETE FROM {jobs}_locks WHERE lock_key = ? AND owner = ? -- key, owner
DELETE FROM {jobs}_windows WHERE expires_at <= ? -- now
INSERT INTO {jobs}_entries (kind, entry_key, value, expires_at) VALUES (?, ?, ?, ?) {upsert_entry} -- kind, key, value, until
DELETE FROM {jobs}_entries WHERE kind = ? AND expires_at <= ? -- kind, now
DELETE FROM {jobs}_entries WHERE kind = ? AND entry_key = ? -- kind, key
SELECT entry_key, value FROM {jobs}_entries WHERE kind = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY entry_key -- kind, now
SELECT value, expires_at FROM {jobs}_entries WHERE kind = ? AND entry_key = ? -- kind, key
SELECT value, expires_at FROM {jobs}_entries WHERE kind = ? AND entry_key = ?{for_update} -- kind, key
UPDATE {jobs}_entries SET value = ?, expires_at = NULL WHERE kind = ? AND entry_key = ? -- value, kind, key
INSERT INTO {jobs}_entries (kind, entry_key, value, expires_at) VALUES (?, ?, ?, NULL) -- kind, key, value
INSERT INTO {jobs}_throughput (minute, queue, done, failed) VALUES (?, ?, ?, ?) {add_throughput} -- minute, queue, done, failed
DELETE FROM {jobs}_throughput WHERE minute < ? -- oldest minute kept
SELECT queue, minute, done, failed FROM {jobs}_throughput WHERE minute >= ? ORDER BY minute, queue -- since
CREATE TABLE IF NOT EXISTS rakit_migrations (name VARCHAR(255) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)
SELECT name FROM rakit_migrations ORDER BY name
SELECT name FROM rakit_migrations WHERE name = ? -- name
INSERT INTO rakit_migrations (name, applied_at) VALUES (?, ?) -- name, applied_at
SELECT {info}, reserved_until FROM {jobs} WHERE 1 = 0
SELECT {failed_info} FROM {failed} WHERE 1 = 0
SELECT lock_key, slot, owner, expires_at FROM {jobs}_locks WHERE 1 = 0
SELECT unique_key, expires_at FROM {jobs}_windows WHERE 1 = 0
SELECT kind, entry_key, value, expires_at FROM {jobs}_entries WHERE 1 = 0
SELECT minute, queue, done, failed FROM {jobs}_throughput WHERE 1 = 0";

/// The words of [`SHARED`] that are the same in every dialect, one a line: the word, a
/// space, what it stands for. A `{page}` binds: name or NULL, after_at, after_at, after_id,
/// limit.
const WORDS: &str = "\
{info} id, name, queue, payload, attempts, created_at, overlap_key, unique_key, last_error, meta, cancelled, available_at, lease_token, worker
{failed_info} id, name, queue, payload, attempts, created_at, overlap_key, NULL, error, meta, cancelled, failed_at
{page} name = COALESCE(?, name) AND available_at >= ? AND (available_at > ? OR id > ?) ORDER BY available_at, id LIMIT ?
{failed_page} name = COALESCE(?, name) AND failed_at >= ? AND (failed_at > ? OR id > ?) ORDER BY failed_at, id LIMIT ?
{copy} INSERT INTO {failed} (id, {copied}) SELECT id, name, queue, payload, ?, attempts, overlap_key, created_at, ?, meta, ? FROM {jobs} WHERE id = ?
{copied} name, queue, payload, error, attempts, overlap_key, created_at, failed_at, meta, cancelled";

/// The shared statements, by what they do, in [`SHARED`] order (which says what each binds).
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sql {
    Retry,
    /// Hands a job back with its attempt uncounted.
    Release,
    DeleteHeld,
    /// Copies a held job into the failed table.
    FailHeld,
    /// Copies a job into the failed table whatever its lease.
    FailAny,
    DeleteJob,
    /// Locks a job for a cancel; returns available_at, lease_token.
    LockJob,
    FlagCancel,
    /// Per queue: ready, scheduled, reserved, in one pass over the table.
    StatsJobs,
    /// One queue's ready jobs, read from the claim index alone.
    StatsReady,
    /// One queue's scheduled and reserved jobs: only the rows due later are read.
    StatsLater,
    /// When one queue's earliest job or lease comes (or came) due, read from the claim index.
    NextDue,
    StatsFailed,
    /// The first queue after a name, in the jobs table, then in the failed table.
    NextQueue,
    NextFailedQueue,
    /// One queue's page of pending, scheduled, running, failed jobs; the failed table's
    /// binds the cancel flag where the others bind `now`.
    ListPending,
    ListScheduled,
    ListRunning,
    ListFailed,
    Job,
    FailedJob,
    /// Lock failed jobs (one, a queue's, all) and return id, queue.
    FailedIdsOne,
    FailedIdsQueue,
    FailedIdsAll,
    ForgetOne,
    ForgetQueue,
    ForgetAll,
    PruneFailed,
    /// The live holds of a key: slot, owner, expires_at.
    Holders,
    Unlock,
    PruneWindows,
    PutEntry,
    PruneEntries,
    RemoveEntry,
    Entries,
    /// One entry: value, expires_at; `EntryToSwap` locks its row.
    Entry,
    EntryToSwap,
    SetEntry,
    AddEntry,
    /// Adds to a minute's counts.
    AddThroughput,
    PruneThroughput,
    Throughput,
    CreateMigrations,
    Migrations,
    MigrationDone,
    RecordMigration,
    /// The first of the probes, one per table to the end: each selects every column this
    /// crate uses, so it fails on a missing table or column.
    Probes,
}

/// The statements a store runs, in its dialect's placeholder style.
#[derive(Debug)]
pub(crate) struct Statements {
    shared: Vec<Arc<str>>,
    /// The dialect's statement storing one job alone (`Opened::insert_one`).
    pub insert_one: Arc<str>,
    /// The dialect's statements taking a window or a lock slot.
    pub takes: Takes,
    /// The dialect's batch inserts binding arrays (`Opened::insert_arrays`).
    pub insert_arrays: Option<ArrayInserts>,
    syntax: &'static Syntax,
    tables: Tables,
}

impl std::ops::Index<Sql> for Statements {
    type Output = Arc<str>;
    fn index(&self, sql: Sql) -> &Arc<str> {
        &self.shared[sql as usize]
    }
}

impl Statements {
    /// The statements on `t` in the words of `syntax`, with the dialect's own
    /// `insert_one` and `takes`.
    pub fn new(
        t: &Tables,
        syntax: &'static Syntax,
        insert_one: Arc<str>,
        takes: Takes,
        insert_arrays: Option<ArrayInserts>,
    ) -> Self {
        let copied: Vec<&str> = WORDS
            .lines()
            .last()
            .unwrap_or_default()
            .split(", ")
            .skip(1)
            .collect();
        let dialect = [
            (
                "{upsert_failed}",
                upsert(syntax, &t.failed, "id", &copied, false),
            ),
            (
                "{upsert_entry}",
                upsert(
                    syntax,
                    &t.entries,
                    "kind, entry_key",
                    &["value", "expires_at"],
                    false,
                ),
            ),
            (
                "{add_throughput}",
                upsert(
                    syntax,
                    &t.throughput,
                    "minute, queue",
                    &["done", "failed"],
                    true,
                ),
            ),
            ("{for_update}", syntax.for_update.to_string()),
        ];
        let mut text = SHARED.to_string();
        let words = WORDS.lines().filter_map(|line| line.split_once(' '));
        for (word, value) in words.chain(dialect.iter().map(|(w, v)| (*w, v.as_str()))) {
            text = text.replace(word, value);
        }
        let text = text
            .replace("{jobs}", &t.jobs)
            .replace("{failed}", &t.failed);
        let shared: Vec<Arc<str>> = text
            .lines()
            .map(|line| {
                finish(
                    syntax,
                    line.split(" -- ").next().unwrap_or_default().to_string(),
                )
            })
            .collect();
        debug_assert_eq!(shared.len(), Sql::Probes as usize + t.all().len());
        Statements {
            shared,
            insert_one,
            takes,
            insert_arrays,
            syntax,
            tables: t.clone(),
        }
    }

    /// The probes of every table.
    pub fn probes(&self) -> &[Arc<str>] {
        &self.shared[Sql::Probes as usize..]
    }

    /// Puts `n` failed jobs back on their queues, due at once with no attempts. Binds:
    /// available_at, then the `n` ids.
    pub fn unfail(&self, n: usize) -> Arc<str> {
        let (jobs, failed) = (&self.tables.jobs, &self.tables.failed);
        let sql = format!(
            "INSERT INTO {jobs} (id, name, queue, payload, attempts, available_at, created_at, overlap_key, meta) \
             SELECT id, name, queue, payload, 0, ?, created_at, overlap_key, meta FROM {failed} WHERE id IN ({})",
            marks(n)
        );
        finish(self.syntax, sql)
    }

    /// Deletes `n` failed jobs by id. Binds: the ids.
    pub fn forget_ids(&self, n: usize) -> Arc<str> {
        let sql = format!(
            "DELETE FROM {} WHERE id IN ({})",
            self.tables.failed,
            marks(n)
        );
        finish(self.syntax, sql)
    }
}

/// The schema, written once. `{int}`, `{text}`… stand for the dialect's type words
/// (`Syntax::types`, in [`TYPES`] order), and an `INDEX` line becomes an index of its table.
/// Times are milliseconds since the Unix epoch. In the jobs table `available_at` is when
/// the job may next be taken, its due time while it waits and its lease deadline while a
/// worker holds it, so "due" is one range of the claim index. The unique index holds only
/// jobs that have a unique key (partial where the dialect has partial indexes): most jobs
/// have none, and each then writes and deletes one index entry fewer.
const SCHEMA: &str = "{jobs}
    id {id} NOT NULL
    name {name} NOT NULL
    queue {queue} NOT NULL
    payload {text} NOT NULL
    attempts {int} NOT NULL DEFAULT 0
    available_at {int} NOT NULL
    created_at {int} NOT NULL
    reserved_until {int} NULL
    lease_token {int} NULL
    worker {text} NULL
    overlap_key {key} NULL
    unique_key {key} NULL
    last_error {text} NULL
    meta {text} NULL
    cancelled {flag} NOT NULL DEFAULT FALSE
    PRIMARY KEY (id)
    INDEX claim (queue, available_at, id)
    UNIQUE INDEX unique (unique_key) WHERE unique_key IS NOT NULL
{failed}
    id {id} NOT NULL
    name {name} NOT NULL
    queue {queue} NOT NULL
    payload {text} NOT NULL
    error {text} NOT NULL
    attempts {int} NOT NULL
    overlap_key {key} NULL
    created_at {int} NOT NULL
    failed_at {int} NOT NULL
    meta {text} NULL
    cancelled {flag} NOT NULL DEFAULT FALSE
    PRIMARY KEY (id)
    INDEX time (failed_at, id)
    INDEX listing (queue, cancelled, failed_at, id)
{jobs}_locks
    lock_key {key} NOT NULL
    slot {int} NOT NULL
    owner {key} NOT NULL
    expires_at {int} NOT NULL
    PRIMARY KEY (lock_key, slot)
{jobs}_windows
    unique_key {key} NOT NULL
    expires_at {int} NOT NULL
    PRIMARY KEY (unique_key)
    INDEX expiry (expires_at)
{jobs}_entries
    kind {key} NOT NULL
    entry_key {key} NOT NULL
    value {text} NOT NULL
    expires_at {int} NULL
    PRIMARY KEY (kind, entry_key)
{jobs}_throughput
    minute {int} NOT NULL
    queue {queue} NOT NULL
    done {int} NOT NULL
    failed {int} NOT NULL
    PRIMARY KEY (minute, queue)";

/// The kinds of column in [`SCHEMA`], in the order of `Syntax::types`.
pub(crate) const TYPES: [&str; 7] = [
    "{id}", "{name}", "{queue}", "{key}", "{text}", "{int}", "{flag}",
];

/// The DDL creating every table of `t` with its indexes, in the words of `syntax`: its
/// first line names the dialect, and every statement is `IF NOT EXISTS`. MySQL, which
/// has no `CREATE INDEX IF NOT EXISTS`, declares the indexes inside `CREATE TABLE`.
pub(crate) fn ddl(t: &Tables, syntax: &Syntax) -> String {
    let mut text = SCHEMA
        .replace("{jobs}", &t.jobs)
        .replace("{failed}", &t.failed);
    for (kind, word) in TYPES.iter().zip(syntax.types) {
        text = text.replace(kind, word);
    }
    // Per table: its name, the lines inside `CREATE TABLE`, the statements after it.
    let mut tables: Vec<(&str, Vec<String>, String)> = Vec::new();
    for line in text.lines() {
        let Some(line) = line.strip_prefix("    ") else {
            tables.push((line, Vec::new(), String::new()));
            continue;
        };
        let Some((name, inside, after)) = tables.last_mut() else {
            continue;
        };
        match line.split_once("INDEX ") {
            Some((unique, index)) => {
                let (suffix, columns) = index.split_once(' ').unwrap_or_default();
                match syntax.inline_indexes {
                    // MySQL has no partial index; its unique index holds many NULLs anyway.
                    true => {
                        let columns = columns.split_once(" WHERE ").map_or(columns, |(c, _)| c);
                        inside.push(format!("{unique}KEY {name}_{suffix} {columns}"))
                    }
                    false => {
                        *after += &format!(
                            "CREATE {unique}INDEX IF NOT EXISTS {name}_{suffix} ON {name} {columns};\n"
                        )
                    }
                }
            }
            None => inside.push(line.to_string()),
        }
    }
    let mut out = format!("{}\n", crate::schema::marker(syntax.name));
    for (name, inside, after) in tables {
        let options = syntax.table_options;
        let inside = inside.join(",\n    ");
        out += &format!("CREATE TABLE IF NOT EXISTS {name} (\n    {inside}\n){options};\n{after}");
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
    format!(
        "{} {}",
        syntax.on_conflict.replace("{key}", key),
        set.join(", ")
    )
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
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
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
            window: take(
                w,
                "unique_key",
                &["unique_key", "expires_at"],
                format!("{w}.expires_at <= ?"),
            ),
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
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert_one(jobs: &str, syntax: &Syntax) -> Arc<str> {
    let skip = syntax.skip_taken.unwrap_or_default();
    finish(syntax, format!("{}{skip}", insert_jobs(jobs, 1)))
}

/// SQLite and MySQL claim, first step: one queue's due jobs, oldest first, through the
/// claim index, with their due time last; `hint` follows the table's name and `lock`
/// locks the rows returned. Binds: queue, now, with `named` the name, then what `from`
/// binds, then the limit.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn due(jobs: &str, named: bool, from: DueFrom, [hint, lock]: [&str; 2]) -> Arc<str> {
    let name = if named { " AND name = ?" } else { "" };
    let from = match from {
        DueFrom::Start => "",
        DueFrom::SameDueAfter => " AND available_at = ? AND id > ?",
        DueFrom::LaterDue => " AND available_at > ?",
    };
    format!(
        "SELECT {JOB_COLUMNS}, available_at FROM {jobs}{hint} WHERE queue = ? AND available_at <= ?{name}{from} \
         ORDER BY available_at, id LIMIT ?{lock}"
    )
    .into()
}

/// Where a claim's select starts in the claim index. After a cursor it takes two selects,
/// because MariaDB starts a range at `(due, id)` only for an equality on the due time: it
/// reads `(available_at = ? AND id > ?) OR available_at > ?` and `(available_at, id) >
/// (?, ?)` from the first job of that due time on.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) enum DueFrom {
    /// The start of the queue.
    Start,
    /// The jobs of the cursor's due time after its id. Binds: due time, id.
    SameDueAfter,
    /// The jobs due after the cursor's due time. Binds: due time.
    LaterDue,
}

/// SQLite and MySQL claim, second step: lease `n` picked jobs, each with its own token.
/// Binds: deadline, deadline, worker, `n` pairs (id, token), the `n` ids.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
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
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn drop_tables(t: &Tables) -> Vec<Arc<str>> {
    t.all()
        .iter()
        .map(|table| format!("DROP TABLE IF EXISTS {table}").into())
        .collect()
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
}
