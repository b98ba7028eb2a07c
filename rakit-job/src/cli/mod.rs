//! The `rakit` command line, run from the application's own binary so it sees its jobs:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     rakit_job::cli::main()
//! }
//! ```
//!
//! Then `my-app job:runall --queue=high,default`. Exit codes: 0 success, 1 runtime
//! failure, 2 usage error.

mod args;
mod commands;
mod deploy;
mod table;

use crate::error::Error;
pub use args::Args;
use std::process::ExitCode;

/// Runs the command named by the process arguments and returns its exit code.
pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    run_with(argv)
}

/// Runs one command from `argv` (without the program name); what [`main`] calls.
///
/// ```
/// let code = rakit_job::cli::run_with(vec!["--help".to_string()]);
/// assert_eq!(code, std::process::ExitCode::SUCCESS);
/// ```
pub fn run_with(argv: Vec<String>) -> ExitCode {
    init_logging();
    let args = match Args::parse(argv) {
        Ok(args) => args,
        Err(e) => return report(e),
    };
    if args.command.is_empty() || args.command == "help" || args.flag("help") {
        println!("{}", commands::help(&args.command));
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(Error::Io(format!("cannot start the async runtime: {e}"))),
    };
    match runtime.block_on(commands::dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

fn report(e: Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}

/// Sends rakit-job's log lines to standard error (once per process); `RUST_LOG` can
/// narrow or widen them. The CLI calls it; programs running a worker themselves may too.
///
/// The lines keep the guide's shape (`Job executed: send-email - #... (attempt 1)`):
/// rakit-job's `dispatch` and `run` spans are left to tracing backends rather than
/// prefixed to every line (see docs/observability.md).
///
/// ```
/// rakit_job::cli::init_logging();
/// ```
pub fn init_logging() {
    use tracing_subscriber::filter::filter_fn;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("rakit_job=info,warn"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter_fn(|meta| {
            !(meta.is_span() && meta.target() == "rakit_job")
        }));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .try_init();
}
