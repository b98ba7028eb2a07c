//! The file driver passes the shared conformance suite on a real folder, and keeps its
//! promises across several driver instances and several processes sharing one folder.

use rakit_job_core::{Driver, DriverError, JobId, NewJob, PushOutcome, ReserveRequest, now_ms};
use rakit_job_file::FileDriver;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A fresh folder under cargo's temp dir for integration tests.
fn fresh_folder() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rakit-file-{}", uuid::Uuid::new_v4().simple()))
}

async fn store() -> rakit_job_core::conformance::Store {
    Arc::new(
        FileDriver::open(fresh_folder())
            .await
            .expect("the test folder can be created"),
    )
}

rakit_job_core::conformance_tests!(store);

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn ready_dir(root: &Path, queue: &str) -> PathBuf {
    root.join("queues").join(queue).join("ready")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_written_and_corrupt_files_are_never_claimed_and_are_reported() {
    let root = fresh_folder();
    let driver = FileDriver::open(&root).await.unwrap();
    let good = NewJob::now("good", "default", "{}");
    driver.push(good.clone()).await.unwrap();
    let ready = ready_dir(&root, "default");

    // A job file cut short by a crash, named to sort before the good job.
    let torn_id = JobId::generate();
    std::fs::write(
        ready.join(format!("{:020}-{torn_id}-0.job", 1)),
        br#"{"id":"#,
    )
    .unwrap();
    // A temp file a crashed push left behind an hour ago, and one being written right now.
    let stale_temp = ready.join(".tmp-crashed");
    std::fs::write(&stale_temp, b"{").unwrap();
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale_temp)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let fresh_temp = ready.join(".tmp-in-progress");
    std::fs::write(&fresh_temp, b"{").unwrap();
    // A stranger, and a link pointing out of the folder.
    std::fs::write(ready.join("notes.txt"), b"hello").unwrap();
    let outside = root.with_extension("outside");
    std::fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(
        &outside,
        ready.join(format!("{:020}-{}-0.job", 2, JobId::generate())),
    )
    .unwrap();

    let got = driver
        .reserve(&ReserveRequest::new(&queues(&["default"]), 10, 60_000))
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "only the good job may be claimed");
    assert_eq!(got[0].job.id, good.id);

    let corrupt = driver.corrupt_files().await.unwrap();
    assert_eq!(
        corrupt.len(),
        4,
        "torn file, stale temp, stranger and link are set aside: {corrupt:?}"
    );
    assert!(
        corrupt
            .iter()
            .any(|p| p.to_string_lossy().contains(torn_id.as_str()))
    );
    assert!(
        fresh_temp.exists(),
        "a temp file still being written was touched"
    );
    assert!(!stale_temp.exists());
    assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
    assert!(
        driver
            .reserve(&ReserveRequest::new(&queues(&["default"]), 10, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_names_that_could_escape_the_folder_are_refused() {
    let root = fresh_folder();
    let driver = FileDriver::open(&root).await.unwrap();
    for bad in ["..", "../escape", "a/b", "/abs", "a\\b", "", "a b", "a.b"] {
        let err = driver.push(NewJob::now("x", bad, "{}")).await.unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
        let err = driver
            .reserve(&ReserveRequest::new(&queues(&[bad]), 1, 1_000))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
    }
    assert!(!root.join("escape").exists() && !root.with_file_name("escape").exists());
    assert!(driver.queues().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_folder_that_is_a_link_is_not_followed() {
    let root = fresh_folder();
    let driver = FileDriver::open(&root).await.unwrap();
    let elsewhere = root.with_extension("elsewhere");
    let planted = ready_dir(&elsewhere, "default");
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(
        planted.join(format!("{:020}-{}-0.job", 1, JobId::generate())),
        b"{}",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        elsewhere.join("queues").join("default"),
        root.join("queues").join("linked"),
    )
    .unwrap();
    let qs = queues(&["linked"]);
    assert!(
        driver
            .reserve(&ReserveRequest::new(&qs, 1, 1_000))
            .await
            .is_err()
    );
    assert!(driver.push(NewJob::now("x", "linked", "{}")).await.is_err());
    assert_eq!(
        std::fs::read_dir(&planted).unwrap().count(),
        1,
        "the linked folder was touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_on_one_folder_never_share_a_job() {
    const JOBS: usize = 300;
    let root = fresh_folder();
    let first = FileDriver::open(&root).await.unwrap();
    let mut pushed = HashSet::new();
    for i in 0..JOBS {
        let job = NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}");
        pushed.insert(job.id.clone());
        first.push(job).await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        // Each worker has its own instance, as separate processes would.
        let driver = FileDriver::open(&root).await.unwrap();
        workers.push(tokio::spawn(async move {
            let qs = queues(&["high", "default"]);
            let mut mine = Vec::new();
            loop {
                let got = driver
                    .reserve(&ReserveRequest::new(&qs, 4, 60_000))
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                for r in got {
                    assert!(driver.ack(&r.lease).await.unwrap());
                    mine.push(r.job.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id.clone()), "job {id} was reserved twice");
        }
    }
    assert_eq!(seen, pushed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_on_a_push_from_another_instance() {
    let root = fresh_folder();
    let waiter = FileDriver::open(&root).await.unwrap();
    let pusher = FileDriver::open(&root).await.unwrap();
    // The first wait starts the watcher.
    waiter
        .wait(&queues(&["default"]), Duration::from_millis(50))
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        waiter
            .wait(&queues(&["default"]), Duration::from_secs(30))
            .await
            .unwrap();
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    pusher
        .push(NewJob::now("wake", "default", "{}"))
        .await
        .unwrap();
    let slept = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("wait did not wake")
        .unwrap();
    assert!(slept < Duration::from_secs(5), "woke only after {slept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_when_a_scheduled_job_comes_due() {
    let root = fresh_folder();
    let driver = FileDriver::open(&root).await.unwrap();
    let mut later = NewJob::now("later", "default", "{}");
    later.available_at = now_ms() + 300;
    driver.push(later).await.unwrap();
    driver
        .wait(&queues(&["default"]), Duration::from_millis(10))
        .await
        .unwrap();
    let started = Instant::now();
    driver
        .wait(&queues(&["default"]), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_locks_and_unique_keys_survive_reopening_and_are_shared_by_instances() {
    let root = fresh_folder();
    let a = FileDriver::open(&root).await.unwrap();
    let mut job = NewJob::now("report", "default", r#"{"month":"2024-01"}"#);
    job.unique_key = Some("report:2024-01".into());
    assert_eq!(a.push(job.clone()).await.unwrap(), PushOutcome::Stored);
    assert!(a.lock("sync", "worker-a", 60_000).await.unwrap());
    drop(a);

    let b = FileDriver::open(&root).await.unwrap();
    let mut again = job.clone();
    again.id = JobId::generate();
    assert_eq!(b.push(again).await.unwrap(), PushOutcome::Duplicate);
    assert!(!b.lock("sync", "worker-b", 60_000).await.unwrap());
    let got = b
        .reserve(&ReserveRequest::new(&queues(&["default"]), 5, 60_000))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.payload, job.payload);
    assert_eq!(got[0].job.unique_key.as_deref(), Some("report:2024-01"));
    assert!(b.ack(&got[0].lease).await.unwrap());
    let mut third = job.clone();
    third.id = JobId::generate();
    assert_eq!(
        b.push(third).await.unwrap(),
        PushOutcome::Stored,
        "an acked job kept its unique key"
    );
}

/// Set in a child process: the folder it drains.
const CHILD_FOLDER: &str = "RAKIT_FILE_TEST_CHILD_FOLDER";
const PROCESSES: usize = 4;
const PROCESS_JOBS: usize = 10_000;
/// What a child process prints before the id of each job it ran.
const RAN: &str = "job-ran:";

/// Four worker processes drain 10,000 jobs from one folder, each job run exactly once.
///
/// The test binary starts copies of itself running only this test; with the folder in
/// the environment they act as workers and print the id of every job they ran.
#[test]
fn four_worker_processes_drain_ten_thousand_jobs_each_exactly_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(folder) = std::env::var(CHILD_FOLDER) {
        rt.block_on(work_as_child(PathBuf::from(folder)));
        return;
    }
    let root = fresh_folder();
    let pushed = rt.block_on(push_many(&root, PROCESS_JOBS));
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "four_worker_processes_drain_ten_thousand_jobs_each_exactly_once",
                ])
                .args(["--nocapture", "--test-threads=1"])
                .env(CHILD_FOLDER, &root)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("the test binary can start a copy of itself")
        })
        .collect();
    let mut ran = HashSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a worker process failed: {}",
            out.status
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // The test harness may print its own text before ours on the first line.
            if let Some((_, id)) = line.split_once(RAN) {
                assert!(ran.insert(id.to_string()), "job {id} ran twice");
            }
        }
    }
    assert_eq!(ran.len(), pushed.len(), "some jobs never ran");
    assert_eq!(ran, pushed);
    let driver = rt.block_on(FileDriver::open(&root)).unwrap();
    assert!(rt.block_on(driver.stats()).unwrap().is_empty());
    std::fs::remove_dir_all(&root).unwrap();
}

async fn push_many(root: &Path, jobs: usize) -> HashSet<String> {
    let driver = Arc::new(FileDriver::open(root).await.unwrap());
    let mut pushers = Vec::new();
    for p in 0..8 {
        let driver = driver.clone();
        pushers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (p..jobs).step_by(8) {
                let job = NewJob::now("drain", "default", &format!("{{\"i\":{i}}}"));
                ids.push(job.id.to_string());
                driver.push(job).await.unwrap();
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for pusher in pushers {
        all.extend(pusher.await.unwrap());
    }
    all
}

async fn work_as_child(root: PathBuf) {
    let driver = FileDriver::open(&root).await.unwrap();
    let qs = queues(&["default"]);
    let mut idle = 0;
    while idle < 3 {
        let got = driver
            .reserve(&ReserveRequest::new(&qs, 8, 600_000))
            .await
            .unwrap();
        if got.is_empty() {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        idle = 0;
        for r in got {
            assert!(
                driver.ack(&r.lease).await.unwrap(),
                "a held lease could not ack"
            );
            println!("{RAN}{}", r.job.id);
        }
    }
}
