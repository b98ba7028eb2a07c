//! `job:table` and `migrate`: the SQL stores' tables as migration files, one per dialect
//! (`2026_01_31_120000_create_rakit_jobs_table_postgres.sql`), applied in name order.
//! A file written for another dialect, by its name or its first line, is refused before
//! any migration runs.

// Without an SQL store compiled in, only the tests read the folder.
#![cfg_attr(not(feature = "_sql"), allow(dead_code))]

use super::Failure;
use super::args::Setup;
use crate::queue::Queue;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs `job:table` or `migrate` on `queue`, which must be an SQL store.
#[cfg_attr(not(feature = "_sql"), allow(unused_variables))]
pub(crate) async fn run(queue: &Queue, command: Setup, out: &mut dyn Write) -> Result<(), Failure> {
    #[cfg(feature = "_sql")]
    if let Some(sql) = queue.sql_driver() {
        return match command {
            Setup::Table(options) => {
                let table = &queue.config().table;
                write_table(&options.path, table, sql.dialect(), &sql.schema(), out)
            }
            Setup::Migrate(options) => migrate(sql, &options.path, out).await,
        };
    }
    let name = match command {
        Setup::Table(_) => "job:table",
        Setup::Migrate(_) => "migrate",
    };
    Err(Failure::usage(format!(
        "{} has no tables to create; `{name}` is only for the SQL stores (sqlite, postgres, mysql)",
        queue.describe()
    )))
}

/// The end of the migration's file name for `table` in `dialect`.
fn suffix(table: &str, dialect: &str) -> String {
    format!("_create_{table}_table_{dialect}.sql")
}

/// `job:table`: writes the DDL to a new migration unless one for this dialect exists.
fn write_table(
    dir: &Path,
    table: &str,
    dialect: &str,
    schema: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| unusable(dir, e))?;
    let suffix = suffix(table, dialect);
    let existing = sql_files(dir)?
        .into_iter()
        .find(|path| path.to_string_lossy().ends_with(&suffix));
    if let Some(existing) = existing {
        writeln!(out, "The migration already exists: {}", existing.display())?;
        return Ok(());
    }
    let stamp = chrono::Local::now().format("%Y_%m_%d_%H%M%S");
    let path = dir.join(format!("{stamp}{suffix}"));
    std::fs::write(&path, schema).map_err(|e| unusable(&path, e))?;
    writeln!(
        out,
        "Migration written: {}\nRun `migrate` to apply it.",
        path.display()
    )?;
    Ok(())
}

/// `migrate`: applies every migration not applied yet, in name order, showing each step.
#[cfg(feature = "_sql")]
async fn migrate(
    sql: &rakit_job_sql::SqlDriver,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "the folder {} does not exist; run `job:table` first to write the migration",
            dir.display()
        )));
    }
    let applied = sql.applied_migrations().await?;
    let pending = pending(dir, &applied)?;
    if pending.is_empty() {
        writeln!(out, "Nothing to migrate.")?;
        return Ok(());
    }
    refuse_other_dialects(&pending, sql.dialect())?;
    let total = pending.len();
    for (step, migration) in pending.iter().enumerate() {
        let step = step + 1;
        writeln!(out, "[{step}/{total}] Migrating: {}", migration.name)?;
        sql.apply_migration(&migration.name, &migration.sql).await?;
        writeln!(out, "[{step}/{total}] Migrated:  {}", migration.name)?;
    }
    Ok(())
}

/// A migration file not applied yet.
struct Migration {
    /// Its file name without `.sql`, as the migrations table records it.
    name: String,
    /// Its statements.
    sql: String,
}

/// The migrations of `dir` missing from `applied`, read whole, in name order.
fn pending(dir: &Path, applied: &[String]) -> Result<Vec<Migration>, Failure> {
    let mut pending = Vec::new();
    for path in sql_files(dir)? {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if applied.contains(&name) {
            continue;
        }
        let sql = std::fs::read_to_string(&path).map_err(|e| unusable(&path, e))?;
        pending.push(Migration { name, sql });
    }
    Ok(pending)
}

/// The dialects a migration can be written for.
const DIALECTS: [&str; 3] = ["sqlite", "postgres", "mysql"];

