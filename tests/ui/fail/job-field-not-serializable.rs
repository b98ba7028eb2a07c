use rakit_job::prelude::*;

pub struct Mailer {
    pub host: String,
}

#[job]
pub struct SendEmail {
    pub to: String,
    pub mailer: Mailer,
}

impl Jobable for SendEmail {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

fn main() {}
