//! Set-up the SQLite, PostgreSQL and MySQL tests share: fresh tables per test, drivers on
//! them, and the names of tables that old test runs left behind. Server urls and unique
//! names come from `rakit_job_core::test_support`.
#![allow(dead_code)]

use rakit_job_core::test_support::{started_before, unique_name, unreachable};
use rakit_job_sql::{SqlDriver, SqlOptions};

/// The prefix of every table these tests make.
pub const PREFIX: &str = "rk";

/// Options naming tables no other test uses.
pub fn fresh_tables() -> SqlOptions {
    let table = unique_name(PREFIX);
    SqlOptions {
        failed_table: format!("{table}_f"),
        table,
        ..SqlOptions::default()
    }
}

/// A driver at `url` on the tables of `options`; a server that cannot be reached fails
/// the test, saying how to start it.
pub async fn driver_on(store: &str, url: &str, options: &SqlOptions) -> SqlDriver {
    SqlDriver::connect(url, options)
        .await
        .unwrap_or_else(|e| unreachable(store, url, e))
}

/// A driver on fresh tables, created.
pub async fn installed(store: &str, url: &str) -> (SqlDriver, SqlOptions) {
    let options = fresh_tables();
    let driver = driver_on(store, url, &options).await;
    driver.install().await.unwrap();
    (driver, options)
}

/// Every table a store on `options` uses.
pub fn tables_of(options: &SqlOptions) -> Vec<String> {
    let t = &options.table;
    let mut all = vec![t.clone(), options.failed_table.clone()];
    all.extend(["locks", "windows", "entries", "throughput"].map(|s| format!("{t}_{s}")));
    all
}

/// The statement dropping `tables` (the same text in PostgreSQL and MySQL).
pub fn drop_statement(tables: &[String]) -> String {
    format!("DROP TABLE IF EXISTS {}", tables.join(", "))
}

/// The tables among `names` that test runs which ended over an hour ago left behind.
pub fn leftovers(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .filter(|name| started_before(name, PREFIX, 3600))
        .collect()
}

/// Transactional dispatch on `pool`'s database: a job pushed in the application's
/// transaction is seen only once it commits and vanishes with a rollback; a unique key or
/// window taken inside it skips a second push and is freed by the rollback.
pub async fn jobs_follow_the_applications_transaction<DB>(pool: &sqlx::Pool<DB>, driver: &SqlDriver)
where
    DB: rakit_job_sql::TransactionDatabase,
{
    use rakit_job_core::{NewJob, PushOutcome, ReserveRequest, Store, StoreExt};
    let queues = vec!["default".to_string()];
    let claim = ReserveRequest::new(&queues, 1, 60_000, "w");

    let mut tx = pool.begin().await.unwrap();
    let job = NewJob::now("committed", "default", "{}");
    let id = job.id.clone();
    assert_eq!(
        driver.push_in(&mut tx, job).await.unwrap(),
        PushOutcome::Stored
    );
    let early = driver.reserve(&claim).await.unwrap();
    assert!(
        early.is_empty(),
        "a job was visible before its transaction committed"
    );
    tx.commit().await.unwrap();
    let got = driver.reserve(&claim).await.unwrap();
    assert_eq!(got.iter().map(|r| &r.job.id).collect::<Vec<_>>(), [&id]);

    let mut tx = pool.begin().await.unwrap();
    let rolled_back = NewJob::now("rolled-back", "default", "{}");
    driver.push_in(&mut tx, rolled_back).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(driver.reserve(&claim).await.unwrap().is_empty());

    for window in [None, Some(60_000)] {
        let unique = || {
            let mut job = NewJob::now("sync", "default", "{}");
            job.unique_key = Some("acct:1".into());
            job.unique_for = window;
            job
        };
        let mut tx = pool.begin().await.unwrap();
        let first = driver.push_in(&mut tx, unique()).await.unwrap();
        let second = driver.push_in(&mut tx, unique()).await.unwrap();
        assert_eq!(
            (first, second),
            (PushOutcome::Stored, PushOutcome::Duplicate)
        );
        tx.rollback().await.unwrap();
        let after = driver.push_one(unique()).await.unwrap();
        assert_eq!(
            after,
            PushOutcome::Stored,
            "a rolled-back push still held its key"
        );
        let r = driver.reserve(&claim).await.unwrap();
        assert!(driver.ack(&r[0].lease).await.unwrap());
    }
}

/// Tables made before the unique index became partial keep a full one, and the store's
/// inserts must still find it: replaces the unique index of `options`' tables with a full
/// one (`drop_index` is the dialect's statement dropping it), then checks that a taken
/// unique key skips a second job, alone and in a batch, and that jobs without a key are
/// all stored.
pub async fn unique_keys_hold_on_a_full_unique_index(
    driver: &SqlDriver,
    options: &SqlOptions,
    drop_index: &str,
) {
    use rakit_job_core::{NewJob, PushOutcome::*, Store};
    let t = &options.table;
    let full = format!("{drop_index}; CREATE UNIQUE INDEX {t}_unique ON {t} (unique_key);");
    driver
        .apply_migration("0_full_unique_index", &full)
        .await
        .unwrap();
    let keyed = |key: &str| NewJob {
        unique_key: Some(key.to_string()),
        ..NewJob::now("keyed", "default", "{}")
    };
    let plain = || NewJob::now("plain", "default", "{}");
    assert_eq!(driver.push(vec![keyed("a")]).await.unwrap(), [Stored]);
    assert_eq!(driver.push(vec![keyed("a")]).await.unwrap(), [Duplicate]);
    let batch = vec![keyed("a"), keyed("b"), plain(), plain()];
    assert_eq!(
        driver.push(batch).await.unwrap(),
        [Duplicate, Stored, Stored, Stored]
    );
    assert_eq!(
        driver.push(vec![plain(), plain()]).await.unwrap(),
        [Stored, Stored]
    );
}
