//! The commands end to end on an in-memory store: what each prints, what it changes in
//! the store, and its exit code.

use super::{Failure, run_on};
use crate::facade::Job;
use crate::inspect::WorkerInfo;
use crate::queue::Queue;
use rakit_job_core::{JobId, ReserveRequest, State, StoreExt, WORKERS, now_ms};
use serde_json::{Value, json};
use std::time::Duration;

/// Runs `line` on `queue`; what it printed, or how it failed.
async fn cli(queue: &Queue, line: &str) -> Result<String, Failure> {
    let argv = line.split_whitespace().map(str::to_string).collect();
    let mut out = Vec::new();
    run_on(Some(queue), argv, &mut out).await?;
    Ok(String::from_utf8(out).expect("the output is UTF-8"))
}

/// Runs `line`, which must succeed; what it printed.
async fn ok(queue: &Queue, line: &str) -> String {
    cli(queue, line)
        .await
        .unwrap_or_else(|f| panic!("`{line}` failed with {}: {}", f.code, f.message))
}

/// Runs `line`, which must fail with `code`; its sentence.
async fn fails(queue: &Queue, line: &str, code: u8) -> String {
    match cli(queue, line).await {
        Ok(out) => panic!("`{line}` succeeded:\n{out}"),
        Err(failure) => {
            assert_eq!(failure.code, code, "`{line}`: {}", failure.message);
            assert_eq!(failure.message.lines().count(), 1, "{}", failure.message);
            failure.message
        }
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

async fn dispatch(queue: &Queue, name: &str, on: &str) -> JobId {
    Job::dispatch(name, json!({ "to": "ada@example.com" }))
        .on_queue(on)
        .via(queue)
        .await
        .unwrap()
}

/// Reserves the next job of `on` for a worker named `cli-test`, as a worker would.
async fn start_one(queue: &Queue, on: &str) -> rakit_job_core::Reserved {
    let queues = [on.to_string()];
    let request = ReserveRequest::new(&queues, 1, 60_000, "cli-test");
    queue.driver().reserve(&request).await.unwrap().remove(0)
}

/// A job of `on` that failed for good with `error`.
async fn failed_job(queue: &Queue, on: &str, error: &str) -> JobId {
    let id = dispatch(queue, "cli-fails", on).await;
    let reserved = start_one(queue, on).await;
    assert!(queue.driver().fail(&reserved.lease, error).await.unwrap());
    id
}

/// The value after `label` on its own line of `text`.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
        .trim()
}

#[tokio::test]
async fn jobs_walks_every_page_and_prints_the_command_for_the_next() {
    let q = Queue::memory();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(dispatch(&q, "cli-listed", "default").await);
    }
    ids.push(
        Job::dispatch("cli-listed", json!({}))
            .delay(Duration::from_secs(600))
            .via(&q)
            .await
            .unwrap(),
    );
    let first = ok(&q, "job:jobs --limit 2").await;
    assert!(first.starts_with("ID  "), "{first}");
    for column in [
        "NAME",
        "QUEUE",
        "STATE",
        "ATTEMPT",
        "DUE/LEASE",
        "WORKER",
        "ERROR",
    ] {
        assert!(first.lines().next().unwrap().contains(column), "{first}");
    }
    let cursor = field(&first, "next cursor:").to_string();
    assert!(
        field(&first, "next page:").ends_with(&format!("job:jobs --limit=2 --after={cursor}")),
        "{first}"
    );
    let mut pages = vec![first.clone()];
    let mut next = Some(cursor.clone());
    while let Some(after) = next {
        let page = ok(&q, &format!("job:jobs --limit=2 --after={after}")).await;
        next = page
            .contains("next cursor:")
            .then(|| field(&page, "next cursor:").to_string());
        pages.push(page);
        assert!(pages.len() <= 3, "the walk does not end:\n{pages:#?}");
    }
    let all = pages.concat();
    for id in &ids {
        assert_eq!(all.matches(id.as_str()).count(), 1, "{id}:\n{all}");
    }

    let scheduled = json_of(&ok(&q, "job:jobs --state=scheduled --json").await);
    assert_eq!(scheduled["cursor"], Value::Null);
    assert_eq!(scheduled["jobs"].as_array().unwrap().len(), 1);
    let info = q.job(&ids[3]).await.unwrap().unwrap();
    assert_eq!(scheduled["jobs"][0], info.to_json());

    assert_eq!(ok(&q, "job:jobs --queue=other").await, "No jobs match.\n");
    let stale = fails(&q, &format!("job:jobs --state=failed --after={cursor}"), 2).await;
    assert!(
        stale.contains("the cursor is not one this listing gave"),
        "{stale}"
    );
}

