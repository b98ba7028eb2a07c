//! `rakit_job::testing::QueueFake`: what it records, what its assertions accept and refuse
//! (and say when they refuse), and running recorded jobs through the real worker.

use rakit_job::prelude::*;
use rakit_job::testing::QueueFake;
use serde_json::json;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

#[job(queue = "high")]
struct SendEmail {
    to: String,
    subject: String,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        SENT.lock().unwrap().push(self.to.clone());
        Ok(())
    }
}

static SENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn sent_to(address: &str) -> usize {
    SENT.lock()
        .unwrap()
        .iter()
        .filter(|a| *a == address)
        .count()
}

#[job]
struct ProcessUpload {
    file: String,
    user_id: u64,
}

/// Fails when the file is empty, panics when it is "panic", and otherwise asks for a
/// thumbnail twice: once through its context, once with a plain dispatch.
impl Jobable for ProcessUpload {
    async fn run(&self, ctx: &JobContext) -> JobResult {
        match self.file.as_str() {
            "" => Err(JobError::permanent("the upload has no file")),
            "panic" => panic!("the image decoder crashed"),
            file => {
                ctx.dispatch(MakeThumbnail {
                    file: file.to_string(),
                    size: 64,
                })
                .await?;
                MakeThumbnail::dispatch(MakeThumbnail {
                    file: file.to_string(),
                    size: 256,
                })
                .on_queue("low")
                .await?;
                Ok(())
            }
        }
    }
}

#[job(timeout = "100ms")]
struct MakeThumbnail {
    file: String,
    size: u32,
}

impl Jobable for MakeThumbnail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        if self.size == 0 {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    }
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        catch_unwind(AssertUnwindSafe(f)).expect_err("the assertion should have panicked");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

fn email(to: &str) -> SendEmail {
    SendEmail {
        to: to.into(),
        subject: "Welcome!".into(),
    }
}

#[tokio::test]
async fn dispatches_through_the_fake_are_recorded_with_queue_and_payload() {
    let fake = QueueFake::new();
    let id = SendEmail::dispatch(email("ada@example.com"))
        .via(fake.queue())
        .await
        .unwrap();
    SendEmail::dispatch(email("bob@example.com"))
        .via(fake.queue())
        .on_queue("low")
        .await
        .unwrap();

    fake.assert_dispatched::<SendEmail>();
    fake.assert_dispatched_on::<SendEmail>("high");
    fake.assert_dispatched_on::<SendEmail>("low");
    fake.assert_dispatched_where::<SendEmail>(|job| job.to == "bob@example.com");
    fake.assert_dispatched_times::<SendEmail>(2);
    fake.assert_not_dispatched::<ProcessUpload>();

    let records = fake.records();
    assert_eq!(records[0].id, id);
    assert_eq!(
        records[0].payload,
        json!({"to": "ada@example.com", "subject": "Welcome!"})
    );
    let to: Vec<String> = fake
        .dispatched::<SendEmail>()
        .into_iter()
        .map(|j| j.to)
        .collect();
    assert_eq!(to, ["ada@example.com", "bob@example.com"]);
    assert_eq!(
        sent_to("ada@example.com"),
        0,
        "a recorded job must not run until the test asks"
    );
}

