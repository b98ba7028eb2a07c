//! Jobs of a crate other than the ui cases', so a case can check that jobs register
//! across crates once the crate is linked (`pass/job-cross-crate.rs`).
//!
//! ```
//! use rakit_job::JobSpec;
//! use rakit_job_ui_tests::ResizeUpload;
//!
//! assert_eq!(ResizeUpload::NAME, "resize-upload");
//! ```

use rakit_job::prelude::*;

/// Resizes one upload; runs for the same upload never overlap.
#[job(no_overlap = "upload")]
pub struct ResizeUpload {
    /// The upload's id.
    pub upload: String,
}

impl Jobable for ResizeUpload {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

/// Builds a report, on a queue of its own.
#[job(name = "build-report", queue = "reports")]
pub struct BuildReport {
    /// The report's month, as `YYYY-MM`.
    pub month: String,
}

impl Jobable for BuildReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}
