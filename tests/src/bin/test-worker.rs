//! The CLI of a program that links the jobs of `rakit-test-jobs`: what the multi-process
//! tests start as worker processes (configured through `RAKIT_JOB_*` variables).

use rakit_test_jobs as _;

fn main() -> std::process::ExitCode {
    rakit_job::cli::main()
}