#[tokio::test]
async fn failed_assertions_say_what_was_expected_and_what_was_dispatched() {
    let fake = QueueFake::new();
    let message = panic_message(|| fake.assert_dispatched::<SendEmail>());
    assert!(
        message.contains("expected a `send-email` job (testing_fake::SendEmail) to be dispatched"),
        "{message}"
    );
    assert!(message.ends_with("nothing was dispatched"), "{message}");

    SendEmail::dispatch(email("ada@example.com"))
        .via(fake.queue())
        .await
        .unwrap();
    ProcessUpload::dispatch(ProcessUpload {
        file: "a.jpg".into(),
        user_id: 7,
    })
    .via(fake.queue())
    .await
    .unwrap();

    let message = panic_message(|| fake.assert_dispatched_on::<SendEmail>("low"));
    assert!(
        message.contains("to be dispatched on queue `low`, but it was not; dispatched:"),
        "{message}"
    );
    assert!(
        message.contains(r#"`send-email` on `high` {"subject":"Welcome!","to":"ada@example.com"}"#),
        "{message}"
    );
    assert!(
        message.contains(r#"`process-upload` on `default` {"file":"a.jpg","user_id":7}"#),
        "{message}"
    );

    let message = panic_message(|| {
        fake.assert_dispatched_where::<SendEmail>(|job| job.to == "eve@example.com")
    });
    assert!(
        message.contains("matching the predicate to be dispatched, but none matched"),
        "{message}"
    );
    assert!(message.contains("ada@example.com"), "{message}");

    let message = panic_message(|| fake.assert_dispatched_times::<SendEmail>(2));
    assert!(
        message.contains("to be dispatched 2 times, but it was dispatched 1 time"),
        "{message}"
    );

    let message = panic_message(|| fake.assert_not_dispatched::<ProcessUpload>());
    assert!(
        message.contains("expected a `process-upload` job"),
        "{message}"
    );
    assert!(
        message.contains("not to be dispatched, but it was dispatched 1 time"),
        "{message}"
    );

    let message = panic_message(|| fake.assert_nothing_dispatched());
    assert!(
        message.starts_with("expected no job to be dispatched, but there were 2; dispatched:"),
        "{message}"
    );
}

#[tokio::test]
async fn plain_dispatches_inside_a_scope_go_to_that_fake_only() {
    let first = QueueFake::new();
    let second = QueueFake::new();
    let a = first.scope(async {
        SendEmail::dispatch(email("first@example.com"))
            .await
            .unwrap();
        Job::dispatch("process-upload", json!({"file": "b.png", "user_id": 3}))
            .await
            .unwrap();
    });
    let b = second.scope(async {
        SendEmail::dispatch(email("second@example.com"))
            .await
            .unwrap();
    });
    tokio::join!(a, b);

    first.assert_dispatched_times::<SendEmail>(1);
    first.assert_dispatched_where::<SendEmail>(|job| job.to == "first@example.com");
    first.assert_dispatched_where::<ProcessUpload>(|job| job.user_id == 3);
    second.assert_dispatched_times::<SendEmail>(1);
    second.assert_dispatched_where::<SendEmail>(|job| job.to == "second@example.com");
    second.assert_not_dispatched::<ProcessUpload>();

    // An explicit `.via` wins over the scope.
    let other = QueueFake::new();
    first
        .scope(SendEmail::dispatch(email("via@example.com")).via(other.queue()))
        .await
        .unwrap();
    other.assert_dispatched_times::<SendEmail>(1);
    first.assert_dispatched_times::<SendEmail>(1);
}

#[tokio::test]
async fn a_skipped_unique_dispatch_is_not_recorded() {
    let fake = QueueFake::new();
    let first = SendEmail::dispatch(email("a@b.c"))
        .via(fake.queue())
        .unique()
        .await
        .unwrap();
    let second = SendEmail::dispatch(email("a@b.c"))
        .via(fake.queue())
        .unique()
        .await
        .unwrap();
    assert!(first.is_some() && second.is_none());
    fake.assert_dispatched_times::<SendEmail>(1);
    assert_eq!(fake.records()[0].unique_key.as_deref(), Some("send-email"));
}

#[tokio::test]
async fn run_all_runs_ready_jobs_and_their_follow_ups_through_the_worker() {
    let fake = QueueFake::new();
    SendEmail::dispatch(email("run-all@example.com"))
        .via(fake.queue())
        .await
        .unwrap();
    SendEmail::dispatch(email("later@example.com"))
        .via(fake.queue())
        .delay(Duration::from_secs(3600))
        .await
        .unwrap();
    ProcessUpload::dispatch(ProcessUpload {
        file: "c.jpg".into(),
        user_id: 1,
    })
    .via(fake.queue())
    .await
    .unwrap();
    ProcessUpload::dispatch(ProcessUpload {
        file: String::new(),
        user_id: 2,
    })
    .via(fake.queue())
    .await
    .unwrap();

    let report = fake.run_all().await.unwrap();

    // send-email, the good upload and its two thumbnails succeed; the empty upload fails for good.
    assert_eq!(
        (report.succeeded, report.failed, report.retried),
        (4, 1, 0),
        "{report:?}"
    );
    assert_eq!(sent_to("run-all@example.com"), 1);
    assert_eq!(
        sent_to("later@example.com"),
        0,
        "a delayed job must wait for its time"
    );
    assert!(
        fake.records()
            .iter()
            .any(|d| d.name == "send-email" && d.is_delayed())
    );
    // Both follow-ups were recorded: the context's and the plain dispatch made inside the job.
    fake.assert_dispatched_times::<MakeThumbnail>(2);
    fake.assert_dispatched_on::<MakeThumbnail>("low");
    fake.assert_dispatched_where::<MakeThumbnail>(|job| job.size == 64 && job.file == "c.jpg");
    let failed = fake
        .queue()
        .jobs()
        .state(rakit_job::State::Failed)
        .await
        .unwrap()
        .jobs;
    assert_eq!(failed[0].error.as_deref(), Some("the upload has no file"));
}

#[tokio::test]
async fn run_inline_returns_the_outcome_of_one_run() {
    let fake = QueueFake::new();
    fake.run_inline(ProcessUpload {
        file: "d.jpg".into(),
        user_id: 4,
    })
    .await
    .unwrap();
    fake.assert_not_dispatched::<ProcessUpload>();
    fake.assert_dispatched_times::<MakeThumbnail>(2);
    fake.assert_dispatched_where::<MakeThumbnail>(|job| job.size == 256 && job.file == "d.jpg");

    let error = fake
        .run_inline(ProcessUpload {
            file: String::new(),
            user_id: 4,
        })
        .await
        .unwrap_err();
    assert_eq!(error.message(), "the upload has no file");
    let error = fake
        .run_inline(ProcessUpload {
            file: "panic".into(),
            user_id: 4,
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.message(),
        "the job panicked: the image decoder crashed"
    );
    let error = fake
        .run_inline(MakeThumbnail {
            file: "e.jpg".into(),
            size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(error.message(), "the job timed out after 100ms");

    fake.run_inline(SendEmail {
        to: "inline@example.com".into(),
        subject: "Hi".into(),
    })
    .await
    .unwrap();
    assert_eq!(sent_to("inline@example.com"), 1);
    fake.assert_not_dispatched::<SendEmail>();
    // Inline runs leave nothing behind in the fake's store but the follow-ups.
    let ready: u64 = fake
        .queue()
        .driver()
        .stats()
        .await
        .unwrap()
        .iter()
        .map(|s| s.ready)
        .sum();
    assert_eq!(ready, 2);
}

#[tokio::test]
async fn an_installed_fake_receives_plain_dispatches_from_anywhere() {
    let fake = QueueFake::new();
    assert!(
        fake.install(),
        "nothing else in this test binary installs a default"
    );
    tokio::spawn(async {
        SendEmail::dispatch(email("installed@example.com"))
            .await
            .unwrap();
    })
    .await
    .unwrap();
    fake.assert_dispatched_where::<SendEmail>(|job| job.to == "installed@example.com");
    assert!(
        !QueueFake::new().install(),
        "the default can be set only once per process"
    );
}

#[tokio::test]
async fn run_all_runs_a_whole_chain_in_order_and_records_its_first_dispatch() {
    let fake = QueueFake::new();
    SendEmail::dispatch(email("chain-1@example.com"))
        .then(email("chain-2@example.com"))
        .then(email("chain-3@example.com"))
        .via(fake.queue())
        .await
        .unwrap();
    fake.assert_dispatched_times::<SendEmail>(1);
    let report = fake.run_all().await.unwrap();
    assert_eq!(report.succeeded, 3);
    let sent: Vec<String> = SENT
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.starts_with("chain-"))
        .cloned()
        .collect();
    assert_eq!(
        sent,
        [
            "chain-1@example.com",
            "chain-2@example.com",
            "chain-3@example.com"
        ]
    );
}
