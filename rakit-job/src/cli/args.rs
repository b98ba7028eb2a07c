//! The commands and their options, declared once for clap: parsing, `--help`, typo
//! suggestions and shell completions all come from here. Doc comments are the help text.

use super::values::{self, Age, ProcessCounts, QueueList, RetryTarget};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rakit_job_core::{JobId, State};
use std::path::PathBuf;

/// Background jobs: run workers, see and steer the jobs, set up the store.
#[derive(Parser, Debug)]
#[command(
    name = "rakit",
    after_help = "Settings come from config/job.toml and RAKIT_JOB_* variables (docs/configuration.md).\nEvery command takes --help; options are written --key=value or --key value."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Every command, grouped by what it needs from the store.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Needs the store, not its tables.
    #[command(flatten)]
    Setup(Setup),
    /// Needs the store, set up.
    #[command(flatten)]
    OnStore(OnStore),
    /// Needs no store.
    #[command(flatten)]
    Offline(Offline),
}

/// Setting up an SQL store's tables.
#[derive(Subcommand, Debug)]
pub(crate) enum Setup {
    /// Write the migration creating the jobs and failed-jobs tables for the configured SQL dialect
    #[command(name = "job:table")]
    Table(Migrations),
    /// Apply the pending migrations of the migrations folder, one step at a time
    #[command(name = "migrate")]
    Migrate(Migrations),
}

/// Where the migrations are.
#[derive(Args, Debug)]
pub(crate) struct Migrations {
    /// The migrations folder
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    pub(crate) path: PathBuf,
}

/// Running, seeing and steering jobs.
#[derive(Subcommand, Debug)]
pub(crate) enum OnStore {
    /// Run a worker until SIGINT/SIGTERM, --max-jobs, or (with --stop-when-empty) no ready job is left
    #[command(name = "job:runall")]
    RunAll(RunAll),
    /// Process the ready jobs of one or more names, then exit
    #[command(name = "job:run")]
    Run(RunNamed),
    /// Count ready, scheduled, reserved and failed jobs per queue, with the last hour's throughput
    #[command(name = "job:stats")]
    Stats(Json),
    /// List failed jobs, oldest first
    #[command(name = "job:failed")]
    Failed(FailedList),
    /// List jobs by state, queue and name, a page at a time (newest last)
    #[command(name = "job:jobs")]
    Jobs(JobsList),
    /// Show one job in any state: payload, attempts, error, due time, lease and worker
    #[command(name = "job:show")]
    Show(Show),
    /// Cancel pending, scheduled or running jobs
    #[command(name = "job:cancel")]
    Cancel(Ids),
    /// Hold queues for every worker on every host: no new job of them starts
    #[command(name = "job:pause")]
    Pause(Queues),
    /// Release paused queues
    #[command(name = "job:resume")]
    Resume(Queues),
    /// List the live worker processes
    #[command(name = "job:workers")]
    Workers(Json),
    /// List the batches with their progress, newest first
    #[command(name = "job:batches")]
    Batches(Json),
    /// Put failed (or cancelled) jobs back on their queues: by id, all, or one queue's
    #[command(name = "job:retry")]
    Retry(Retry),
    /// Delete one failed (or cancelled) job
    #[command(name = "job:forget")]
    Forget(Forget),
    /// Delete every failed (and cancelled) job
    #[command(name = "job:flush")]
    Flush,
    /// Delete the failed (and cancelled) jobs older than an age
    #[command(name = "job:prune-failed")]
    PruneFailed(Prune),
    /// Serve the web dashboard until SIGINT/SIGTERM (needs the `dashboard` feature)
    #[command(name = "job:dashboard")]
    Dashboard(Dashboard),
}

/// `job:dashboard`'s options.
#[derive(Args, Debug)]
pub(crate) struct Dashboard {
    /// The address to listen on; any but a loopback one needs RAKIT_JOB_DASHBOARD_TOKEN
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub(crate) listen: String,
    /// Hide and refuse every action
    #[arg(long)]
    pub(crate) read_only: bool,
}

