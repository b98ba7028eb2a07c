use rakit_job::prelude::*;

#[job(max_running = 0)]
pub struct Transcode {
    pub account: u64,
}

impl Jobable for Transcode {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
