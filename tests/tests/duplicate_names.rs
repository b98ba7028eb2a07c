//! Two job types with one name in one binary are refused at start-up, naming both types.

use rakit_job::prelude::*;

/// One `report` job.
#[job(name = "report")]
pub struct MonthlyReport {
    /// The month.
    pub month: String,
}

impl Jobable for MonthlyReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

/// Another `report` job, spelled differently but slugged to the same name.
#[job(name = "Report")]
pub struct DailyReport {
    /// The day.
    pub day: String,
}

impl Jobable for DailyReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_refuses_to_start_and_names_both_types() {
    let queue = rakit_job::Queue::memory();
    let err = Worker::new(&queue)
        .stop_when_empty()
        .run()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("two job types are named `report`"), "{text}");
    assert!(
        text.contains("duplicate_names::MonthlyReport")
            && text.contains("duplicate_names::DailyReport"),
        "{text}"
    );
}

#[test]
fn job_list_reports_the_duplicate_with_exit_code_1() {
    let code = rakit_job::cli::run_with(vec!["job:list".into()]);
    assert_eq!(code, std::process::ExitCode::from(1));
}
