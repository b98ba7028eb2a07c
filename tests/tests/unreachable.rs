//! An unreachable server, for every networked store: one sentence, no password, nothing hangs.

use rakit_job::{Config, Queue};
use std::time::Duration;

async fn refused(driver: &str, url: &str) -> String {
    let config = Config {
        driver: driver.into(),
        url: url.into(),
        ..Config::default()
    };
    let attempt = tokio::time::timeout(Duration::from_secs(60), Queue::connect(&config));
    match attempt.await.expect("connecting to a closed port hung") {
        Ok(_) => panic!("connecting to {url} succeeded"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn each_store_reports_a_closed_port_in_one_sentence_without_the_password() {
    for (driver, url) in [
        ("database", "postgres://app:hunter2@127.0.0.1:1/test"),
        ("database", "mysql://root:hunter2@127.0.0.1:1/test"),
        ("redis", "redis://:hunter2@127.0.0.1:1/"),
        ("memcached", "memcache://127.0.0.1:1"),
    ] {
        let err = refused(driver, url).await;
        assert!(
            !err.contains("hunter2"),
            "{url}: the password was printed: {err}"
        );
        assert!(
            err.contains("127.0.0.1:1"),
            "{url}: the error does not say where: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{url}: {err}");
    }
}

#[tokio::test]
async fn a_driver_not_compiled_in_or_unknown_is_a_clear_configuration_error() {
    let err = refused("rabbitmq", "amqp://x").await;
    assert!(err.contains("the driver \"rabbitmq\" is unknown"), "{err}");
    let err = refused("database", "oracle://x").await;
    assert!(err.contains("oracle"), "{err}");
}
