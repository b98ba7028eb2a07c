//! `rakit-job-peers`: the rakit-job benchmark's workloads run with rakit-job, apalis 1.0 and
//! riverqueue 0.5 alternately, on the stores each supports, in one run.
//!
//! ```text
//! rakit-job-peers run --stores sqlite,postgres,redis --jobs 20000 --runs 3 --out target/bench/peers.json
//! ```
//!
//! apalis runs on SQLite, PostgreSQL and Redis (apalis-sqlite, apalis-postgres,
//! apalis-redis); riverqueue on PostgreSQL and SQLite. Neither has a MariaDB, file or
//! memcached backend on crates.io, so those stores are rakit-job alone.

mod apalis_system;
mod river_system;

use rakit_job_benches::rakit::Rakit;

fn main() -> std::process::ExitCode {
    rakit_job_benches::main_with(&[&Rakit, &apalis_system::Apalis, &river_system::River])
}