/// How a worker runs, for `job:runall` and `job:run`.
#[derive(Args, Debug)]
pub(crate) struct WorkerOptions {
    /// Queues to serve, in strict priority order (default: every queue, high, default, low first)
    #[arg(long, value_name = "QUEUES", value_parser = values::queue_list)]
    pub(crate) queue: Option<QueueList>,
    /// Retries after a job's first run, for jobs that set none (default: the config's max_retries)
    #[arg(long, value_name = "N", value_parser = values::whole::<u32>)]
    pub(crate) retries: Option<u32>,
    /// Milliseconds an idle worker waits before looking again where the store cannot signal (default: the config's sleep_ms)
    #[arg(long, value_name = "MS", value_parser = values::at_least_one::<u64>)]
    pub(crate) sleep: Option<u64>,
    /// Jobs run at the same time
    #[arg(long, value_name = "N", value_parser = values::at_least_one::<usize>)]
    pub(crate) concurrency: Option<usize>,
    /// Fast jobs claimed ahead of free slots (default 512; 0 turns it off)
    #[arg(long, value_name = "N", value_parser = values::whole::<usize>)]
    pub(crate) prefetch: Option<usize>,
    /// Seconds running jobs may finish after SIGTERM before they are handed back (default 30)
    #[arg(long, value_name = "SECONDS", value_parser = values::whole::<u64>)]
    pub(crate) grace: Option<u64>,
}

/// `job:runall`'s options.
#[derive(Args, Debug)]
pub(crate) struct RunAll {
    #[command(flatten)]
    pub(crate) worker: WorkerOptions,
    /// Stop after taking N jobs so a supervisor restarts the process fresh; 0 = no limit (default: the config's max_job)
    #[arg(long, value_name = "N", value_parser = values::whole::<u64>)]
    pub(crate) max_jobs: Option<u64>,
    /// Stop as soon as no ready job is left
    #[arg(long)]
    pub(crate) stop_when_empty: bool,
}

/// `job:run`'s names and options.
#[derive(Args, Debug)]
pub(crate) struct RunNamed {
    /// Job names, as `job:list` shows them
    #[arg(value_name = "NAME", required = true)]
    pub(crate) names: Vec<String>,
    #[command(flatten)]
    pub(crate) worker: WorkerOptions,
}

/// A `--json` switch.
#[derive(Args, Debug)]
pub(crate) struct Json {
    /// Print JSON for scripts instead of a table
    #[arg(long)]
    pub(crate) json: bool,
}

/// `job:failed`'s options.
#[derive(Args, Debug)]
pub(crate) struct FailedList {
    /// At most this many jobs (1 to 1000)
    #[arg(long, value_name = "N", default_value = "50", value_parser = values::page_size)]
    pub(crate) limit: usize,
    #[command(flatten)]
    pub(crate) json: Json,
}

/// A job state, as the CLI names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StateName {
    /// Due and waiting for a worker
    Pending,
    /// Waiting for its time (delayed, or retrying later)
    Scheduled,
    /// Held by a worker
    Running,
    /// In the failed store after its last attempt failed
    Failed,
    /// In the failed store because it was cancelled
    Cancelled,
}

impl From<StateName> for State {
    fn from(name: StateName) -> State {
        match name {
            StateName::Pending => State::Pending,
            StateName::Scheduled => State::Scheduled,
            StateName::Running => State::Running,
            StateName::Failed => State::Failed,
            StateName::Cancelled => State::Cancelled,
        }
    }
}

/// `job:jobs`'s filters and page.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  job:jobs --state=failed --queue=high\n  job:jobs --name=send-email --limit=20 --json"
)]
pub(crate) struct JobsList {
    /// Only jobs in this state (default: every state, running first)
    #[arg(long, value_enum, value_name = "STATE")]
    pub(crate) state: Option<StateName>,
    /// Only jobs of this queue
    #[arg(long, value_name = "QUEUE", value_parser = values::queue)]
    pub(crate) queue: Option<String>,
    /// Only jobs of this name
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// At most this many jobs (1 to 1000)
    #[arg(long, value_name = "N", default_value = "50", value_parser = values::page_size)]
    pub(crate) limit: usize,
    /// The page after the one that printed this cursor
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
    #[command(flatten)]
    pub(crate) json: Json,
}

