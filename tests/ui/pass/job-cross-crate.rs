//! Jobs defined in another crate (`rakit-test-jobs`) are registered here once it is linked.
use rakit_job::{Job, JobSpec};
use rakit_test_jobs as _;

fn main() {
    for name in [
        "record-run",
        "fail-times",
        "panics",
        "sleeps",
        "no-overlap-sleep",
        "until-stopped",
    ] {
        assert!(Job::is_known(name), "{name} is not registered");
        assert!(Job::names().contains(&name), "{name} is not listed");
    }
    assert_eq!(
        rakit_test_jobs::NoOverlapSleep::OPTIONS.no_overlap,
        rakit_job::KeyRule::Field("key")
    );
}
