//! The `rakit` command line, run from the application's own binary so it sees its jobs:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     rakit_job::cli::main()
//! }
//! ```
//!
//! Then `my-app job:runall --queue=high,default`, `my-app job:jobs --state=failed`, or
//! `my-app --help` for every command. Exit codes: 0 success, 1 runtime failure, 2 usage
//! error. docs/cli.md describes each command, the JSON it prints and shell completions.

mod args;
mod completions;
mod control;
mod deploy;
mod inspect;
mod schedule;
mod setup;
mod table;
#[cfg(test)]
mod tests;
mod usage;
mod values;
mod work;

use crate::config::Config;
use crate::error::Error;
use crate::queue::Queue;
use args::{Command, Offline, OnStore};
use std::io::Write;
use std::process::ExitCode;
use usage::Parsed;

/// Runs the command named by the process arguments and returns its exit code.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     rakit_job::cli::main()
/// }
/// ```
pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    run_with(argv)
}

/// Runs one command from `argv` (without the program name); what [`main`] calls.
///
/// ```
/// let code = rakit_job::cli::run_with(vec!["--help".to_string()]);
/// assert_eq!(code, std::process::ExitCode::SUCCESS);
/// let code = rakit_job::cli::run_with(vec!["job:rnuall".to_string()]);
/// assert_eq!(code, std::process::ExitCode::from(2));
/// ```
pub fn run_with(argv: Vec<String>) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return report(Failure::runtime(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(run_on(None, argv, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(failure),
    }
}

/// Runs one command from `argv`, writing what it prints to `out`: on `queue` when given
/// (tests), else on the store the configuration names, connected once the command line
/// is known to be right.
pub(crate) async fn run_on(
    queue: Option<&Queue>,
    argv: Vec<String>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let command = match usage::parse(argv)? {
        Parsed::Show(text) => {
            write!(out, "{text}")?;
            return Ok(());
        }
        Parsed::Run(command) => command,
    };
    match command {
        Command::Offline(command) => offline(command, out),
        Command::Setup(command) => {
            let queue = match queue {
                Some(queue) => queue.clone(),
                None => Queue::connect_unchecked(&Config::load()?).await?,
            };
            setup::run(&queue, command, out).await
        }
        Command::OnStore(command) => {
            if let OnStore::Run(named) = &command {
                work::refuse_unknown_names(&named.names)?;
            }
            let queue = match queue {
                Some(queue) => queue.clone(),
                None => connect().await?,
            };
            on_store(&queue, command, out).await
        }
    }
}

/// Connects to the configured store and makes it the one jobs dispatch to.
async fn connect() -> Result<Queue, Failure> {
    let queue = Queue::connect(&Config::load()?).await?;
    crate::install(queue.clone());
    Ok(queue)
}

fn offline(command: Offline, out: &mut dyn Write) -> Result<(), Failure> {
    match command {
        Offline::List => work::list(out),
        Offline::Schedule(options) => schedule::list(options.json, out),
        Offline::Supervisor(options) => deploy::supervisor(&options, out),
        Offline::Systemd(options) => deploy::systemd(&options, out),
        Offline::Completions(options) => completions::write(options.shell, out),
    }
}

async fn on_store(queue: &Queue, command: OnStore, out: &mut dyn Write) -> Result<(), Failure> {
    match command {
        OnStore::RunAll(options) => work::run_all(queue, options, out).await,
        OnStore::Run(options) => work::run_named(queue, options, out).await,
        OnStore::Stats(options) => inspect::stats(queue, options.json, out).await,
        OnStore::Failed(options) => inspect::failed(queue, &options, out).await,
        OnStore::Jobs(options) => inspect::jobs(queue, &options, out).await,
        OnStore::Show(options) => inspect::show(queue, &options, out).await,
        OnStore::Workers(options) => inspect::workers(queue, options.json, out).await,
        OnStore::Batches(options) => inspect::batches(queue, options.json, out).await,
        OnStore::Cancel(options) => control::cancel(queue, &options.ids, out).await,
        OnStore::Pause(options) => control::pause(queue, &options.queues, out).await,
        OnStore::Resume(options) => control::resume(queue, &options.queues, out).await,
        OnStore::Retry(options) => control::retry(queue, &options, out).await,
        OnStore::Forget(options) => control::forget(queue, &options.id, out).await,
        OnStore::Flush => control::flush(queue, out).await,
        OnStore::PruneFailed(options) => control::prune(queue, &options.older_than, out).await,
        OnStore::Dashboard(options) => dashboard(queue, options).await,
    }
}

/// Serves the dashboard on `queue` until a signal.
#[cfg(feature = "dashboard")]
async fn dashboard(queue: &Queue, options: args::Dashboard) -> Result<(), Failure> {
    let options = crate::dashboard::ServeOptions {
        listen: options.listen,
        read_only: options.read_only,
        token: None,
    };
    Ok(crate::dashboard::serve(queue.clone(), options).await?)
}

/// Without the feature, says how to get it.
#[cfg(not(feature = "dashboard"))]
async fn dashboard(_queue: &Queue, _options: args::Dashboard) -> Result<(), Failure> {
    Err(Failure::runtime(
        "this program is built without the dashboard; enable the `dashboard` feature of rakit-job",
    ))
}

/// This program's file name, as usage lines and completion scripts name it.
/// Reads a command line without running it: the exit code it would end with if it is
/// refused (2 for a usage mistake), or `None` when it would run. For fuzzing and tools.
///
/// ```
/// assert_eq!(rakit_job::cli::refusal(vec!["job:runall".into(), "--queues=x".into()]), Some(2));
/// assert_eq!(rakit_job::cli::refusal(vec!["job:list".into()]), None);
/// ```
pub fn refusal(argv: Vec<String>) -> Option<u8> {
    match usage::parse(argv) {
        Ok(_) => None,
        Err(failure) => Some(failure.code),
    }
}

pub(crate) fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rakit".into())
}

/// Why a command stopped: one sentence, and the exit code that goes with it.
#[derive(Debug)]
pub(crate) struct Failure {
    /// 2 for a usage mistake, 1 for anything else.
    pub(crate) code: u8,
    /// What is wrong and what to do; empty when there is nothing to say.
    pub(crate) message: String,
}

impl Failure {
    /// A mistake on the command line (exit code 2).
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// A failure at run time (exit code 1).
    pub(crate) fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl From<rakit_job_core::DriverError> for Failure {
    fn from(e: rakit_job_core::DriverError) -> Failure {
        Error::from(e).into()
    }
}

/// Writing the output failed. A closed pipe (`my-app job:jobs | head`) means the reader
/// has what it wanted, so it ends the command quietly and successfully.
impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure {
                code: 0,
                message: String::new(),
            };
        }
        Failure::runtime(format!("cannot write the output: {e}"))
    }
}

/// Prints the failure's sentence on standard error and gives its exit code.
fn report(failure: Failure) -> ExitCode {
    if !failure.message.is_empty() {
        eprintln!("error: {}", failure.message);
    }
    ExitCode::from(failure.code)
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
