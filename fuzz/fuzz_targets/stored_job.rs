//! Arbitrary bytes as a stored job, through every decoder a worker trusts.
//!
//! The first byte picks the path, the rest is what the store holds:
//!
//! - 0: a payload, run by a real worker on the memory store as a typed `#[job]` and as a
//!   legacy listener. Nothing may panic, and the job is either run once with exactly the
//!   value `serde_json` reads from the payload, or moved to the failed store with a
//!   sentence; never lost, never run twice.
//! - 1: a file-driver job file, written `<file name>\n<bytes inside it>`.
//! - 2: a memcached job record.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rakit_job::driver::NewJob;
use rakit_job::prelude::*;
use rakit_job::{Queue, WorkerReport};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A job with one field of each shape serde reads differently.
#[job(name = "fuzz-typed")]
#[derive(Clone, Debug, PartialEq)]
pub struct Typed {
    pub text: String,
    pub count: u32,
    pub offset: i64,
    pub ratio: f64,
    pub on: bool,
    pub tags: Vec<String>,
    pub extra: Option<BTreeMap<String, i32>>,
    pub pair: (u8, char),
}

/// What the last run of [`Typed`] was given.
static SEEN: Mutex<Option<Typed>> = Mutex::new(None);

impl Jobable for Typed {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        *SEEN.lock().unwrap() = Some(self.clone());
        Ok(())
    }
}

const LISTENED: &str = "fuzz-listened";

/// What the last run of the listener was given.
static HEARD: Mutex<Option<Value>> = Mutex::new(None);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        rakit_job::listen(LISTENED, |payload: Value| async move {
            *HEARD.lock().unwrap() = Some(payload);
            Ok(())
        });
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Stores `payload` under job `name` and drains the queue with a worker.
fn drain(name: &str, payload: &str) -> (WorkerReport, Vec<String>) {
    runtime().block_on(async {
        let queue = Queue::memory();
        let outcome = queue
            .driver()
            .push(NewJob::now(name, "default", payload))
            .await;
        assert!(
            outcome.is_ok(),
            "the memory store refused a push: {outcome:?}"
        );
        let report = Worker::new(&queue)
            .queues(["default"])
            .handle_signals(false)
            .quiet()
            .stop_when_empty()
            .run()
            .await
            .expect("a worker on the memory store stops cleanly");
        let failed = queue.driver().failed(10).await.unwrap();
        (report, failed.into_iter().map(|f| f.error).collect())
    })
}

fn typed_payload(payload: &str) {
    *SEEN.lock().unwrap() = None;
    let expected: Option<Typed> = serde_json::from_str(payload).ok();
    let (report, errors) = drain(Typed::NAME, payload);
    let seen = SEEN.lock().unwrap().take();
    match expected {
        Some(job) => {
            let counts = (
                report.succeeded,
                report.retried,
                report.failed,
                report.released,
            );
            assert_eq!(counts, (1, 0, 0, 0), "{report:?} {errors:?}");
            assert_eq!(seen.as_ref(), Some(&job));
        }
        None => {
            let counts = (
                report.succeeded,
                report.retried,
                report.failed,
                report.released,
            );
            assert_eq!(counts, (0, 0, 1, 0), "{report:?}");
            assert!(seen.is_none());
            assert!(
                errors.len() == 1 && errors[0].contains("does not fit the `fuzz-typed` job"),
                "{errors:?}"
            );
        }
    }
}

fn listened_payload(payload: &str) {
    *HEARD.lock().unwrap() = None;
    let expected: Option<Value> = serde_json::from_str(payload).ok();
    let (report, errors) = drain(LISTENED, payload);
    let heard = HEARD.lock().unwrap().take();
    assert_eq!(report.succeeded + report.failed, 1, "{report:?}");
    assert_eq!(heard, expected, "{errors:?}");
}

fn file_job(data: &[u8]) {
    let Some(split) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(file_name) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    if let Ok((job, failed)) =
        rakit_job_file::decode_job_file(file_name, &data[split + 1..], "default")
    {
        assert_eq!(job.queue, "default");
        assert_eq!(job.id, failed.id);
        assert!(
            job.attempts >= 1,
            "a claimed job has run at least once: {job:?}"
        );
    }
}

fn memcached_record(data: &[u8]) {
    // A fixed clock keeps every finding reproducible.
    const NOW: i64 = 1_700_000_000_000;
    if let Ok((job, failed)) = rakit_job_memcached::decode_record(data, NOW) {
        assert_eq!(job.id, failed.id);
        assert!(
            job.attempts >= 1,
            "a claimed job has run at least once: {job:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    match path % 3 {
        0 => {
            if let Ok(payload) = std::str::from_utf8(rest) {
                typed_payload(payload);
                listened_payload(payload);
            }
        }
        1 => file_job(rest),
        _ => memcached_record(rest),
    }
});
