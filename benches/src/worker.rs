//! `rakit-job-bench-worker`: the worker `rakit-job-benches` starts. It links rakit-job, its
//! stores and the benchmark's job and nothing else, as an application's worker binary would,
//! so its memory figures are a worker's, not the harness's.

use rakit_job_benches::rakit::Rakit;

fn main() -> std::process::ExitCode {
    rakit_job_benches::worker_main_with(&[&Rakit])
}
