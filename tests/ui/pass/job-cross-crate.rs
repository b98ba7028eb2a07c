//! Jobs defined in another crate (this crate's library) are registered here once it is
//! linked.
use rakit_job::{Job, JobSpec};
use rakit_job_ui_tests as _;

fn main() {
    for name in ["resize-upload", "build-report"] {
        assert!(Job::is_known(name), "{name} is not registered");
        assert!(Job::names().contains(&name), "{name} is not listed");
    }
    assert_eq!(
        rakit_job_ui_tests::ResizeUpload::OPTIONS.no_overlap,
        rakit_job::KeyRule::Field("upload")
    );
    assert_eq!(rakit_job_ui_tests::BuildReport::QUEUE, "reports");
}
