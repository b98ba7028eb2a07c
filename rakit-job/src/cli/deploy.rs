//! `job:supervisor` and `job:systemd`: process-manager configuration that keeps one or more
//! workers per queue running, restarts them after `max_job` jobs or a crash, and stops them
//! gracefully (SIGTERM, then a wait longer than the worker's grace period).

use super::Failure;
use super::args::{Deploy, Systemd};
use super::setup::unusable;
use std::io::Write;

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
    fn new(options: &Deploy) -> Plan {
        let command = options.command.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/var/www/myapp/rakit".into())
        });
        let workdir = options.workdir.clone().unwrap_or_else(|| {
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/var/www/myapp".into())
        });
        Plan {
            programs: options.numprocs.0.clone(),
            user: options.user.clone(),
            command,
            workdir,
            log_dir: options
                .log_dir
                .as_ref()
                .map(|d| d.trim_end_matches('/').to_string()),
            grace: options.grace,
        }
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
pub(crate) fn supervisor(options: &Deploy, out: &mut dyn Write) -> Result<(), Failure> {
    let plan = Plan::new(options);
    let log_dir = plan.log_dir.as_deref().unwrap_or("/var/log");
    let mut programs = Vec::new();
    for (queue, n) in &plan.programs {
        programs.push(format!(
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
    writeln!(out, "{}", programs.join("\n"))?;
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
pub(crate) fn systemd(options: &Systemd, out: &mut dyn Write) -> Result<(), Failure> {
    let plan = Plan::new(&options.deploy);
    let enable: Vec<String> = plan
        .programs
        .iter()
        .map(|(q, n)| instances(q, *n))
        .collect();
    let steps = format!(
        "# then:\n#   sudo systemctl daemon-reload\n#   sudo systemctl enable --now {}\n#   systemctl status 'rakit-*'",
        enable.join(" ")
    );
    match &options.output {
        None => {
            let units: Vec<String> = plan
                .programs
                .iter()
                .map(|(q, n)| unit(&plan, q, *n))
                .collect();
            writeln!(
                out,
                "{}\n# Save each unit above under /etc/systemd/system/ (or use --output=DIR),\n{steps}",
                units.join("\n")
            )?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| unusable(dir, e))?;
            for (queue, n) in &plan.programs {
                let path = dir.join(unit_name(queue));
                std::fs::write(&path, unit(&plan, queue, *n)).map_err(|e| unusable(&path, e))?;
                writeln!(out, "Unit written: {}", path.display())?;
            }
            writeln!(out, "{steps}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Command, Offline};
    use crate::cli::usage::{Parsed, parse};

    fn plan(argv: &[&str]) -> Plan {
        let mut words = vec!["job:systemd".to_string()];
        words.extend(argv.iter().map(|w| w.to_string()));
        match parse(words) {
            Ok(Parsed::Run(Command::Offline(Offline::Systemd(options)))) => {
                Plan::new(&options.deploy)
            }
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    #[test]
    fn the_stop_wait_outlasts_the_grace_period() {
        let default = plan(&["--command=/srv/app"]);
        assert_eq!(default.stop_wait_secs(), 60);
        assert_eq!(
            default.worker_command("high"),
            "/srv/app job:runall --queue=high --retries=3"
        );
        let long = plan(&["--command=/srv/app", "--grace=120"]);
        assert_eq!(long.stop_wait_secs(), 150);
        assert_eq!(
            long.worker_command("low"),
            "/srv/app job:runall --queue=low --retries=2 --grace=120"
        );
    }

    #[test]
    fn the_default_plan_runs_three_queues_as_www_data() {
        let default = plan(&[]);
        assert_eq!(
            default.programs,
            [
                ("high".to_string(), 2),
                ("default".to_string(), 4),
                ("low".to_string(), 1)
            ]
        );
        assert_eq!(default.user, "www-data");
        assert_eq!(
            plan(&["--log-dir=/var/log/app/"]).log_dir.as_deref(),
            Some("/var/log/app")
        );
    }

    #[test]
    fn one_instance_is_not_a_brace_range() {
        assert_eq!(instances("low", 1), "rakit-low@1.service");
        assert_eq!(instances("high", 2), "rakit-high@{1..2}.service");
    }
}
