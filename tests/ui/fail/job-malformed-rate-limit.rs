use rakit_job::prelude::*;

#[job(rate_limit = "fast")]
pub struct CallPartner {
    pub account: u64,
}

impl Jobable for CallPartner {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
