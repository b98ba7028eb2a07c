//! Every `#[job]` argument at once, read back through `JobSpec` and the registry.
use rakit_job::prelude::*;
use rakit_job::{Backoff, JobOptions, KeyRule};
use std::time::Duration;

#[job(
    name = "send-email",
    queue = "high",
    no_overlap,
    unique = "to",
    retries = 5,
    timeout = "1m30s",
    backoff = "1s,10s,60s"
)]
pub struct SendEmail {
    pub to: String,
    pub subject: String,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

#[job(backoff = "fixed", no_overlap = "month", timeout = "500ms")]
pub struct MonthlyReport {
    pub month: String,
}

impl Jobable for MonthlyReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {
    assert_eq!(SendEmail::NAME, "send-email");
    assert_eq!(SendEmail::QUEUE, "high");
    const STEPS: &[Duration] = &[
        Duration::from_secs(1),
        Duration::from_secs(10),
        Duration::from_secs(60),
    ];
    assert_eq!(
        SendEmail::OPTIONS,
        JobOptions {
            no_overlap: KeyRule::Name,
            unique: KeyRule::Field("to"),
            retries: Some(5),
            timeout: Some(Duration::from_secs(90)),
            backoff: Backoff::List(STEPS),
            ..JobOptions::DEFAULT
        }
    );

    assert_eq!(MonthlyReport::NAME, "monthly-report");
    assert_eq!(MonthlyReport::OPTIONS.no_overlap, KeyRule::Field("month"));
    assert_eq!(
        MonthlyReport::OPTIONS.timeout,
        Some(Duration::from_millis(500))
    );
    assert_eq!(MonthlyReport::OPTIONS.backoff, Backoff::Fixed);

    let entry = rakit_job::__private::find("send-email").expect("SendEmail is registered");
    assert!(
        entry.type_name.ends_with("::SendEmail"),
        "{}",
        entry.type_name
    );
    assert_eq!(entry.queue, "high");
    assert_eq!(entry.options, SendEmail::OPTIONS);
    assert!(rakit_job::__private::find("Monthly Report").is_some());
    assert!(rakit_job::__private::duplicates().is_empty());
}
