//! One function per command.

use super::args::Args;
use super::table::render;
use crate::config::Config;
use crate::error::Error;
use crate::queue::Queue;
use crate::registry;
use crate::worker::Worker;
use rakit_job_core::JobId;
use std::path::{Path, PathBuf};
use std::time::Duration;

const COMMANDS: &[(&str, &str)] = &[
    (
        "job:table",
        "write the migration that creates the jobs and failed-jobs tables [--path=migrations]",
    ),
    (
        "migrate",
        "apply pending migrations from the migrations folder [--path=migrations]",
    ),
    (
        "job:runall",
        "run a worker [--queue=high,default] [--retries=N] [--sleep=MS] [--max-jobs=N] [--concurrency=N] [--prefetch=N] [--grace=SECONDS] [--stop-when-empty]",
    ),
    (
        "job:run",
        "process the ready jobs of one or more names, then exit: job:run NAME [NAME...]",
    ),
    ("job:list", "list the jobs linked into this program"),
    (
        "job:stats",
        "count ready, scheduled, reserved and failed jobs per queue [--json]",
    ),
    (
        "job:failed",
        "list failed jobs, newest first [--limit=N] [--json]",
    ),
    (
        "job:retry",
        "put failed jobs back on their queue: job:retry ID|all",
    ),
    ("job:forget", "delete one failed job: job:forget ID"),
    ("job:flush", "delete every failed job"),
    (
        "job:supervisor",
        "print a Supervisor program per queue [--numprocs=high=2,default=4,low=1] [--user=www-data] [--command=PATH] [--workdir=DIR] [--log-dir=/var/log] [--grace=SECONDS]",
    ),
    (
        "job:systemd",
        "print a systemd template unit per queue [--numprocs=high=2,default=4,low=1] [--user=www-data] [--command=PATH] [--workdir=DIR] [--log-dir=DIR] [--grace=SECONDS] [--output=DIR]",
    ),
];

/// The usage text of one command, or of them all.
pub(crate) fn help(command: &str) -> String {
    match COMMANDS.iter().find(|(name, _)| *name == command) {
        Some((name, text)) => format!("{name}: {text}"),
        None => {
            let width = COMMANDS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
            let lines: Vec<String> = COMMANDS
                .iter()
                .map(|(n, t)| format!("  {n:<width$}  {t}"))
                .collect();
            format!(
                "rakit-job: background jobs\n\nusage: <program> <command> [options]\n\ncommands:\n{}\n\nSettings come from config/job.toml and RAKIT_JOB_* variables; see docs/getting-started.md.",
                lines.join("\n")
            )
        }
    }
}

pub(crate) async fn dispatch(args: Args) -> Result<(), Error> {
    match args.command.as_str() {
        "job:table" => job_table(&args).await,
        "migrate" => migrate(&args).await,
        "job:runall" => runall(&args).await,
        "job:run" => run_named(&args).await,
        "job:list" => list(&args),
        "job:stats" => stats(&args).await,
        "job:failed" => failed(&args).await,
        "job:retry" => retry(&args).await,
        "job:forget" => forget(&args).await,
        "job:flush" => flush(&args).await,
        "job:supervisor" => super::deploy::supervisor(&args),
        "job:systemd" => super::deploy::systemd(&args),
        other => {
            let closest = COMMANDS
                .iter()
                .map(|(n, _)| *n)
                .min_by_key(|n| crate::config::distance(n, other))
                .filter(|n| crate::config::distance(n, other) <= 3)
                .map(|n| format!("did you mean `{n}`? "))
                .unwrap_or_default();
            Err(Error::Usage(format!(
                "unknown command `{other}`; {closest}run with --help to list the commands"
            )))
        }
    }
}

async fn connect() -> Result<Queue, Error> {
    let queue = Queue::connect(&Config::load()?).await?;
    crate::install(queue.clone());
    Ok(queue)
}

fn migrations_dir(args: &Args) -> PathBuf {
    PathBuf::from(args.value("path").unwrap_or("migrations"))
}

async fn job_table(args: &Args) -> Result<(), Error> {
    args.only(&["path"])?;
    let queue = Queue::connect_unchecked(&Config::load()?).await?;
    let Some(schema) = queue.driver().schema() else {
        return Err(Error::Usage(format!(
            "{} has no tables; `job:table` is only for the database driver",
            queue.describe()
        )));
    };
    let dir = migrations_dir(args);
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let suffix = format!("create_{}_table.sql", queue.config().table);
    if let Some(existing) = list_sql(&dir)?
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(&suffix))
    {
        println!("The migration already exists: {}", existing.display());
        return Ok(());
    }
    let stamp = chrono::Local::now().format("%Y_%m_%d_%H%M%S");
    let path = dir.join(format!("{stamp}_{suffix}"));
    std::fs::write(&path, schema).map_err(|e| io(&path, e))?;
    println!(
        "Migration written: {}\nRun `migrate` to apply it.",
        path.display()
    );
    Ok(())
}

