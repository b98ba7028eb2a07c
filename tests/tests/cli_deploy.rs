//! The deployment side of the command line: `--json` output for scripts, the Supervisor
//! and systemd configuration, and the `--grace` period those rely on for a graceful stop.

use rakit_job::Config;
use rakit_job::prelude::*;
use rakit_job_tests::{Harness, signal, temp_dir, wait_until};
use rakit_test_jobs::{FailTimes, RecordRun, Sleeps, read_log};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const WORKER: &str = env!("CARGO_BIN_EXE_test-worker");

async fn harness() -> Harness {
    let dir = temp_dir("cli-deploy");
    let config = Config {
        driver: "database".into(),
        url: format!("sqlite://{}/jobs.db", dir.display()),
        lease_ms: 2000,
        sleep_ms: 50,
        ..Config::default()
    };
    Harness::new(config, WORKER).await
}

/// Runs a command that needs no store, in a fresh folder; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let dir = temp_dir("cli-deploy-run");
    let out = Command::new(WORKER)
        .args(args)
        .current_dir(&dir)
        .env("RAKIT_JOB_CONFIG", dir.join("none.toml"))
        .output()
        .expect("cannot start test-worker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[tokio::test]
async fn stats_json_counts_each_queue_for_scripts() {
    let h = harness().await;
    let log = h.log("stats.log");
    for tag in ["a", "b"] {
        RecordRun::dispatch(RecordRun {
            log: log.clone(),
            tag: tag.into(),
        })
        .on_queue("high")
        .via(&h.queue)
        .await
        .unwrap();
    }
    RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "later".into(),
    })
    .delay(Duration::from_secs(3600))
    .via(&h.queue)
    .await
    .unwrap();

    let stats = json(&h.cli_ok(&["job:stats", "--json"]).await);
    assert!(
        stats["store"].as_str().unwrap().contains("jobs.db"),
        "{stats}"
    );
    let queues = stats["queues"].as_array().unwrap();
    let by_name = |name: &str| {
        queues
            .iter()
            .find(|q| q["queue"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {stats}"))
    };
    assert_eq!(
        by_name("high"),
        serde_json::json!({"queue": "high", "ready": 2, "scheduled": 0, "reserved": 0, "failed": 0})
    );
    assert_eq!(by_name("default")["scheduled"], 1);
    // The table form is still the default.
    let table = h.cli_ok(&["job:stats"]).await;
    assert!(
        table.contains("QUEUE") && table.contains("SCHEDULED"),
        "{table}"
    );
}

#[tokio::test]
async fn failed_json_lists_each_failed_job_with_its_error_and_payload() {
    let h = harness().await;
    assert_eq!(
        json(&h.cli_ok(&["job:failed", "--json"]).await),
        serde_json::json!({"jobs": [], "cursor": null})
    );
    let log = h.log("failed.log");
    let id = FailTimes::dispatch(FailTimes {
        log: log.clone(),
        fail_first: 9,
    })
    .via(&h.queue)
    .await
    .unwrap();
    h.cli_ok(&["job:runall", "--retries=0", "--stop-when-empty"])
        .await;

    let failed = json(&h.cli_ok(&["job:failed", "--json"]).await);
    let failed = failed["jobs"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let job = &failed[0];
    assert_eq!(job["id"], id.as_str());
    assert_eq!(job["name"], "fail-times");
    assert_eq!(job["queue"], "default");
    assert_eq!(job["attempt"], 1);
    assert_eq!(job["state"], "failed");
    assert_eq!(
        job["error"],
        "failing on purpose: attempt 1 of the first 9 that fail"
    );
    assert_eq!(
        job["payload"],
        serde_json::json!({"log": log, "fail_first": 9})
    );
    let failed_at = job["failed_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(failed_at).is_ok(),
        "{failed_at}"
    );
}

#[test]
fn systemd_prints_a_template_unit_per_queue_that_stops_gracefully() {
    let (code, out, err) = run(&[
        "job:systemd",
        "--numprocs=high=2,default=4,low=1",
        "--command=/srv/app/my-app",
        "--user=deploy",
        "--workdir=/srv/app",
    ]);
    assert_eq!(code, 0, "{err}");
    for queue in ["high", "default", "low"] {
        let start = out
            .find(&format!("/etc/systemd/system/rakit-{queue}@.service"))
            .unwrap_or_else(|| panic!("no {queue} unit:\n{out}"));
        let unit = &out[start..];
        let unit = &unit[..unit
            .find("WantedBy=multi-user.target")
            .expect("an [Install] section")];
        let retries = if queue == "low" { 2 } else { 3 };
        for line in [
            format!("ExecStart=/srv/app/my-app job:runall --queue={queue} --retries={retries}\n"),
            "User=deploy\n".to_string(),
            "WorkingDirectory=/srv/app\n".to_string(),
            "Restart=always\n".to_string(),
            "KillSignal=SIGTERM\n".to_string(),
            "KillMode=mixed\n".to_string(),
            "TimeoutStopSec=60\n".to_string(),
        ] {
            assert!(
                unit.contains(&line),
                "the {queue} unit lacks {line:?}:\n{unit}"
            );
        }
    }
    assert!(out.contains("systemctl enable --now rakit-high@{1..2}.service rakit-default@{1..4}.service rakit-low@1.service"), "{out}");
    assert!(
        !out.contains("StandardOutput="),
        "logs go to the journal unless --log-dir is given:\n{out}"
    );
}

#[test]
fn a_longer_grace_period_is_passed_to_the_worker_and_outlasted_by_the_stop_timeout() {
    let (code, out, err) = run(&[
        "job:systemd",
        "--numprocs=low=1",
        "--command=/srv/app/my-app",
        "--grace=90",
        "--log-dir=/var/log/app",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ExecStart=/srv/app/my-app job:runall --queue=low --retries=2 --grace=90\n"),
        "{out}"
    );
    assert!(out.contains("TimeoutStopSec=120\n"), "{out}");
    assert!(
        out.contains("StandardOutput=append:/var/log/app/rakit-low.log\n"),
        "{out}"
    );

    let (code, out, err) = run(&[
        "job:supervisor",
        "--numprocs=high=2",
        "--command=/srv/app/my-app",
        "--grace=90",
        "--workdir=/srv/app",
    ]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "command=/srv/app/my-app job:runall --queue=high --retries=3 --grace=90\n",
        "stopwaitsecs=120\n",
        "stopsignal=TERM\n",
        "directory=/srv/app\n",
    ] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
}

#[test]
fn systemd_output_writes_one_unit_file_per_queue() {
    let dir = temp_dir("units");
    let target = dir.join("systemd");
    let (code, out, err) = run(&[
        "job:systemd",
        "--numprocs=high=1,low=3",
        "--command=/srv/app/my-app",
        &format!("--output={}", target.display()),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut written: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["rakit-high@.service", "rakit-low@.service"]);
    let low = std::fs::read_to_string(target.join("rakit-low@.service")).unwrap();
    assert!(
        low.contains("ExecStart=/srv/app/my-app job:runall --queue=low --retries=2\n"),
        "{low}"
    );
    assert!(
        out.contains("Unit written: ") && out.contains("rakit-low@{1..3}.service"),
        "{out}"
    );
}

#[test]
fn deployment_mistakes_exit_2_with_one_sentence() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["job:systemd", "--numprocs=high=0"],
            "the process count for `high` must be a whole number above 0",
        ),
        (
            &["job:systemd", "--numprocs=high=1,high=2"],
            "names the queue `high` twice",
        ),
        (
            &["job:systemd", "--grace=soon"],
            "`--grace` takes a whole number",
        ),
        (
            &["job:systemd", "--stopwait=5"],
            "has no option `--stopwait`",
        ),
        (
            &["job:supervisor", "--output=/tmp/x"],
            "`job:supervisor` has no option `--output`",
        ),
        (
            &["job:runall", "--grace=-1"],
            "`--grace` takes a whole number",
        ),
        (&["job:stats", "--jsn"], "did you mean `--json`?"),
    ];
    for (args, expected) in cases {
        let (code, _, err) = run(args);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{args:?}: {err}"
        );
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[tokio::test]
async fn after_its_grace_period_a_stopping_worker_hands_the_running_job_back() {
    let h = harness().await;
    let log = h.log("grace.log");
    Sleeps::dispatch(Sleeps {
        ms: 20_000,
        log: log.clone(),
    })
    .via(&h.queue)
    .await
    .unwrap();
    let mut child = h.spawn_worker(&["--grace=1", "--sleep=50"]);
    wait_until("the job to start", Duration::from_secs(20), || async {
        !read_log(&log).is_empty()
    })
    .await;
    let stopping = Instant::now();
    signal(&child, 15);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("the worker did not stop")
        .unwrap();
    assert!(status.success(), "the worker exited with {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the worker took {:?} to stop",
        stopping.elapsed()
    );
    let events: Vec<String> = read_log(&log).into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["start"], "the job must be stopped, not finished");
    assert_eq!(
        h.totals().await,
        (1, 0, 0, 0),
        "the job must be ready again, not failed"
    );
}
