use rakit_job::prelude::*;

#[derive(Default)]
#[job(cron = "61 * * * *")]
pub struct Nightly {
    pub account: u64,
}

impl Jobable for Nightly {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
