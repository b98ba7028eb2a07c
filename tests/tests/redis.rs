//! The worker suite on redis: each test gets its own key prefix.

use rakit_job::Config;
use rakit_job_tests::stores::TestStore;

async fn config() -> Config {
    rakit_job_tests::stores::config(TestStore::Redis)
}

rakit_job_tests::worker_suite!(config);
rakit_job_tests::control_suite!(config);
rakit_job_tests::limits_suite!(config);
rakit_job_tests::big_drain_test!(config, 20_000, 4);
rakit_job_tests::bad_input_tests!(config);
rakit_job_tests::crash_storm_test!(config);
rakit_job_tests::no_overlap_under_fire_test!(config);
