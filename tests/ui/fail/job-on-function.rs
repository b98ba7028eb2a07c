use rakit_job::prelude::*;

#[job]
pub fn send_email(to: String) {
    let _ = to;
}

fn main() {}
