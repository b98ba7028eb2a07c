//! The worker suite on memcached: each test gets its own key prefix.

use rakit_job::Config;
use rakit_job_tests::unique_name;

async fn config() -> Config {
    let name = unique_name("rk");
    Config {
        driver: "memcached".into(),
        url: "memcache://127.0.0.1:11211".to_string(),
        table: name.clone(),
        failed_table: format!("{name}_failed"),
        key: name.replace('_', "."),
        lease_ms: 1000,
        sleep_ms: 100,
        ..Config::default()
    }
}

rakit_job_tests::worker_suite!(config);
rakit_job_tests::big_drain_test!(config, 4_000, 4);
rakit_job_tests::bad_input_tests!(config);
rakit_job_tests::no_overlap_under_fire_test!(config);
