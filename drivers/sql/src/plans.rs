//! Plan checks the dialects' tests share: a store filled with thousands of jobs in every
//! state, and the listing statements to explain on it, each with the index it must walk.

use crate::db::{Arg, Row};
use crate::statements::Sql;
use crate::{SqlDriver, SqlOptions};
use rakit_job_core::test_support::{unique_name, unreachable};
use rakit_job_core::{Finish, NewJob, ReserveRequest, Store, now_ms};
use std::sync::Arc;

/// One statement to explain.
pub(crate) struct Probe {
    /// What it is, for messages.
    pub what: String,
    /// The statement.
    pub sql: Arc<str>,
    /// Its binds.
    pub args: Vec<Arg<'static>>,
    /// The index its plan must name.
    pub index: String,
}

/// A store on new tables holding 4,000 jobs in two queues: pending, scheduled, running,
/// failed and cancelled. Its statistics are whatever the database gathered while it was
/// filled (none on a PostgreSQL table never analyzed).
pub(crate) async fn filled(url: &str) -> SqlDriver {
    let table = unique_name("rk");
    let options = SqlOptions {
        failed_table: format!("{table}_f"),
        table,
        ..SqlOptions::default()
    };
    let driver = SqlDriver::connect(url, &options)
        .await
        .unwrap_or_else(|e| unreachable("database", url, e));
    driver.install().await.unwrap();
    let jobs: Vec<NewJob> = (0..4_000)
        .map(|i| {
            let mut job = NewJob::now("noop", ["default", "low"][i % 2], "{}");
            if i % 10 == 0 {
                job.available_at += 3_600_000;
            }
            job
        })
        .collect();
    driver.push(jobs).await.unwrap();
    let queues = vec!["default".to_string(), "low".to_string()];
    let taken = driver
        .reserve(&ReserveRequest::new(&queues, 300, 60_000, "plans"))
        .await
        .unwrap();
    let fails: Vec<Finish> = taken[..100]
        .iter()
        .enumerate()
        .map(|(i, r)| Finish::Fail {
            lease: r.lease.clone(),
            error: "no".into(),
            cancelled: i % 2 == 0,
        })
        .collect();
    driver.complete(&fails).await.unwrap();
    driver
}

/// Every listing statement, with and without a name filter, and the next-queue probes.
pub(crate) fn listings(driver: &SqlDriver) -> Vec<Probe> {
    let t = &driver.tables;
    let now = Arg::Int(now_ms());
    let (claim, listing) = (format!("{}_claim", t.jobs), format!("{}_listing", t.failed));
    let lists = [
        ("pending", now, Sql::ListPending, &claim),
        ("scheduled", now, Sql::ListScheduled, &claim),
        ("running", now, Sql::ListRunning, &claim),
        ("failed", Arg::Flag(false), Sql::ListFailed, &listing),
        ("cancelled", Arg::Flag(true), Sql::ListFailed, &listing),
    ];
    let mut probes = Vec::new();
    for (state, bind, list, index) in lists {
        for name in [None, Some("noop")] {
            probes.push(Probe {
                what: format!("the {state} listing (name {name:?})"),
                sql: driver.sql[list].clone(),
                args: vec![
                    Arg::Text("default"),
                    bind,
                    Arg::MaybeText(name),
                    Arg::Int(1),
                    Arg::Int(1),
                    Arg::Text("0"),
                    Arg::Int(51),
                ],
                index: index.clone(),
            });
        }
    }
    for count in [Sql::StatsReady, Sql::StatsLater] {
        probes.push(Probe {
            what: format!("the count {count:?}"),
            sql: driver.sql[count].clone(),
            args: vec![Arg::Text("default"), now],
            index: claim.clone(),
        });
    }
    for (sql, index) in [(Sql::NextQueue, claim), (Sql::NextFailedQueue, listing)] {
        probes.push(Probe {
            what: format!("the next queue with {index}"),
            sql: driver.sql[sql].clone(),
            args: vec![Arg::Text("")],
            index,
        });
    }
    probes
}

/// Fills a store at `url` and explains each listing with `explain` (the dialect's
/// `EXPLAIN` keywords), `step` turning each row of the answer into a line: every plan must
/// name its index (or have read it while planning) and hold none of `bad`.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) async fn check(url: &str, explain: &str, step: fn(&Row) -> String, bad: &[&str]) {
    let driver = filled(url).await;
    for probe in listings(&driver) {
        let sql = format!("{explain} {}", probe.sql).into();
        let rows = driver.db.pool().rows(&sql, &probe.args).await.unwrap();
        let plan: Vec<String> = rows.iter().map(step).collect();
        let plan = plan.join("\n");
        let indexed = plan.contains(&probe.index) || plan.contains("optimized away");
        assert!(
            indexed && !bad.iter().any(|b| plan.contains(b)),
            "{}: the plan does not walk {}:\n{plan}",
            probe.what,
            probe.index
        );
    }
    drop(driver).await;
}

/// Drops the tables [`filled`] made.
pub(crate) async fn drop(driver: SqlDriver) {
    for sql in crate::statements::drop_tables(&driver.tables) {
        driver.db.pool().run(&sql, &[]).await.unwrap();
    }
}
