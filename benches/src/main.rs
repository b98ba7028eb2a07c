//! `rakit-job-benches`: rakit-job's throughput and latency on every store.
//! Run `rakit-job-benches --help`, or `scripts/bench.sh` for the whole procedure.

use rakit_job_benches::rakit::Rakit;

fn main() -> std::process::ExitCode {
    rakit_job_benches::process::run_workers_as("rakit-job-bench-worker");
    rakit_job_benches::main_with(&[&Rakit])
}
