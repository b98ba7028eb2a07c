use rakit_job::prelude::*;

#[job]
pub enum Notify {
    Email { to: String },
    Sms { phone: String },
}

fn main() {}
