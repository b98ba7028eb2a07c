//! Every round-2 argument: a cron schedule in a time zone, a unique window, a rate limit
//! per key and a running cap per key.
use rakit_job::prelude::*;
use rakit_job::{KeyRule, RateLimit};
use std::time::Duration;

#[job(cron = "0 3 * * *", tz = "Europe/Berlin")]
#[derive(Default)]
pub struct NightlyReport;

#[job(unique_for = "10m", unique = "account", rate_limit = "100/1m", rate_key = "tenant", max_running = 5, max_running_key = "tenant")]
pub struct SyncAccount {
    pub account: u64,
    pub tenant: String,
}

impl Jobable for NightlyReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

impl Jobable for SyncAccount {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {
    let cron = NightlyReport::OPTIONS.cron.expect("a schedule");
    assert_eq!((cron.expression, cron.tz), ("0 3 * * *", Some("Europe/Berlin")));
    let o = SyncAccount::OPTIONS;
    assert_eq!(o.unique_for, Some(Duration::from_secs(600)));
    assert_eq!(
        o.rate_limit,
        Some(RateLimit { count: 100, per: Duration::from_secs(60), key: KeyRule::Field("tenant") })
    );
    assert_eq!(o.max_running.map(|m| (m.count, m.key)), Some((5, KeyRule::Field("tenant"))));
    let schedules = rakit_job::schedules().unwrap();
    assert_eq!(schedules.iter().map(|s| s.name()).collect::<Vec<_>>(), ["nightly-report"]);
}
