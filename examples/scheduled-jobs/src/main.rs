//! Scheduled jobs: `dispatch_at("YYYY-MM-DD HH:MM:SS", job)`, `.at(time)` and `.delay(d)`,
//! and the guide's cleanup scheduled for tonight at 23:00 on the low queue without
//! overlapping.
//!
//! Proves: a worker does not run a scheduled job before its time and runs it soon after;
//! jobs scheduled for tonight and tomorrow wait in the store as `scheduled`; a date that
//! cannot be read is refused with a sentence, and nothing is stored.
//!
//! Run it with `cargo run -p example-scheduled-jobs`.

use chrono::{Duration as Days, Local, NaiveTime};
use rakit_job::prelude::*;
use rakit_job::{Queue, When};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// (subject, unix ms it ran at).
static RAN: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sends an e-mail (here: notes when it ran).
#[job(queue = "high")]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        println!(
            "  {}  sent {:?}",
            Local::now().format("%H:%M:%S%.3f"),
            self.subject
        );
        RAN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.subject.clone(), now_ms()));
        Ok(())
    }
}

/// Deletes files older than `days` from `path`.
#[job]
pub struct CleanupFiles {
    /// The folder to clean.
    pub path: String,
    /// The age in days from which files go.
    pub days: u32,
}

impl Jobable for CleanupFiles {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn proves(ok: bool, claim: &str) -> Result<(), String> {
    if ok {
        println!("ok: {claim}");
        Ok(())
    } else {
        Err(format!(
            "this example expected that {claim}, but it did not hold"
        ))
    }
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::memory();
    let email = |subject: &str| SendEmail {
        to: "user@example.com".into(),
        subject: subject.into(),
    };
    let format = "%Y-%m-%d %H:%M:%S";

    // Send email tomorrow at 10 AM (the guide's date('Y-m-d 10:00:00', strtotime('+1 day'))).
    let tomorrow = (Local::now() + Days::days(1))
        .format("%Y-%m-%d 10:00:00")
        .to_string();
    SendEmail::dispatch_at(tomorrow.as_str(), email("tomorrow at ten"))
        .via(&queue)
        .await?;

    // Schedule cleanup tonight at 23:00 (tomorrow night if 23:00 has passed), low queue, no overlap.
    let mut tonight = Local::now()
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(23, 0, 0).ok_or("23:00 is a time")?);
    if tonight <= Local::now().naive_local() {
        tonight += Days::days(1);
    }
    let tonight = tonight.format(format).to_string();
    CleanupFiles::dispatch_at(
        tonight.as_str(),
        CleanupFiles {
            path: "storage/temp".into(),
            days: 7,
        },
    )
    .on_queue("low")
    .without_overlapping()
    .via(&queue)
    .await?;
    println!("scheduled: an e-mail for {tomorrow}, the cleanup for {tonight} on low");

    // Three that come due in the next seconds: a time string, a chrono time, a delay.
    let soon = (Local::now() + Days::seconds(3)).format(format).to_string();
    let soon_ms = When::from(soon.as_str()).millis()?;
    SendEmail::dispatch_at(soon.as_str(), email("at a time string"))
        .via(&queue)
        .await?;
    let in_one_second = Local::now() + Days::seconds(1);
    SendEmail::dispatch(email("at a chrono time"))
        .at(in_one_second)
        .via(&queue)
        .await?;
    let delayed_from = now_ms();
    SendEmail::dispatch(email("after a delay"))
        .delay(Duration::from_millis(1500))
        .via(&queue)
        .await?;
    SendEmail::dispatch(email("right away")).via(&queue).await?;
    println!("and 4 more: right away, in 1 s, in 1.5 s, and at {soon}\n");

    let refused = SendEmail::dispatch_at("31/12/2024 10:00", email("never"))
        .via(&queue)
        .await;
    if let Err(e) = &refused {
        println!("refused: {e}\n");
    }
    proves(
        refused.is_err(),
        "a date that cannot be read is refused at dispatch",
    )?;

    println!("a worker waiting for the 4 jobs due soon:");
    let report = Worker::new(&queue)
        .sleep(Duration::from_millis(50))
        .max_jobs(4)
        .run()
        .await?;
    let ran = RAN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let at = |subject: &str| ran.iter().find(|r| r.0 == subject).map(|r| r.1);
    let names: Vec<&str> = ran.iter().map(|r| r.0.as_str()).collect();
    proves(report.succeeded == 4, "the four jobs due soon ran")?;
    proves(
        names
            == [
                "right away",
                "at a chrono time",
                "after a delay",
                "at a time string",
            ],
        "they ran in the order they came due",
    )?;
    proves(
        at("after a delay").is_some_and(|t| t >= delayed_from + 1500),
        "the delayed job did not run before its 1.5 s were up",
    )?;
    proves(
        at("at a time string").is_some_and(|t| t >= soon_ms && t < soon_ms + 1000),
        "the time-string job ran within a second of its time, not before",
    )?;

    let stats = queue.driver().stats().await?;
    let scheduled = |q: &str| {
        stats
            .iter()
            .find(|s| s.queue == q)
            .map_or(0, |s| s.scheduled)
    };
    proves(
        scheduled("high") == 1 && scheduled("low") == 1,
        "tomorrow's e-mail and tonight's cleanup are still waiting, as scheduled",
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
