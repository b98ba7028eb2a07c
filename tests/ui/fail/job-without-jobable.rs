use rakit_job::prelude::*;

#[job]
pub struct SendEmail {
    pub to: String,
}

fn main() {}