/// Refuses the whole run when a pending migration names a dialect other than `dialect`
/// in its file name or its first line, so nothing is applied.
fn refuse_other_dialects(pending: &[Migration], dialect: &str) -> Result<(), Failure> {
    for migration in pending {
        let by_text = text_dialect(migration.sql.lines().next().unwrap_or(""));
        let by_name = DIALECTS
            .into_iter()
            .find(|d| migration.name.ends_with(&format!("_{d}")));
        if let Some(other) = by_name.into_iter().chain(by_text).find(|d| *d != dialect) {
            return Err(Failure::runtime(format!(
                "the migration {} is for {other}, but this database is {dialect}, so nothing was migrated; move it out of this folder (keep one migrations folder per database, where `job:table` writes the {dialect} one)",
                migration.name
            )));
        }
    }
    Ok(())
}

/// The dialect a DDL's first line names (`-- rakit-job schema for postgres`, or the older
/// `-- rakit-job tables for PostgreSQL`).
fn text_dialect(first_line: &str) -> Option<&'static str> {
    ["-- rakit-job schema for ", "-- rakit-job tables for "]
        .iter()
        .find_map(|marker| first_line.trim().strip_prefix(marker))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|word| match word.to_ascii_lowercase().as_str() {
            "sqlite" => Some("sqlite"),
            "postgres" | "postgresql" => Some("postgres"),
            "mysql" | "mariadb" => Some("mysql"),
            _ => None,
        })
}

/// The `.sql` files of `dir`, in name order.
fn sql_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| unusable(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

/// A file or folder that cannot be read or written.
pub(crate) fn unusable(path: &Path, e: std::io::Error) -> Failure {
    Failure::runtime(format!(
        "cannot use {}: {e}; check that the folder exists and is writable",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(name: &str, sql: &str) -> Migration {
        Migration {
            name: name.into(),
            sql: sql.into(),
        }
    }

    #[test]
    fn a_migration_of_another_dialect_is_refused_by_name_or_first_line() {
        let ok = [
            migration(
                "2026_01_01_000000_create_rakit_jobs_table_postgres",
                "-- rakit-job schema for postgres\nCREATE TABLE x (id TEXT);",
            ),
            migration("2026_01_02_add_users", "CREATE TABLE users (id TEXT);"),
            migration(
                "2024_01_01_create_rakit_jobs_table",
                "-- rakit-job tables for PostgreSQL\nCREATE TABLE x (id TEXT);",
            ),
        ];
        assert!(refuse_other_dialects(&ok, "postgres").is_ok());
        for bad in [
            migration(
                "2026_01_01_000000_create_rakit_jobs_table_sqlite",
                "CREATE TABLE x (id TEXT);",
            ),
            migration(
                "2026_01_01_000000_create_rakit_jobs_table",
                "-- rakit-job schema for mysql\nCREATE TABLE x (id TEXT);",
            ),
            migration(
                "2024_01_01_create_rakit_jobs_table",
                "-- rakit-job tables for SQLite\nCREATE TABLE x (id TEXT);",
            ),
        ] {
            let refused = refuse_other_dialects(&[bad], "postgres").unwrap_err();
            assert_eq!(refused.code, 1);
            assert!(
                refused
                    .message
                    .contains("but this database is postgres, so nothing was migrated"),
                "{}",
                refused.message
            );
        }
    }

    #[test]
    fn each_dialect_gets_its_own_migration_file() {
        let dir = std::env::temp_dir().join(format!(
            "rakit-cli-table-{}",
            rakit_job_core::JobId::generate()
        ));
        let mut out = Vec::new();
        write_table(
            &dir,
            "rakit_jobs",
            "sqlite",
            "-- rakit-job schema for sqlite\n",
            &mut out,
        )
        .unwrap();
        write_table(
            &dir,
            "rakit_jobs",
            "postgres",
            "-- rakit-job schema for postgres\n",
            &mut out,
        )
        .unwrap();
        write_table(
            &dir,
            "rakit_jobs",
            "postgres",
            "-- rakit-job schema for postgres\n",
            &mut out,
        )
        .unwrap();
        let said = String::from_utf8(out).unwrap();
        assert_eq!(said.matches("Migration written").count(), 2, "{said}");
        assert!(said.contains("already exists"), "{said}");
        let names: Vec<String> = sql_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(
            names
                .iter()
                .any(|n| n.ends_with("_create_rakit_jobs_table_sqlite.sql")),
            "{names:?}"
        );
        assert!(
            names
                .iter()
                .any(|n| n.ends_with("_create_rakit_jobs_table_postgres.sql")),
            "{names:?}"
        );
        let pending = pending(&dir, &[]).unwrap();
        assert!(refuse_other_dialects(&pending, "postgres").is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
