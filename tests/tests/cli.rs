//! The command line's contract: help, exit codes 0/1/2, one-sentence errors, and the
//! commands that need no store.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = rakit_job_tests::temp_dir("cli");
    let out = Command::new(env!("CARGO_BIN_EXE_test-worker"))
        .args(args)
        .current_dir(&dir)
        .env("RAKIT_JOB_CONFIG", dir.join("none.toml"))
        .envs(env.iter().copied())
        .output()
        .expect("cannot start test-worker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_command() {
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for command in [
        "job:table",
        "migrate",
        "job:runall",
        "job:run",
        "job:list",
        "job:stats",
        "job:failed",
        "job:retry",
        "job:forget",
        "job:flush",
        "job:supervisor",
    ] {
        assert!(out.contains(command), "help lacks {command}:\n{out}");
    }
    let (code, out, _) = run(&["job:runall", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("--stop-when-empty"), "{out}");
}

#[test]
fn usage_mistakes_exit_2_with_one_sentence() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["job:rnuall"],
            "unknown command `job:rnuall`; did you mean `job:runall`?",
        ),
        (
            &["job:runall", "--queues=high"],
            "has no option `--queues`; did you mean `--queue`?",
        ),
        (
            &["job:runall", "--retries=many"],
            "`--retries` takes a whole number",
        ),
        (
            &["job:runall", "--queue=../etc"],
            "the queue name \"../etc\" is invalid",
        ),
        (&["job:run"], "`job:run` needs a job name"),
        (&["job:retry"], "`job:retry` needs a job id"),
        (
            &["job:supervisor", "--numprocs=high"],
            "`--numprocs` takes queue=count pairs",
        ),
    ];
    for (args, expected) in cases {
        let (code, _, err) = run(args, &[]);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{args:?}: {err}"
        );
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn configuration_mistakes_exit_1_and_name_the_setting() {
    let (code, _, err) = run(&["job:stats"], &[("RAKIT_JOB_DRIVER", "rabbitmq")]);
    assert_eq!(code, 1);
    assert!(err.contains("the driver \"rabbitmq\" is unknown"), "{err}");
    let (code, _, err) = run(&["job:stats"], &[("RAKIT_JOB_TABLE", "jobs;drop table x")]);
    assert_eq!(code, 1);
    assert!(err.contains("`table`"), "{err}");
    let (code, _, err) = run(&["job:stats"], &[("RAKIT_JOB_LEASE_MS", "10")]);
    assert_eq!(code, 1);
    assert!(err.contains("`lease_ms` is 10"), "{err}");
}

#[test]
fn an_unreachable_server_is_one_sentence_without_the_password() {
    let (code, _, err) = run(
        &["job:stats"],
        &[
            ("RAKIT_JOB_DRIVER", "redis"),
            ("RAKIT_JOB_URL", "redis://:hunter2@127.0.0.1:1/"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("hunter2"), "the password was printed: {err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn the_supervisor_command_prints_a_program_per_queue() {
    let (code, out, err) = run(
        &[
            "job:supervisor",
            "--numprocs=high=2,default=4,low=1",
            "--command=/srv/app/rakit",
            "--user=deploy",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for expected in [
        "[program:rakit-high]",
        "command=/srv/app/rakit job:runall --queue=high --retries=3",
        "numprocs=4",
        "command=/srv/app/rakit job:runall --queue=low --retries=2",
        "user=deploy",
        "stdout_logfile=/var/log/rakit-default.log",
        "process_name=%(program_name)s_%(process_num)02d",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
