//! The file driver passes the shared conformance suite on a real folder, and keeps its
//! promises across several driver instances and several processes sharing one folder,
//! with crash leftovers, strangers and links in it, and when it may not write.

use rakit_job_core::test_support::{started_before, temp_dir};
use rakit_job_core::{
    Admin, DriverError, JobId, LockRequest, Locked, NewJob, PushOutcome, ReserveRequest, Store,
    StoreExt, now_ms,
};
use rakit_job_file::FileDriver;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The prefix of every folder these tests make.
const PREFIX: &str = "file";

/// A fresh folder, after removing the ones runs older than an hour left behind.
fn fresh_folder() -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let dir = temp_dir(PREFIX);
    SWEEP.call_once(|| {
        for entry in std::fs::read_dir(dir.parent().unwrap()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if started_before(&name, PREFIX, 3600) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    dir
}

async fn open(root: &Path) -> FileDriver {
    FileDriver::open(root)
        .await
        .expect("the test folder can be opened")
}

async fn store() -> rakit_job_core::conformance::Store {
    Arc::new(open(&fresh_folder()).await)
}

rakit_job_core::conformance_tests!(store);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_written_whole() {
    rakit_job_core::conformance::big_batches_are_written_whole(store().await, 600).await;
}

fn queues(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn request(queues: &[String], limit: usize, lease_ms: i64) -> ReserveRequest<'_> {
    ReserveRequest::new(queues, limit, lease_ms, "file-test")
}

fn ready_dir(root: &Path, queue: &str) -> PathBuf {
    root.join("queues").join(queue).join("ready")
}

/// A file whose name is not UTF-8 is set aside by itself; its folder and the jobs in it
/// stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_named_in_no_utf8_is_set_aside_alone() {
    use std::os::unix::ffi::OsStrExt;
    let root = fresh_folder();
    let driver = open(&root).await;
    let good = NewJob::now("good", "default", "{}");
    driver.push_one(good.clone()).await.unwrap();
    let ready = ready_dir(&root, "default");
    let odd = ready.join(std::ffi::OsStr::from_bytes(b"bad-\xff-name.job"));
    std::fs::write(&odd, b"{}").unwrap();

    let qs = queues(&["default"]);
    let got = driver.reserve(&request(&qs, 10, 60_000)).await.unwrap();
    assert_eq!(got.len(), 1, "the good job was not claimed");
    assert_eq!(got[0].job.id, good.id);
    assert!(ready.is_dir(), "the ready folder itself was set aside");
    assert!(!odd.exists(), "the odd file was left in the queue");
    assert_eq!(driver.corrupt_files().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_written_and_corrupt_files_are_never_claimed_and_are_reported() {
    let root = fresh_folder();
    let driver = open(&root).await;
    let good = NewJob::now("good", "default", "{}");
    driver.push_one(good.clone()).await.unwrap();
    let ready = ready_dir(&root, "default");

    // A job file cut short by a crash, named to sort before the good job.
    let torn_id = JobId::generate();
    std::fs::write(
        ready.join(format!("{:020}-{torn_id}-0.job", 1)),
        br#"{"id":"#,
    )
    .unwrap();
    // An empty job file: what a power loss can leave of a push that had renamed its file
    // into place but not yet synced it (and so had not returned).
    let empty_id = JobId::generate();
    std::fs::write(ready.join(format!("{:020}-{empty_id}-0.job", 1)), b"").unwrap();
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

    let qs = queues(&["default"]);
    let got = driver.reserve(&request(&qs, 10, 60_000)).await.unwrap();
    assert_eq!(got.len(), 1, "only the good job may be claimed");
    assert_eq!(got[0].job.id, good.id);

    let corrupt = driver.corrupt_files().await.unwrap();
    assert_eq!(
        corrupt.len(),
        5,
        "torn file, empty file, stale temp, stranger and link are set aside: {corrupt:?}"
    );
    for id in [&torn_id, &empty_id] {
        assert!(
            corrupt
                .iter()
                .any(|p| p.to_string_lossy().contains(id.as_str()))
        );
    }
    assert!(
        fresh_temp.exists(),
        "a temp file still being written was touched"
    );
    assert!(!stale_temp.exists());
    assert_eq!(std::fs::read(&outside).unwrap(), b"secret");
    assert!(
        driver
            .reserve(&request(&qs, 10, 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    // The listing shows the good job running and nothing of the rest.
    let shown = driver.job(&good.id).await.unwrap().unwrap();
    assert_eq!(shown.worker.as_deref(), Some("file-test"));
    assert!(driver.job(&torn_id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_names_that_could_escape_the_folder_are_refused() {
    let root = fresh_folder();
    let driver = open(&root).await;
    for bad in ["..", "../escape", "a/b", "/abs", "a\\b", "", "a b", "a.b"] {
        let err = driver
            .push_one(NewJob::now("x", bad, "{}"))
            .await
            .unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
        let qs = queues(&[bad]);
        let err = driver.reserve(&request(&qs, 1, 1_000)).await.unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
        let listing =
            rakit_job_core::JobQuery::new(rakit_job_core::State::Pending, 5).on_queue(bad);
        let err = driver.jobs(&listing).await.unwrap_err();
        assert!(matches!(err, DriverError::Invalid(_)), "{bad:?} gave {err}");
    }
    assert!(!root.join("escape").exists() && !root.with_file_name("escape").exists());
    assert!(driver.queues().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_folder_that_is_a_link_is_not_followed() {
    let root = fresh_folder();
    let driver = open(&root).await;
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
    assert!(driver.reserve(&request(&qs, 1, 1_000)).await.is_err());
    assert!(
        driver
            .push_one(NewJob::now("x", "linked", "{}"))
            .await
            .is_err()
    );
    assert_eq!(
        std::fs::read_dir(&planted).unwrap().count(),
        1,
        "the linked folder was touched"
    );
}

/// Makes `dir` unwritable for this process: by its mode, or, for root (whom modes do not
/// stop), by the immutable attribute. `thaw` undoes it.
fn freeze(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    if std::fs::write(&probe, b"").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot make {} read-only for this test (running as root needs chattr and an ext2/3/4 or XFS folder)",
            dir.display()
        );
    }
    assert!(
        std::fs::write(&probe, b"").is_err(),
        "the folder is still writable"
    );
}

fn thaw(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(dir)
        .status();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_the_process_may_not_write_is_broken_and_keeps_its_jobs() {
    let root = fresh_folder();
    let driver = open(&root).await;
    let kept = NewJob::now("kept", "default", "{}");
    driver.push_one(kept.clone()).await.unwrap();
    let ready = ready_dir(&root, "default");
    freeze(&ready);
    let pushed = driver.push_one(NewJob::now("more", "default", "{}")).await;
    let qs = queues(&["default"]);
    let reserved = driver.reserve(&request(&qs, 1, 60_000)).await;
    thaw(&ready);
    let err = pushed.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("write access"), "{err}");
    let err = reserved.unwrap_err();
    assert!(matches!(err, DriverError::Broken { .. }), "{err}");
    let got = driver.reserve(&request(&qs, 5, 60_000)).await.unwrap();
    let ids: Vec<JobId> = got.into_iter().map(|r| r.job.id).collect();
    assert_eq!(ids, [kept.id], "the stored job was kept, and only it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_on_one_folder_never_share_a_job() {
    const JOBS: usize = 300;
    let root = fresh_folder();
    let first = open(&root).await;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| NewJob::now("race", if i % 3 == 0 { "high" } else { "default" }, "{}"))
        .collect();
    let pushed: HashSet<JobId> = jobs.iter().map(|j| j.id.clone()).collect();
    first.push(jobs).await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        // Each worker has its own instance, as separate processes would.
        let driver = open(&root).await;
        workers.push(tokio::spawn(async move {
            let qs = queues(&["high", "default"]);
            let mut mine = Vec::new();
            loop {
                let got = driver.reserve(&request(&qs, 4, 60_000)).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                let acks: Vec<_> = got
                    .iter()
                    .map(|r| rakit_job_core::Finish::Ack {
                        lease: r.lease.clone(),
                        then: vec![],
                    })
                    .collect();
                assert!(driver.complete(&acks).await.unwrap().iter().all(|a| *a));
                mine.extend(got.into_iter().map(|r| r.job.id));
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
    let waiter = open(&root).await;
    let pusher = open(&root).await;
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
        .push_one(NewJob::now("wake", "default", "{}"))
        .await
        .unwrap();
    let slept = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("wait did not wake")
        .unwrap();
    assert!(slept < Duration::from_secs(5), "woke only after {slept:?}");
}

/// A push to a new queue creates its folder, which a waiting instance watches for; a
/// retry moves the job into `ready/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_on_another_instances_new_queue_and_retry() {
    let root = fresh_folder();
    let waiter: rakit_job_core::conformance::Store = Arc::new(open(&root).await);
    let other: rakit_job_core::conformance::Store = Arc::new(open(&root).await);
    rakit_job_core::conformance::a_push_to_a_new_queue_ends_a_wait(waiter.clone(), other.clone())
        .await;
    rakit_job_core::conformance::another_instances_retry_ends_a_wait(waiter, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_when_a_scheduled_job_comes_due() {
    let root = fresh_folder();
    let driver = open(&root).await;
    let mut later = NewJob::now("later", "default", "{}");
    later.available_at = now_ms() + 300;
    driver.push_one(later).await.unwrap();
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
    let a = open(&root).await;
    let mut job = NewJob::now("report", "default", r#"{"month":"2024-01"}"#);
    job.unique_key = Some("report:2024-01".into());
    assert_eq!(a.push_one(job.clone()).await.unwrap(), PushOutcome::Stored);
    let transcode = |owner| LockRequest {
        key: "transcode",
        capacity: 2,
        owner,
        ttl_ms: 60_000,
    };
    assert!(a.lock_one("sync", "worker-a", 60_000).await.unwrap());
    assert_eq!(a.lock(&transcode("a")).await.unwrap(), Locked::Taken);
    a.put_entry("paused", "low", "", None).await.unwrap();
    drop(a);

    let b = open(&root).await;
    let mut again = job.clone();
    again.id = JobId::generate();
    assert_eq!(b.push_one(again).await.unwrap(), PushOutcome::Duplicate);
    assert!(!b.lock_one("sync", "worker-b", 60_000).await.unwrap());
    assert_eq!(b.lock(&transcode("b")).await.unwrap(), Locked::Taken);
    assert!(matches!(
        b.lock(&transcode("c")).await.unwrap(),
        Locked::Busy { .. }
    ));
    assert_eq!(
        b.entries("paused").await.unwrap(),
        [("low".to_string(), String::new())]
    );
    let qs = queues(&["default"]);
    let got = b.reserve(&request(&qs, 5, 60_000)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job.payload, job.payload);
    assert_eq!(got[0].job.unique_key.as_deref(), Some("report:2024-01"));
    assert!(b.ack(&got[0].lease).await.unwrap());
    let mut third = job.clone();
    third.id = JobId::generate();
    assert_eq!(
        b.push_one(third).await.unwrap(),
        PushOutcome::Stored,
        "an acked job kept its unique key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_on_one_instance_is_seen_by_the_holder_on_another() {
    let root = fresh_folder();
    let (worker, admin) = (open(&root).await, open(&root).await);
    worker
        .push_one(NewJob::now("long", "default", "{}"))
        .await
        .unwrap();
    let qs = queues(&["default"]);
    let held = worker.reserve(&request(&qs, 1, 60_000)).await.unwrap();
    assert_eq!(
        admin.cancel(&held[0].job.id).await.unwrap(),
        rakit_job_core::CancelOutcome::Requested
    );
    assert_eq!(
        worker.extend_one(&held[0].lease, 60_000).await.unwrap(),
        rakit_job_core::LeaseState::Cancelled
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
    let driver = Arc::new(open(root).await);
    let mut pushers = Vec::new();
    for p in 0..8 {
        let driver = driver.clone();
        pushers.push(tokio::spawn(async move {
            let batch: Vec<NewJob> = (p..jobs)
                .step_by(8)
                .map(|i| NewJob::now("drain", "default", &format!("{{\"i\":{i}}}")))
                .collect();
            let ids: Vec<String> = batch.iter().map(|j| j.id.to_string()).collect();
            for chunk in batch.chunks(100) {
                driver.push(chunk.to_vec()).await.unwrap();
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
    let driver = open(&root).await;
    let qs = queues(&["default"]);
    let worker = format!("child-{}", std::process::id());
    let mut idle = 0;
    while idle < 3 {
        let got = driver
            .reserve(&ReserveRequest::new(&qs, 8, 600_000, &worker))
            .await
            .unwrap();
        if got.is_empty() {
            idle += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        idle = 0;
        let acks: Vec<_> = got
            .iter()
            .map(|r| rakit_job_core::Finish::Ack {
                lease: r.lease.clone(),
                then: vec![],
            })
            .collect();
        let acked = driver.complete(&acks).await.unwrap();
        for (r, ok) in got.iter().zip(acked) {
            assert!(ok, "a held lease could not ack");
            println!("{RAN}{}", r.job.id);
        }
    }
}

/// Dispatches one job of each name to `default`, one after the other.
async fn push_named(driver: &FileDriver, names: &[&str]) {
    for name in names {
        let job = NewJob::now(name, "default", "{}");
        driver.push_one(job).await.unwrap();
    }
}

/// An ack renames the job's file out of its queue at once; the file, and any a crashed
/// process left in `done/`, is deleted in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_files_leave_their_queue_at_once_and_are_deleted_in_the_background() {
    let root = fresh_folder();
    let driver = open(&root).await;
    let left_by_a_crash = root.join("done").join("left-by-a-crash.job");
    std::fs::write(&left_by_a_crash, b"{}").unwrap();
    push_named(&driver, &["job-0", "job-1", "job-2"]).await;
    let qs = queues(&["default"]);
    let taken = driver.reserve(&request(&qs, 10, 60_000)).await.unwrap();
    assert_eq!(taken.len(), 3);
    for job in &taken {
        assert!(driver.ack(&job.lease).await.unwrap(), "an ack was refused");
    }
    let reserved = root.join("queues").join("default").join("reserved");
    assert_eq!(std::fs::read_dir(&reserved).unwrap().count(), 0);
    for job in &taken {
        assert!(driver.job(&job.job.id).await.unwrap().is_none());
    }
    let done = root.join("done");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&done).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "done/ was not swept");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Dispatches `names` in order and claims the first, so the claim keeps the others' names.
async fn first_claim_keeps(driver: &FileDriver, names: &[&str]) {
    push_named(driver, names).await;
    assert_eq!(claim_names(driver, 1).await, [names[0]]);
}

/// The names of the jobs one claim of up to `limit` takes from `default`.
async fn claim_names(driver: &FileDriver, limit: usize) -> Vec<String> {
    let qs = queues(&["default"]);
    let taken = driver.reserve(&request(&qs, limit, 60_000)).await.unwrap();
    taken.into_iter().map(|r| r.job.name).collect()
}

/// Stores a job of `default` that came due a minute ago.
async fn push_overdue(driver: &FileDriver) {
    let mut overdue = NewJob::now("overdue", "default", "{}");
    overdue.available_at = now_ms() - 60_000;
    driver.push_one(overdue).await.unwrap();
}

/// A claim keeps the earliest due names it read for the next claims; a job this process
/// stores due before them is still claimed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stored_due_earlier_is_claimed_before_the_names_a_claim_kept() {
    let driver = open(&fresh_folder()).await;
    first_claim_keeps(&driver, &["job-0", "job-1", "job-2", "job-3", "job-4"]).await;
    push_overdue(&driver).await;
    assert_eq!(claim_names(&driver, 2).await, ["overdue", "job-1"]);
}

/// A claim of one job name passes over other jobs without losing their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_of_one_name_keeps_the_others_in_order() {
    let driver = open(&fresh_folder()).await;
    first_claim_keeps(&driver, &["job-0", "job-1", "other", "job-2"]).await;
    let qs = queues(&["default"]);
    let named = request(&qs, 1, 60_000).only_named("other");
    assert_eq!(driver.reserve(&named).await.unwrap()[0].job.name, "other");
    assert_eq!(claim_names(&driver, 2).await, ["job-1", "job-2"]);
}

/// A job another instance stores due before the names a claim kept is not seen by this
/// instance's kept names, but they are read again after half a second, and then it is
/// claimed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_another_instance_stores_due_earlier_is_claimed_once_the_names_are_read_again() {
    let root = fresh_folder();
    let (driver, other) = (open(&root).await, open(&root).await);
    first_claim_keeps(&driver, &["job-0", "job-1", "job-2", "job-3"]).await;
    push_overdue(&other).await;
    // Longer than a claim uses the names it read.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(claim_names(&driver, 2).await, ["overdue", "job-1"]);
}
