//! The CLI of a program that links the jobs of `rakit-test-jobs`: what the multi-process
//! tests start as worker processes (configured through `RAKIT_JOB_*` variables).
//!
//! `test-worker cron-worker LOG` runs a worker (configured like `job:runall`) that also
//! dispatches a `record-tick` job logging to LOG every second, until SIGTERM.
//!
//! `test-worker legacy-run-then-wait NAME` plays an application that runs a job through
//! the legacy `Job::run`, says `ready`, and then goes on with other work (it sleeps): the
//! process must still end on SIGTERM, since a library call never takes over signals.

use rakit_test_jobs as _;
use std::io::Write;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, name] = args.as_slice()
        && mode == "legacy-run-then-wait"
    {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let report = runtime.block_on(rakit_job::Job::run(name));
        println!("ready after {:?}", report.map(|r| r.processed()));
        std::io::stdout().flush().expect("stdout");
        std::thread::sleep(std::time::Duration::from_secs(120));
        return std::process::ExitCode::from(3);
    }
    if let [mode, log] = args.as_slice()
        && mode == "cron-worker"
    {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let ran = runtime.block_on(async {
            let queue = rakit_job::init().await?;
            let tick = rakit_test_jobs::RecordTick { log: log.clone() };
            rakit_job::Worker::new(&queue)
                .concurrency(4)
                .schedule("* * * * * *", tick)
                .shutdown_on(rakit_job::shutdown_signal())
                .run()
                .await
        });
        return match ran {
            Ok(_) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    rakit_job::cli::main()
}
