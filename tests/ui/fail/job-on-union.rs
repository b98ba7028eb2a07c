use rakit_job::prelude::*;

#[job]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

fn main() {}
