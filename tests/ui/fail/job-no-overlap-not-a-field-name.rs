use rakit_job::prelude::*;

#[job(no_overlap = 5)]
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
