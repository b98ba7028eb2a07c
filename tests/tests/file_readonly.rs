//! The file driver on a folder that turns read-only (a full or remounted disk): every
//! write is refused with one clear sentence, nothing panics, and the stored job survives.
//! Runs as root (as CI does): it mounts a small tmpfs and remounts it read-only.

use rakit_job::{Config, JobSpec, Queue};
use rakit_job_tests::temp_dir;
use rakit_test_jobs::RecordRun;
use std::process::Command;

fn sh(cmd: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .expect("cannot run sh");
    assert!(
        status.success(),
        "`{cmd}` failed ({status}); this test mounts a tmpfs and needs root"
    );
}

/// Unmounts the tmpfs however the test ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_read_only_folder_refuses_writes_clearly_and_keeps_its_jobs() {
    let dir = temp_dir("readonly");
    let mount = dir.join("store");
    std::fs::create_dir_all(&mount).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=8m rakit-ro {}",
        mount.display()
    ));
    let _mounted = Mounted(mount.clone());
    let config = Config {
        driver: "file".into(),
        url: mount.display().to_string(),
        ..Config::default()
    };
    let queue = Queue::connect(&config).await.unwrap();
    let log = dir.join("ran.log").display().to_string();
    let kept = RecordRun::dispatch(RecordRun {
        log: log.clone(),
        tag: "kept".into(),
    })
    .via(&queue)
    .await
    .unwrap();

    sh(&format!("mount -o remount,ro {}", mount.display()));
    {
        let refused = RecordRun::dispatch(RecordRun {
            log: log.clone(),
            tag: "refused".into(),
        })
        .via(&queue)
        .await;
        let err = refused
            .expect_err("a dispatch to a read-only folder claimed success")
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        let queues = vec!["default".to_string()];
        let reserve = queue
            .driver()
            .reserve(&rakit_job::driver::ReserveRequest::new(
                &queues, 1, 30_000, "test",
            ))
            .await;
        let err = reserve
            .expect_err("a claim on a read-only folder claimed success")
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    sh(&format!("mount -o remount,rw {}", mount.display()));

    // Writable again: the job stored before is still there and runs.
    let report = rakit_job::Worker::new(&queue)
        .quiet()
        .stop_when_empty()
        .run()
        .await
        .unwrap();
    assert_eq!(report.succeeded, 1);
    let ran = rakit_test_jobs::read_log(&log);
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].id, kept.to_string());
    assert_eq!(ran[0].label, "kept");
}
