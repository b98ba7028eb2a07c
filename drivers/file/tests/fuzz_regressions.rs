//! Job files the `stored_job` fuzz target (in `fuzz/`) once broke the file driver with,
//! kept as tests so they stay fixed.

use rakit_job_core::test_support::temp_dir;
use rakit_job_core::{NewJob, ReserveRequest, Store, StoreExt};
use rakit_job_file::{FileDriver, decode_job_file};

const ID: &str = "0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e";

fn record() -> String {
    format!(
        r#"{{"id":"{ID}","name":"send-email","queue":"default","payload":"{{}}","created_at":1700000000000}}"#
    )
}

/// Found by `stored_job`: a file name counting u32::MAX attempts made the claim's
/// `attempts + 1` overflow, a panic in a debug build and a wrap to 0 in a release build.
#[test]
fn a_file_name_counting_u32_max_attempts_is_claimed_without_overflow() {
    let found = b"00000001700000000000-0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e-04294967295.job\n\
        {\"id\": \"01\\2f1a4000ail\", \"queue\": \"defaulratit\"0d,";
    let split = found.iter().position(|b| *b == b'\n').unwrap();
    let name = std::str::from_utf8(&found[..split]).unwrap();
    assert!(decode_job_file(name, &found[split + 1..], "default").is_err());

    let (job, failed) = decode_job_file(name, record().as_bytes(), "default").unwrap();
    assert_eq!(job.attempts, u32::MAX);
    assert_eq!(failed.attempts, u32::MAX);
}

#[tokio::test]
async fn a_stored_job_counting_u32_max_attempts_is_handed_out_with_that_count() {
    let root = temp_dir("file-fuzz");
    let driver = FileDriver::open(&root).await.unwrap();
    let job = NewJob::now("send-email", "default", "{}");
    driver.push_one(job.clone()).await.unwrap();

    let ready = root.join("queues").join("default").join("ready");
    let file = std::fs::read_dir(&ready)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "job"))
        .expect("the pushed job's file");
    let name = file.file_name().unwrap().to_str().unwrap();
    let worn = name.replace(
        &format!("{}-0.job", job.id),
        &format!("{}-4294967295.job", job.id),
    );
    assert_ne!(worn, name);
    std::fs::rename(&file, ready.join(&worn)).unwrap();

    let queues = vec!["default".to_string()];
    let taken = driver
        .reserve(&ReserveRequest::new(&queues, 1, 30_000, "fuzz"))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].job.id, job.id);
    assert_eq!(taken[0].job.attempts, u32::MAX);
    assert!(driver.fail(&taken[0].lease, "gave up").await.unwrap());
    let _ = std::fs::remove_dir_all(&root);
}
