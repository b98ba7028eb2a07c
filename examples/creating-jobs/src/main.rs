//! Creating job classes: the guide's `SendEmail`, `ProcessUpload` and `GenerateReport`,
//! each a struct with `#[job]` whose fields are the payload and whose `run` is the work.
//!
//! Proves: the names are slugs found however they are spelled, the queue and options come
//! from `#[job(...)]`, `#[serde(default)]` fills fields a payload leaves out (the guide's
//! `$this->get('view', 'emails.notification')`), and a worker runs all three.
//!
//! Run it with `cargo run -p example-creating-jobs`.

use rakit_job::Queue;
use rakit_job::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

/// What the jobs did, in order.
static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn done(line: String) {
    println!("  ran: {line}");
    DONE.lock().unwrap_or_else(|p| p.into_inner()).push(line);
}

/// `application/jobs/SendEmail.php`: sends an e-mail (here it prints it).
#[job(queue = "high", retries = 3, timeout = "30s")]
pub struct SendEmail {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The template; `emails.notification` when the payload has none.
    #[serde(default = "default_view")]
    pub view: String,
    /// The template's data.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

fn default_view() -> String {
    "emails.notification".into()
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        // Mail::send($view, $data, ...) in the guide; any mailer crate goes here.
        done(format!(
            "send-email to {} ({:?}, view {}, data {:?})",
            self.to, self.subject, self.view, self.data
        ));
        Ok(())
    }
}

/// `application/jobs/ProcessUpload.php`: processes an uploaded file.
#[job]
pub struct ProcessUpload {
    /// The uploaded file's path.
    pub file: String,
    /// Who uploaded it.
    pub user_id: u64,
}

impl Jobable for ProcessUpload {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        // `?` turns any error (here: a missing file) into a failed attempt that is retried.
        let bytes = std::fs::metadata(&self.file)?.len();
        self.process_image(bytes).await;
        done(format!(
            "process-upload: File processed: {} ({bytes} bytes, user {})",
            self.file, self.user_id
        ));
        Ok(())
    }
}

impl ProcessUpload {
    async fn process_image(&self, _bytes: u64) {
        // Image processing logic (resize, optimize, ...).
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `application/jobs/GenerateReport.php`: builds a report for a date.
#[job(queue = "low")]
pub struct GenerateReport {
    /// `daily` unless given.
    #[serde(default = "daily")]
    pub r#type: String,
    /// The date, `YYYY-MM-DD`; today unless given.
    #[serde(default = "today")]
    pub date: String,
}

fn daily() -> String {
    "daily".into()
}

fn today() -> String {
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

impl Jobable for GenerateReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        // DB::table('orders')->where('date', $date)->get() in the guide.
        done(format!(
            "generate-report: {} report for {}",
            self.r#type, self.date
        ));
        Ok(())
    }
}

/// Fails the example with `claim` unless `ok`.
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
    println!("The jobs linked into this program:");
    for name in Job::names() {
        println!("  {name}");
    }
    proves(
        SendEmail::NAME == "send-email" && SendEmail::QUEUE == "high",
        "SendEmail is named send-email and goes to the high queue",
    )?;
    proves(
        SendEmail::OPTIONS.retries == Some(3)
            && SendEmail::OPTIONS.timeout == Some(Duration::from_secs(30)),
        "#[job(retries = 3, timeout = \"30s\")] sets its options",
    )?;
    proves(
        ProcessUpload::QUEUE == "default",
        "a job without `queue` goes to the default queue",
    )?;
    for spelling in ["Send Email", "send_email", "send-email"] {
        proves(
            Job::is_known(spelling),
            &format!("{spelling:?} names the send-email job"),
        )?;
    }

    let upload =
        std::env::temp_dir().join(format!("rakit-example-upload-{}.jpg", std::process::id()));
    std::fs::write(&upload, [0u8; 2048])?;

    println!("\nDispatching one of each, then running a worker:");
    let queue = Queue::memory();
    SendEmail::dispatch(SendEmail {
        to: "user@example.com".into(),
        subject: "Welcome!".into(),
        view: "emails.welcome".into(),
        data: BTreeMap::from([("name".into(), "John".into())]),
    })
    .via(&queue)
    .await?;
    // By name, leaving `view` and `data` out: the struct's defaults fill them in.
    Job::dispatch(
        "send-email",
        json!({"to": "admin@example.com", "subject": "Hello"}),
    )
    .via(&queue)
    .await?;
    ProcessUpload::dispatch(ProcessUpload {
        file: upload.display().to_string(),
        user_id: 42,
    })
    .via(&queue)
    .await?;
    Job::dispatch("generate-report", json!({}))
        .via(&queue)
        .await?;

    let report = Worker::new(&queue).stop_when_empty().run().await?;
    std::fs::remove_file(&upload)?;

    let ran = DONE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    proves(
        report.succeeded == 4 && report.failed == 0,
        "the worker ran all four jobs to success",
    )?;
    proves(
        ran.iter()
            .any(|r| r.contains("admin@example.com") && r.contains("view emails.notification")),
        "a payload without `view` got the default template",
    )?;
    proves(
        ran.iter()
            .any(|r| r.contains(&format!("daily report for {}", today()))),
        "GenerateReport defaulted to a daily report for today",
    )?;
    proves(
        ran.first().is_some_and(|r| r.starts_with("send-email")),
        "the high-queue e-mails ran before the rest",
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
