//! A given name is slugged like Rakit: "Send Email", "send_email" and "send-email" are one job.
use rakit_job::prelude::*;

#[job(name = "Send Email")]
pub struct SendEmail {
    pub to: String,
}

#[job(name = "  Report: Monthly!! ")]
pub struct Report;

#[job(name = "process_upload")]
pub struct Upload;

macro_rules! noop_jobs {
    ($($t:ty),*) => {$(
        impl Jobable for $t {
            async fn run(&self, _ctx: &JobContext) -> JobResult {
                Ok(())
            }
        }
    )*};
}
noop_jobs!(SendEmail, Report, Upload);

fn main() {
    assert_eq!(SendEmail::NAME, "send-email");
    assert_eq!(Report::NAME, "report-monthly");
    assert_eq!(Upload::NAME, "process-upload");
    for spelling in ["Send Email", "send_email", "send-email"] {
        assert_eq!(
            rakit_job::__private::find(spelling).unwrap().name,
            "send-email"
        );
    }
}