#[tokio::test]
async fn jobs_shows_who_runs_a_job_and_the_first_line_of_its_error() {
    let q = Queue::memory();
    dispatch(&q, "cli-running", "high").await;
    start_one(&q, "high").await;
    failed_job(
        &q,
        "low",
        &format!(
            "the mail server said no{}\nat line 2",
            " and more".repeat(10)
        ),
    )
    .await;
    let listed = ok(&q, "job:jobs").await;
    let running = listed.lines().find(|l| l.contains("cli-running")).unwrap();
    assert!(
        running.contains("running") && running.contains("cli-test"),
        "{listed}"
    );
    let failed = listed.lines().find(|l| l.contains("cli-fails")).unwrap();
    assert!(
        failed.contains("the mail server said no") && failed.ends_with('…'),
        "{listed}"
    );
    assert!(!listed.contains("at line 2"), "{listed}");
}

#[tokio::test]
async fn show_prints_every_field_and_refuses_unknown_or_malformed_ids() {
    let q = Queue::memory();
    let id = dispatch(&q, "cli-shown", "high").await;
    let shown = ok(&q, &format!("job:show {id}")).await;
    assert_eq!(field(&shown, "id:"), id.as_str());
    assert_eq!(field(&shown, "name:"), "cli-shown");
    assert_eq!(field(&shown, "state:"), "pending");
    for label in [
        "queue:",
        "attempt:",
        "dispatched at:",
        "due at:",
        "lease until:",
        "worker:",
        "failed at:",
        "error:",
    ] {
        field(&shown, label);
    }
    assert!(
        shown.contains("payload:\n  {\n    \"to\": \"ada@example.com\"\n  }"),
        "{shown}"
    );

    let as_json = json_of(&ok(&q, &format!("job:show {id} --json")).await);
    assert_eq!(as_json, q.job(&id).await.unwrap().unwrap().to_json());

    let unknown = JobId::generate();
    let message = fails(&q, &format!("job:show {unknown}"), 1).await;
    assert!(
        message.contains(&format!("no job has the id {unknown}")),
        "{message}"
    );
    fails(&q, "job:show 42", 2).await;
}

#[tokio::test]
async fn cancel_says_what_became_of_each_job() {
    let q = Queue::memory();
    let pending = dispatch(&q, "cli-cancel", "default").await;
    let running = dispatch(&q, "cli-cancel", "high").await;
    start_one(&q, "high").await;
    let unknown = JobId::generate();

    let line = format!("job:cancel {pending} {running} {unknown}");
    let mut out = Vec::new();
    let argv = line.split_whitespace().map(str::to_string).collect();
    let failure = run_on(Some(&q), argv, &mut out).await.unwrap_err();
    let said = String::from_utf8(out).unwrap();
    assert_eq!(failure.code, 1);
    assert_eq!(
        failure.message,
        "1 id matched no job; `job:jobs` lists the jobs there are"
    );
    assert!(
        said.contains(&format!("{pending}: removed and kept as cancelled.")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "{running}: running; its worker was asked to stop it."
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("{unknown}: no job has this id.")),
        "{said}"
    );

    assert_eq!(
        q.job(&pending).await.unwrap().unwrap().state,
        State::Cancelled
    );
    assert!(q.job(&running).await.unwrap().unwrap().cancel_requested);
    let again = ok(&q, &format!("job:cancel {pending}")).await;
    assert!(
        again.contains("already cancelled; nothing to cancel"),
        "{again}"
    );
}

