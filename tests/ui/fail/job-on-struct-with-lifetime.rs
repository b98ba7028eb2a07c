use rakit_job::prelude::*;

#[job]
pub struct Borrowed<'a> {
    pub to: &'a str,
}

fn main() {}
