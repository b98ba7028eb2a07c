use rakit_job::prelude::*;

#[job(queue = "high priority")]
pub struct SendEmail {
    pub to: String,
    pub month: String,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