#[tokio::test]
async fn pause_and_resume_hold_and_release_queues() {
    let q = Queue::memory();
    let paused = ok(&q, "job:pause low default").await;
    assert!(paused.starts_with("Paused: low, default."), "{paused}");
    assert_eq!(q.paused().await.unwrap(), ["default", "low"]);
    let stats = ok(&q, "job:stats").await;
    let low = stats.lines().find(|l| l.starts_with("low ")).unwrap();
    assert!(low.contains("yes"), "{stats}");

    let resumed = ok(&q, "job:resume low other").await;
    assert_eq!(resumed, "Resumed: low.\nNot paused: other.\n");
    assert_eq!(q.paused().await.unwrap(), ["default"]);
    let message = fails(&q, "job:pause ok bad/name", 2).await;
    assert!(message.contains("bad/name"), "{message}");
    assert_eq!(
        q.paused().await.unwrap(),
        ["default"],
        "a refused command changed the store"
    );
}

#[tokio::test]
async fn workers_lists_each_live_worker() {
    let q = Queue::memory();
    assert!(
        ok(&q, "job:workers")
            .await
            .starts_with("No worker is running")
    );
    let mut worker =
        WorkerInfo::of_this_process("w-cli-1", Some(vec!["high".into(), "default".into()]), 8);
    worker.done = 41;
    let text = serde_json::to_string(&worker).unwrap();
    q.driver()
        .put_entry(WORKERS, &worker.id, &text, Some(60_000))
        .await
        .unwrap();

    let table = ok(&q, "job:workers").await;
    let header = table.lines().next().unwrap();
    for column in [
        "HOST",
        "PID",
        "ID",
        "QUEUES",
        "CONCURRENCY",
        "RUNNING",
        "DONE",
        "FAILED",
        "STARTED",
        "LAST SEEN",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let row = table.lines().nth(1).unwrap();
    for cell in [
        "w-cli-1",
        "high,default",
        "41",
        &std::process::id().to_string(),
    ] {
        assert!(row.contains(cell), "{cell} missing:\n{table}");
    }
    let listed = json_of(&ok(&q, "job:workers --json").await);
    assert_eq!(listed, json!({ "workers": [worker.to_json()] }));
}

#[tokio::test]
async fn batches_lists_each_batch_with_its_progress() {
    let q = Queue::memory();
    assert_eq!(ok(&q, "job:batches").await, "No batches.\n");
    let row = || crate::NamedJob::new("cli-batch-row", json!({}));
    let id = crate::Batch::new("import-12")
        .add_all([row(), row(), row()])
        .via(&q)
        .dispatch()
        .await
        .unwrap();
    let table = ok(&q, "job:batches").await;
    let header = table.lines().next().unwrap();
    for column in ["ID", "NAME", "STATE", "TOTAL", "DONE", "FAILED", "PENDING"] {
        assert!(header.contains(column), "{table}");
    }
    let line = table.lines().nth(1).unwrap();
    for cell in [id.as_str(), "import-12", "running", "3"] {
        assert!(line.contains(cell), "{cell} missing:\n{table}");
    }
    let info = q.batch(&id).await.unwrap().unwrap();
    let listed = json_of(&ok(&q, "job:batches --json").await);
    assert_eq!(listed, json!({ "batches": [info.to_json()] }));
    assert_eq!(listed["batches"][0]["pending"], 3);
}

#[tokio::test]
async fn failed_lists_the_failed_store_as_a_table_or_json() {
    let q = Queue::memory();
    assert_eq!(ok(&q, "job:failed").await, "No failed jobs.\n");
    assert_eq!(
        json_of(&ok(&q, "job:failed --json").await),
        json!({ "jobs": [], "cursor": null })
    );
    let id = failed_job(&q, "default", "the mail server said no").await;
    let table = ok(&q, "job:failed").await;
    assert!(
        table.lines().next().unwrap().contains("FAILED AT"),
        "{table}"
    );
    assert!(
        table.contains(id.as_str()) && table.contains("the mail server said no"),
        "{table}"
    );
    let listed = json_of(&ok(&q, "job:failed --json").await);
    let job = &listed["jobs"][0];
    assert_eq!(job["id"], id.as_str());
    assert_eq!(job["state"], "failed");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["error"], "the mail server said no");
    assert_eq!(job["payload"], json!({ "to": "ada@example.com" }));
    assert!(chrono::DateTime::parse_from_rfc3339(job["failed_at"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn retry_puts_back_by_id_by_queue_or_all() {
    let q = Queue::memory();
    let high = failed_job(&q, "high", "boom").await;
    failed_job(&q, "high", "boom").await;
    failed_job(&q, "low", "boom").await;
    failed_job(&q, "low", "boom").await;

    let unknown = JobId::generate();
    let message = fails(&q, &format!("job:retry {high} {unknown}"), 2).await;
    assert!(
        message.contains(&format!("no failed job has the id {unknown}")),
        "{message}"
    );
    assert_eq!(
        q.job(&high).await.unwrap().unwrap().state,
        State::Failed,
        "a refused retry moved a job"
    );

    assert_eq!(
        ok(&q, &format!("job:retry {high}")).await,
        format!("Failed job {high} put back on its queue.\n")
    );
    let by_queue = ok(&q, "job:retry --queue=high").await;
    assert_eq!(
        by_queue,
        "1 failed job of the queue `high` put back on it.\n"
    );
    let stats = q.stats().await.unwrap();
    let of = |name: &str| stats.iter().find(|s| s.queue == name).cloned().unwrap();
    assert_eq!((of("high").ready, of("high").failed), (2, 0));
    assert_eq!(of("low").failed, 2);
    assert_eq!(
        ok(&q, "job:retry all").await,
        "2 failed jobs put back on their queues.\n"
    );
    fails(&q, &format!("job:retry all {high}"), 2).await;
}

#[tokio::test]
async fn forget_flush_and_prune_delete_from_the_failed_store() {
    let q = Queue::memory();
    let first = failed_job(&q, "default", "boom").await;
    failed_job(&q, "default", "boom").await;
    failed_job(&q, "default", "boom").await;
    assert_eq!(
        ok(&q, &format!("job:forget {first}")).await,
        format!("Failed job {first} deleted.\n")
    );
    fails(&q, &format!("job:forget {first}"), 2).await;

    let kept = ok(&q, "job:prune-failed --older-than=1h").await;
    assert_eq!(
        kept,
        "Removed 0 failed or cancelled jobs that failed more than 1h ago.\n"
    );
    let failed_at = now_ms();
    while now_ms() <= failed_at {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pruned = ok(&q, "job:prune-failed --older-than 0s").await;
    assert_eq!(
        pruned,
        "Removed 2 failed or cancelled jobs that failed more than 0s ago.\n"
    );

    failed_job(&q, "default", "boom").await;
    assert_eq!(ok(&q, "job:flush").await, "1 failed job deleted.\n");
    assert!(q.stats().await.unwrap().iter().all(|s| s.failed == 0));
}

#[tokio::test]
async fn stats_counts_each_queue_and_the_last_hours_runs() {
    let q = Queue::memory();
    assert!(ok(&q, "job:stats").await.ends_with("No jobs.\n"));
    crate::listen("cli-stats-run", |_| async { Ok(()) });
    for _ in 0..2 {
        dispatch(&q, "cli-stats-run", "high").await;
    }
    Job::dispatch("cli-stats-later", json!({}))
        .delay(Duration::from_secs(3600))
        .via(&q)
        .await
        .unwrap();
    let stats = json_of(&ok(&q, "job:stats --json").await);
    assert_eq!(stats["store"], "memory");
    assert_eq!(
        stats["queues"],
        json!([
            {"queue": "default", "ready": 0, "scheduled": 1, "reserved": 0, "failed": 0},
            {"queue": "high", "ready": 2, "scheduled": 0, "reserved": 0, "failed": 0},
        ])
    );
    assert_eq!(
        (stats["paused"].clone(), stats["throughput"].clone()),
        (json!([]), json!([]))
    );

    let ran = ok(&q, "job:runall --queue=high --stop-when-empty").await;
    assert!(
        ran.starts_with("Worker stopped: 2 succeeded, 0 retried, 0 failed"),
        "{ran}"
    );
    let stats = json_of(&ok(&q, "job:stats --json").await);
    let done: u64 = stats["throughput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["done"].as_u64().unwrap())
        .sum();
    assert_eq!(done, 2, "{stats}");
    let table = ok(&q, "job:stats").await;
    let header = table.lines().nth(1).unwrap();
    assert!(
        header.starts_with("QUEUE") && header.contains("DONE/1H"),
        "{table}"
    );
    let high = table.lines().find(|l| l.starts_with("high ")).unwrap();
    assert!(
        high.split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["no", "2", "0"]),
        "{table}"
    );
}

#[tokio::test]
async fn run_processes_known_names_and_refuses_unknown_ones() {
    let q = Queue::memory();
    crate::listen("cli-run-known", |_| async { Ok(()) });
    dispatch(&q, "cli-run-known", "default").await;
    let message = fails(&q, "job:run cli-run-known no-such-job", 1).await;
    assert!(
        message.contains("no job is named `no-such-job`"),
        "{message}"
    );
    assert_eq!(
        q.stats().await.unwrap()[0].ready,
        1,
        "a refused run took a job"
    );
    let ran = ok(&q, "job:run cli-run-known").await;
    assert_eq!(ran, "cli-run-known: 1 succeeded, 0 retried, 0 failed.\n");
}

#[tokio::test]
async fn offline_commands_need_no_store() {
    let q = Queue::memory();
    assert!(!ok(&q, "job:list").await.is_empty());
    let script = ok(&q, "completions bash").await;
    assert!(
        script.contains("job:runall")
            && script.contains("job:prune-failed")
            && script.contains("job:schedule"),
        "{script}"
    );
    let help = ok(&q, "job:jobs --help").await;
    assert!(
        help.contains("--state") && help.contains("--after"),
        "{help}"
    );
    let program = ok(&q, "job:supervisor --numprocs=high=2 --command=/srv/app").await;
    assert!(
        program.contains("command=/srv/app job:runall --queue=high --retries=3"),
        "{program}"
    );
    let message = fails(&q, "job:table", 2).await;
    assert!(
        message.contains("memory has no tables to create"),
        "{message}"
    );
    fails(&q, "migrate --path=nowhere", 2).await;
}

/// A schedule of the job `name`, as a `#[job(cron = ...)]` type links one in.
fn schedule(name: &str, expression: &str, tz: Option<&str>) -> crate::Schedule {
    let parts = crate::JobParts {
        name: name.into(),
        queue: "default".into(),
        payload: json!({}),
        options: crate::JobOptions::DEFAULT,
    };
    crate::Schedule::new(expression, tz, parts).unwrap()
}

/// What `job:schedule` prints for `schedules`.
fn schedule_output(schedules: &[crate::Schedule], json: bool) -> String {
    let mut out = Vec::new();
    super::schedule::write(schedules, json, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn schedule_lists_each_schedule_with_its_next_three_ticks() {
    let q = Queue::memory();
    // The library's own tests link no `#[job(cron = ...)]` type.
    let none = ok(&q, "job:schedule").await;
    assert!(none.starts_with("No schedules are linked"), "{none}");
    assert_eq!(
        json_of(&ok(&q, "job:schedule --json").await),
        json!({ "schedules": [] })
    );
    fails(&q, "job:schedule --jsn", 2).await;

    let tokyo = schedule("morning-report", "0 9 * * *", Some("Asia/Tokyo"));
    let every_15s = schedule("heartbeat", "*/15 * * * * *", None);
    let schedules = [tokyo.clone(), every_15s];
    let table = schedule_output(&schedules, false);
    let header = table.lines().next().unwrap();
    for column in ["NAME", "EXPRESSION", "TIME ZONE", "NEXT THREE TICKS"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with("morning-report"))
        .unwrap();
    let local: Vec<String> = tokyo
        .upcoming(3)
        .into_iter()
        .map(super::table::local_time)
        .collect();
    assert!(
        row.contains("0 9 * * *") && row.contains("Asia/Tokyo") && row.ends_with(&local.join(", ")),
        "{table}"
    );

    let listed = json_of(&schedule_output(&schedules, true));
    let first = &listed["schedules"][0];
    assert_eq!(
        (&first["name"], &first["expression"], &first["time_zone"]),
        (
            &json!("morning-report"),
            &json!("0 9 * * *"),
            &json!("Asia/Tokyo")
        )
    );
    let ticks = |at: usize| -> Vec<chrono::DateTime<chrono::FixedOffset>> {
        let next = listed["schedules"][at]["next"].as_array().unwrap();
        assert_eq!(next.len(), 3, "{listed}");
        next.iter()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap())
            .collect()
    };
    // 09:00 in Tokyo is midnight UTC, a day apart.
    let days = ticks(0);
    assert!(
        listed["schedules"][0]["next"][0]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00.000Z"),
        "{listed}"
    );
    assert_eq!((days[1] - days[0]).num_hours(), 24);
    let quarters = ticks(1);
    assert_eq!(listed["schedules"][1]["time_zone"], "UTC");
    assert_eq!((quarters[2] - quarters[1]).num_seconds(), 15);
    assert!(
        quarters
            .iter()
            .all(|t| chrono::Timelike::second(t) % 15 == 0)
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn table_and_migrate_write_and_apply_this_dialects_migration_only() {
    let dir = std::env::temp_dir().join(format!("rakit-cli-migrate-{}", JobId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = crate::Config {
        url: format!("sqlite://{}/jobs.db", dir.display()),
        ..crate::Config::default()
    };
    let q = Queue::connect_unchecked(&config).await.unwrap();
    let folder = dir.join("migrations");
    let path = folder.display().to_string();

    let written = ok(&q, &format!("job:table --path {path}")).await;
    assert!(
        written.contains("_create_rakit_jobs_table_sqlite.sql"),
        "{written}"
    );
    let again = ok(&q, &format!("job:table --path={path}")).await;
    assert!(again.starts_with("The migration already exists"), "{again}");

    let foreign = folder.join("2020_01_01_000000_create_rakit_jobs_table_postgres.sql");
    std::fs::write(&foreign, "CREATE TABLE IF NOT EXISTS x (id TEXT);").unwrap();
    let refused = fails(&q, &format!("migrate --path={path}"), 1).await;
    assert!(
        refused.contains("is for postgres, but this database is sqlite"),
        "{refused}"
    );
    let sql = q.sql_driver().unwrap();
    assert!(
        sql.applied_migrations().await.unwrap().is_empty(),
        "a refused migrate applied something"
    );

    std::fs::remove_file(&foreign).unwrap();
    let migrated = ok(&q, &format!("migrate --path={path}")).await;
    let steps: Vec<&str> = migrated.lines().collect();
    assert_eq!(steps.len(), 2, "{migrated}");
    assert!(steps[0].starts_with("[1/1] Migrating: ") && steps[1].starts_with("[1/1] Migrated:  "));
    assert_eq!(
        ok(&q, &format!("migrate --path={path}")).await,
        "Nothing to migrate.\n"
    );
    let missing = fails(&q, &format!("migrate --path={path}/none"), 2).await;
    assert!(
        missing.contains("does not exist; run `job:table` first"),
        "{missing}"
    );
    std::fs::remove_dir_all(dir).ok();
}
