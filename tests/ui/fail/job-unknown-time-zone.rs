use rakit_job::prelude::*;

#[job(cron = "0 3 * * *", tz = "Europe/Atlantis")]
#[derive(Default)]
pub struct Nightly {
    pub account: u64,
}

impl Jobable for Nightly {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