async fn migrate(args: &Args) -> Result<(), Error> {
    args.only(&["path"])?;
    let queue = Queue::connect_unchecked(&Config::load()?).await?;
    let dir = migrations_dir(args);
    if !dir.exists() {
        return Err(Error::Usage(format!(
            "the folder {} does not exist; run `job:table` first to write the migration",
            dir.display()
        )));
    }
    let applied = queue.driver().applied_migrations().await?;
    let pending: Vec<PathBuf> = list_sql(&dir)?
        .into_iter()
        .filter(|p| !applied.contains(&migration_name(p)))
        .collect();
    if pending.is_empty() {
        println!("Nothing to migrate.");
        return Ok(());
    }
    for (i, path) in pending.iter().enumerate() {
        let name = migration_name(path);
        println!("[{}/{}] Migrating: {name}", i + 1, pending.len());
        let sql = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        queue.driver().apply_migration(&name, &sql).await?;
        println!("[{}/{}] Migrated:  {name}", i + 1, pending.len());
    }
    Ok(())
}

fn list_sql(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

fn migration_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!(
        "cannot use {}: {e}; check that the folder exists and is writable",
        path.display()
    ))
}

fn worker_from(args: &Args, queue: &Queue) -> Result<Worker, Error> {
    let mut worker = Worker::new(queue).progress(true);
    if let Some(queues) = args.list("queue") {
        if queues.is_empty() {
            return Err(Error::Usage(
                "`--queue` needs at least one queue name, e.g. `--queue=high,default`".into(),
            ));
        }
        for q in &queues {
            rakit_job_core::validate_queue(q).map_err(|e| Error::Usage(e.to_string()))?;
        }
        worker = worker.queues(queues);
    }
    if let Some(n) = args.number::<u32>("retries")? {
        worker = worker.retries(n);
    }
    if let Some(ms) = args.number::<u64>("sleep")? {
        if ms == 0 {
            return Err(Error::Usage(
                "`--sleep` must be at least 1 millisecond".into(),
            ));
        }
        worker = worker.sleep(Duration::from_millis(ms));
    }
    if let Some(n) = args.number::<u64>("max-jobs")? {
        worker = worker.max_jobs(n);
    }
    if let Some(n) = args.number::<usize>("concurrency")? {
        if n == 0 {
            return Err(Error::Usage("`--concurrency` must be at least 1".into()));
        }
        worker = worker.concurrency(n);
    }
    if let Some(n) = args.number::<usize>("prefetch")? {
        worker = worker.prefetch(n);
    }
    if let Some(secs) = args.number::<u64>("grace")? {
        worker = worker.grace(Duration::from_secs(secs));
    }
    if args.flag("stop-when-empty") {
        worker = worker.stop_when_empty();
    }
    Ok(worker)
}

async fn runall(args: &Args) -> Result<(), Error> {
    args.only(&[
        "queue",
        "retries",
        "sleep",
        "max-jobs",
        "concurrency",
        "prefetch",
        "grace",
        "stop-when-empty",
    ])?;
    if let Some(extra) = args.positional.first() {
        return Err(Error::Usage(format!(
            "`job:runall` takes no names (got {extra:?}); use `job:run {extra}` to run one job"
        )));
    }
    let queue = connect().await?;
    let report = worker_from(args, &queue)?.run().await?;
    println!(
        "Worker stopped: {} succeeded, {} retried, {} failed, {} handed back.",
        report.succeeded, report.retried, report.failed, report.released
    );
    Ok(())
}

async fn run_named(args: &Args) -> Result<(), Error> {
    args.only(&[
        "queue",
        "retries",
        "sleep",
        "concurrency",
        "prefetch",
        "grace",
    ])?;
    if args.positional.is_empty() {
        return Err(Error::Usage(
            "`job:run` needs a job name, e.g. `job:run send-email`".into(),
        ));
    }
    let queue = connect().await?;
    for name in &args.positional {
        let report = worker_from(args, &queue)?
            .only_named(name)
            .stop_when_empty()
            .max_jobs(0)
            .run()
            .await?;
        println!(
            "{}: {} succeeded, {} retried, {} failed.",
            rakit_job_core::slug(name),
            report.succeeded,
            report.retried,
            report.failed
        );
    }
    Ok(())
}

