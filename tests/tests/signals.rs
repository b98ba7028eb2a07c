//! A library call leaves the process's signals alone: an application that ran jobs with
//! the legacy `Job::run` still ends on SIGTERM, as it did before it called it.

use rakit_job_tests::stores::{TestStore, config};
use rakit_job_tests::{Harness, signal};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_called_job_run_still_ends_on_sigterm() {
    let h = Harness::new(config(TestStore::Sqlite), env!("CARGO_BIN_EXE_test-worker")).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_test-worker"))
        .args(["legacy-run-then-wait", "record-run"])
        .envs(h.env())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start test-worker");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the program never finished Job::run")
        .unwrap()
        .unwrap_or_default();
    assert!(ready.starts_with("ready"), "{ready}");
    signal(&child, 15);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("SIGTERM did not end a process that had called Job::run")
        .unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
}
