//! `job:supervisor` and `job:systemd`: process-manager configuration that keeps one or more
//! workers per queue running, restarts them after `max_job` jobs or a crash, and stops them
//! gracefully (SIGTERM, then a wait longer than the worker's grace period).

use super::args::Args;
use crate::error::Error;
use std::path::Path;

/// The options `job:supervisor` takes; `job:systemd` also takes `--output`.
const OPTIONS: &[&str] = &["numprocs", "user", "command", "log-dir", "workdir", "grace"];

/// The worker's grace period when `--grace` is not given, as in `Worker::grace`.
const DEFAULT_GRACE_SECS: u64 = 30;

/// How much longer than the grace period the process manager waits before SIGKILL.
const STOP_MARGIN_SECS: u64 = 30;

/// What to run, where, as whom, and how many of each.
struct Plan {
    /// (queue, process count), in the order given.
    programs: Vec<(String, u32)>,
    user: String,
    command: String,
    workdir: String,
    log_dir: Option<String>,
    grace: Option<u64>,
}

impl Plan {
    fn from_args(args: &Args, allowed: &[&str]) -> Result<Plan, Error> {
        args.only(allowed)?;
        if let Some(extra) = args.positional.first() {
            return Err(Error::Usage(format!(
                "`{}` takes no words (got {extra:?}); choose the queues with `--numprocs=high=2,default=4`",
                args.command
            )));
        }
        let spec = args.value("numprocs").unwrap_or("high=2,default=4,low=1");
        let mut programs: Vec<(String, u32)> = Vec::new();
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (queue, n) = part.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "`--numprocs` takes queue=count pairs like `high=2,default=4`, not {part:?}"
                ))
            })?;
            let queue = queue.trim();
            rakit_job_core::validate_queue(queue).map_err(|e| Error::Usage(e.to_string()))?;
            let n: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::Usage(format!(
                    "the process count for `{queue}` must be a whole number above 0, not {n:?}"
                ))
            })?;
            if programs.iter().any(|(q, _)| q == queue) {
                return Err(Error::Usage(format!(
                    "`--numprocs` names the queue `{queue}` twice; keep one"
                )));
            }
            programs.push((queue.to_string(), n));
        }
        if programs.is_empty() {
            return Err(Error::Usage(
                "`--numprocs` needs at least one queue=count pair, e.g. `high=2`".into(),
            ));
        }
        let grace = args.number::<u64>("grace")?;
        let command = match args.value("command") {
            Some(c) => c.to_string(),
            None => std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/var/www/myapp/rakit".into()),
        };
        let workdir = match args.value("workdir") {
            Some(dir) => dir.to_string(),
            None => std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/var/www/myapp".into()),
        };
        Ok(Plan {
            programs,
            user: args.value("user").unwrap_or("www-data").to_string(),
            command,
            workdir,
            log_dir: args
                .value("log-dir")
                .map(|d| d.trim_end_matches('/').to_string()),
            grace,
        })
    }

    /// The worker's command line for one queue; `low` gets `--retries=2`, as in the guide.
    fn worker_command(&self, queue: &str) -> String {
        let retries = if queue == "low" { 2 } else { 3 };
        let grace = self
            .grace
            .map(|g| format!(" --grace={g}"))
            .unwrap_or_default();
        format!(
            "{} job:runall --queue={queue} --retries={retries}{grace}",
            self.command
        )
    }

    /// Seconds the process manager waits after SIGTERM before it kills the worker.
    fn stop_wait_secs(&self) -> u64 {
        self.grace.unwrap_or(DEFAULT_GRACE_SECS) + STOP_MARGIN_SECS
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `job:supervisor`: one Supervisor program per queue, as in the guide.
pub(crate) fn supervisor(args: &Args) -> Result<(), Error> {
    let plan = Plan::from_args(args, OPTIONS)?;
    let log_dir = plan.log_dir.as_deref().unwrap_or("/var/log");
    let mut out = Vec::new();
    for (queue, n) in &plan.programs {
        out.push(format!(
            "; {queue} queue ({n} worker{s})\n\
             [program:rakit-{queue}]\n\
             process_name=%(program_name)s_%(process_num)02d\n\
             command={command}\n\
             directory={workdir}\n\
             autostart=true\n\
             autorestart=true\n\
             user={user}\n\
             numprocs={n}\n\
             redirect_stderr=true\n\
             stdout_logfile={log_dir}/rakit-{queue}.log\n\
             stopsignal=TERM\n\
             stopwaitsecs={wait}\n",
            s = plural(*n),
            command = plan.worker_command(queue),
            workdir = plan.workdir,
            user = plan.user,
            wait = plan.stop_wait_secs(),
        ));
    }
    println!("{}", out.join("\n"));
    Ok(())
}

/// The name of the template unit for one queue.
fn unit_name(queue: &str) -> String {
    format!("rakit-{queue}@.service")
}

/// The text of the template unit for one queue.
fn unit(plan: &Plan, queue: &str, n: u32) -> String {
    let logs = match &plan.log_dir {
        Some(dir) => format!(
            "StandardOutput=append:{dir}/rakit-{queue}.log\nStandardError=append:{dir}/rakit-{queue}.log\n"
        ),
        None => String::new(),
    };
    format!(
        "# {queue} queue ({n} worker{s}): /etc/systemd/system/{name}\n\
         [Unit]\n\
         Description=rakit-job worker %i on the {queue} queue\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         User={user}\n\
         WorkingDirectory={workdir}\n\
         ExecStart={command}\n\
         Restart=always\n\
         RestartSec=1\n\
         KillSignal=SIGTERM\n\
         KillMode=mixed\n\
         TimeoutStopSec={wait}\n\
         SyslogIdentifier=rakit-{queue}\n\
         {logs}\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        s = plural(n),
        name = unit_name(queue),
        user = plan.user,
        workdir = plan.workdir,
        command = plan.worker_command(queue),
        wait = plan.stop_wait_secs(),
    )
}

/// The instances to enable: `rakit-high@{1..2}.service`, or `rakit-low@1.service` for one.
fn instances(queue: &str, n: u32) -> String {
    if n == 1 {
        format!("rakit-{queue}@1.service")
    } else {
        format!("rakit-{queue}@{{1..{n}}}.service")
    }
}

/// `job:systemd`: a template unit per queue, equivalent to `job:supervisor`'s programs.
pub(crate) fn systemd(args: &Args) -> Result<(), Error> {
    let allowed: Vec<&str> = OPTIONS.iter().copied().chain(["output"]).collect();
    let plan = Plan::from_args(args, &allowed)?;
    let output = args.value("output");
    let enable: Vec<String> = plan
        .programs
        .iter()
        .map(|(q, n)| instances(q, *n))
        .collect();
    let steps = format!(
        "# then:\n#   sudo systemctl daemon-reload\n#   sudo systemctl enable --now {}\n#   systemctl status 'rakit-*'",
        enable.join(" ")
    );
    match output {
        None => {
            let units: Vec<String> = plan
                .programs
                .iter()
                .map(|(q, n)| unit(&plan, q, *n))
                .collect();
            println!(
                "{}\n# Save each unit above under /etc/systemd/system/ (or use --output=DIR),\n{steps}",
                units.join("\n")
            );
        }
        Some(dir) => {
            let dir = Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| super::commands::io(dir, e))?;
            for (queue, n) in &plan.programs {
                let path = dir.join(unit_name(queue));
                std::fs::write(&path, unit(&plan, queue, *n))
                    .map_err(|e| super::commands::io(&path, e))?;
                println!("Unit written: {}", path.display());
            }
            println!("{steps}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(argv: &[&str]) -> Result<Plan, Error> {
        let mut words = vec!["job:systemd".to_string()];
        words.extend(argv.iter().map(|w| w.to_string()));
        Plan::from_args(&Args::parse(words)?, &[OPTIONS, &["output"]].concat())
    }

    #[test]
    fn the_stop_wait_outlasts_the_grace_period() {
        let default = plan(&["--command=/srv/app"]).unwrap();
        assert_eq!(default.stop_wait_secs(), 60);
        assert_eq!(
            default.worker_command("high"),
            "/srv/app job:runall --queue=high --retries=3"
        );
        let long = plan(&["--command=/srv/app", "--grace=120"]).unwrap();
        assert_eq!(long.stop_wait_secs(), 150);
        assert_eq!(
            long.worker_command("low"),
            "/srv/app job:runall --queue=low --retries=2 --grace=120"
        );
    }

    #[test]
    fn numprocs_mistakes_are_refused() {
        for (argv, expected) in [
            ("--numprocs=", "needs at least one queue=count pair"),
            ("--numprocs=high=2,high=3", "names the queue `high` twice"),
            ("--numprocs=high=0", "must be a whole number above 0"),
            ("--grace=soon", "`--grace` takes a whole number"),
        ] {
            let err = plan(&[argv]).err().expect(argv).to_string();
            assert!(err.contains(expected), "{argv}: {err}");
        }
    }

    #[test]
    fn one_instance_is_not_a_brace_range() {
        assert_eq!(instances("low", 1), "rakit-low@1.service");
        assert_eq!(instances("high", 2), "rakit-high@{1..2}.service");
    }
}
