//! Jobs defined in another crate (`rakit-test-jobs`) are registered here once it is linked.
use rakit_test_jobs as _;

fn main() {
    for name in [
        "record-run",
        "fail-times",
        "panics",
        "sleeps",
        "no-overlap-sleep",
    ] {
        let entry =
            rakit_job::registry::find(name).unwrap_or_else(|| panic!("{name} is not registered"));
        assert!(
            entry.type_name.starts_with("rakit_test_jobs::"),
            "{}",
            entry.type_name
        );
    }
    let overlap = rakit_job::registry::find("no-overlap-sleep").unwrap();
    assert_eq!(overlap.options.no_overlap, rakit_job::KeyRule::Field("key"));
}
