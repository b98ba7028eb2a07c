use rakit_job::prelude::*;

#[job]
pub struct Wrap<T> {
    pub value: T,
}

fn main() {}