/// `job:show`'s id.
#[derive(Args, Debug)]
pub(crate) struct Show {
    /// The job's id
    #[arg(value_name = "ID", value_parser = values::job_id)]
    pub(crate) id: JobId,
    #[command(flatten)]
    pub(crate) json: Json,
}

/// Job ids, one or more.
#[derive(Args, Debug)]
pub(crate) struct Ids {
    /// Job ids
    #[arg(value_name = "ID", required = true, value_parser = values::job_id)]
    pub(crate) ids: Vec<JobId>,
}

/// Queue names, one or more.
#[derive(Args, Debug)]
pub(crate) struct Queues {
    /// Queue names
    #[arg(value_name = "QUEUE", required = true, value_parser = values::queue)]
    pub(crate) queues: Vec<String>,
}

/// `job:retry`'s targets.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  job:retry 0192f1a4-7c3e-7b2a-9d0e-1f2a3b4c5d6e\n  job:retry all\n  job:retry --queue=high"
)]
pub(crate) struct Retry {
    /// Ids of failed or cancelled jobs, or `all`
    #[arg(
        value_name = "ID",
        value_parser = values::retry_target,
        required_unless_present = "queue",
        conflicts_with = "queue"
    )]
    pub(crate) targets: Vec<RetryTarget>,
    /// Every failed or cancelled job of this queue
    #[arg(long, value_name = "QUEUE", value_parser = values::queue)]
    pub(crate) queue: Option<String>,
}

/// `job:forget`'s id.
#[derive(Args, Debug)]
pub(crate) struct Forget {
    /// The failed job's id
    #[arg(value_name = "ID", value_parser = values::job_id)]
    pub(crate) id: JobId,
}

/// `job:prune-failed`'s age.
#[derive(Args, Debug)]
pub(crate) struct Prune {
    /// Remove those that failed longer ago than this: 30m, 12h, 7d, 2w
    #[arg(long, value_name = "AGE", value_parser = values::age)]
    pub(crate) older_than: Age,
}

/// Commands that need no store.
#[derive(Subcommand, Debug)]
pub(crate) enum Offline {
    /// List the jobs linked into this program
    #[command(name = "job:list")]
    List,
    /// List the cron schedules linked into this program with their next three ticks
    #[command(name = "job:schedule")]
    Schedule(Json),
    /// Print a Supervisor program per queue
    #[command(name = "job:supervisor")]
    Supervisor(Deploy),
    /// Print (or write) a systemd template unit per queue
    #[command(name = "job:systemd")]
    Systemd(Systemd),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    #[command(after_help = "Example (bash): source <(my-app completions bash)")]
    Completions(Completions),
}

/// What the process manager runs, where, as whom, and how many of each.
#[derive(Args, Debug)]
pub(crate) struct Deploy {
    /// Worker processes per queue
    #[arg(
        long,
        value_name = "QUEUE=N,...",
        default_value = "high=2,default=4,low=1",
        value_parser = values::process_counts
    )]
    pub(crate) numprocs: ProcessCounts,
    /// The user the workers run as
    #[arg(long, value_name = "USER", default_value = "www-data")]
    pub(crate) user: String,
    /// The program to run (default: this program)
    #[arg(long, value_name = "PATH")]
    pub(crate) command: Option<String>,
    /// The working directory (default: the current one)
    #[arg(long, value_name = "DIR")]
    pub(crate) workdir: Option<String>,
    /// Where the logs go (Supervisor default: /var/log; systemd default: the journal)
    #[arg(long, value_name = "DIR")]
    pub(crate) log_dir: Option<String>,
    /// The workers' grace period in seconds (default 30); the stop wait is 30 s longer
    #[arg(long, value_name = "SECONDS", value_parser = values::whole::<u64>)]
    pub(crate) grace: Option<u64>,
}

/// `job:systemd`'s options: [`Deploy`]'s and a folder to write the units to.
#[derive(Args, Debug)]
pub(crate) struct Systemd {
    #[command(flatten)]
    pub(crate) deploy: Deploy,
    /// Write the units into this folder instead of printing them
    #[arg(long, value_name = "DIR")]
    pub(crate) output: Option<PathBuf>,
}

/// The shell to complete for.
#[derive(Args, Debug)]
pub(crate) struct Completions {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}