fn list(args: &Args) -> Result<(), Error> {
    args.only(&[])?;
    registry::check_unique_names()?;
    let rows: Vec<Vec<String>> = registry::all()
        .iter()
        .map(|e| {
            vec![
                e.name.to_string(),
                e.type_name.to_string(),
                e.queue.to_string(),
                e.options.retries.map_or("config".into(), |r| r.to_string()),
                match e.options.no_overlap {
                    crate::KeyRule::Off => "no".into(),
                    crate::KeyRule::Name => "yes".into(),
                    crate::KeyRule::Field(f) => format!("by {f}"),
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        println!(
            "No jobs are linked into this program; define one with #[job] (or `use my_jobs as _;`)."
        );
    } else {
        println!(
            "{}",
            render(&["NAME", "TYPE", "QUEUE", "RETRIES", "NO_OVERLAP"], &rows)
        );
    }
    Ok(())
}

async fn stats(args: &Args) -> Result<(), Error> {
    args.only(&["json"])?;
    let queue = connect().await?;
    let stats = queue.driver().stats().await?;
    if args.flag("json") {
        let queues: Vec<serde_json::Value> = stats
            .iter()
            .map(|s| {
                serde_json::json!({
                    "queue": s.queue,
                    "ready": s.ready,
                    "scheduled": s.scheduled,
                    "reserved": s.reserved,
                    "failed": s.failed,
                })
            })
            .collect();
        return print_json(&serde_json::json!({ "store": queue.describe(), "queues": queues }));
    }
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.queue.clone(),
                s.ready.to_string(),
                s.scheduled.to_string(),
                s.reserved.to_string(),
                s.failed.to_string(),
            ]
        })
        .collect();
    println!("store: {}", queue.describe());
    if rows.is_empty() {
        println!("No jobs.");
    } else {
        println!(
            "{}",
            render(
                &["QUEUE", "READY", "SCHEDULED", "RESERVED", "FAILED"],
                &rows
            )
        );
    }
    Ok(())
}

async fn failed(args: &Args) -> Result<(), Error> {
    args.only(&["limit", "json"])?;
    let limit = args.number::<usize>("limit")?.unwrap_or(50);
    let queue = connect().await?;
    let failed = queue.driver().failed(limit).await?;
    if args.flag("json") {
        let jobs: Vec<serde_json::Value> = failed
            .iter()
            .map(|f| {
                serde_json::json!({
                    "id": f.id.as_str(),
                    "name": f.name,
                    "queue": f.queue,
                    "attempts": f.attempts,
                    "error": f.error,
                    "payload": serde_json::from_str::<serde_json::Value>(&f.payload)
                        .unwrap_or_else(|_| serde_json::Value::String(f.payload.clone())),
                    "dispatched_at": utc(f.created_at),
                    "failed_at": utc(f.failed_at),
                })
            })
            .collect();
        return print_json(&serde_json::Value::Array(jobs));
    }
    if failed.is_empty() {
        println!("No failed jobs.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = failed
        .iter()
        .map(|f| {
            let at = chrono::DateTime::from_timestamp_millis(f.failed_at)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default();
            let error: String = f
                .error
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect();
            vec![
                f.id.to_string(),
                f.name.clone(),
                f.queue.clone(),
                f.attempts.to_string(),
                at,
                error,
            ]
        })
        .collect();
    println!(
        "{}",
        render(
            &["ID", "NAME", "QUEUE", "ATTEMPTS", "FAILED AT", "ERROR"],
            &rows
        )
    );
    Ok(())
}

/// A stored time as RFC 3339 in UTC, e.g. `2024-12-31T09:00:00.000Z`, for `--json`.
fn utc(ms: rakit_job_core::Millis) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Prints `value` as indented JSON on standard output, for `--json`.
fn print_json(value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Io(format!("cannot write the JSON output: {e}")))?;
    println!("{text}");
    Ok(())
}

fn one_id(args: &Args, usage: &str) -> Result<String, Error> {
    match args.positional.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(Error::Usage(format!(
            "`{}` needs a job id: {usage}",
            args.command
        ))),
        _ => Err(Error::Usage(format!(
            "`{}` takes one id: {usage}",
            args.command
        ))),
    }
}

async fn retry(args: &Args) -> Result<(), Error> {
    args.only(&[])?;
    let target = one_id(args, "job:retry ID|all")?;
    let queue = connect().await?;
    if target == "all" {
        let mut count = 0;
        loop {
            let batch = queue.driver().failed(500).await?;
            if batch.is_empty() {
                break;
            }
            for f in batch {
                if queue.driver().retry_failed(&f.id).await? {
                    count += 1;
                }
            }
        }
        println!("{count} failed job(s) put back on their queues.");
        return Ok(());
    }
    let id = JobId::parse(&target).map_err(|e| Error::Usage(e.to_string()))?;
    if queue.driver().retry_failed(&id).await? {
        println!("Failed job {id} put back on its queue.");
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "no failed job has the id {id}; list them with `job:failed`"
        )))
    }
}

async fn forget(args: &Args) -> Result<(), Error> {
    args.only(&[])?;
    let target = one_id(args, "job:forget ID")?;
    let id = JobId::parse(&target).map_err(|e| Error::Usage(e.to_string()))?;
    let queue = connect().await?;
    if queue.driver().forget_failed(&id).await? {
        println!("Failed job {id} deleted.");
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "no failed job has the id {id}; list them with `job:failed`"
        )))
    }
}

async fn flush(args: &Args) -> Result<(), Error> {
    args.only(&[])?;
    let queue = connect().await?;
    let n = queue.driver().flush_failed().await?;
    println!("{n} failed job(s) deleted.");
    Ok(())
}
