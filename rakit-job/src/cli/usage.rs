//! Reading the command line with clap, and saying clap's refusals as one sentence each
//! (`` `job:runall` has no option `--queues`; did you mean `--queue`? ``) instead of its
//! multi-line report, so every usage error looks like every other error of the CLI.

use super::Failure;
use super::args::{Cli, Command};
use super::values::Refusal;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Run this command.
    Run(Command),
    /// Print this text (`--help`, or no command at all) and stop.
    Show(String),
}

/// Parses `argv` (without the program name).
pub(crate) fn parse(argv: Vec<String>) -> Result<Parsed, Failure> {
    let program = super::program_name();
    let mut clap_command = Cli::command().bin_name(&program);
    let words = std::iter::once(program).chain(argv.iter().cloned());
    let matches = clap_command
        .try_get_matches_from_mut(words)
        .and_then(|m| Cli::from_arg_matches(&m));
    match matches {
        Ok(Cli {
            command: Some(command),
        }) => Ok(Parsed::Run(command)),
        Ok(Cli { command: None }) => Ok(Parsed::Show(clap_command.render_help().to_string())),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                Ok(Parsed::Show(e.to_string()))
            }
            _ => Err(Failure::usage(sentence(&e, command_in(&argv).as_deref()))),
        },
    }
}

/// The command named in `argv`, if any: the first word that is one.
fn command_in(argv: &[String]) -> Option<String> {
    let known = Cli::command();
    argv.iter()
        .find(|word| known.find_subcommand(word.as_str()).is_some())
        .cloned()
}

/// One context value of `e` as text; of a list, the last (clap puts its best suggestion last).
fn context(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(text) => Some(text.clone()),
        ContextValue::Strings(texts) => texts.last().cloned(),
        ContextValue::StyledStr(text) => Some(text.to_string()),
        _ => None,
    }
}

/// Every accepted value of an `InvalidValue` error.
fn valid_values(e: &clap::Error) -> Vec<String> {
    match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) => values.clone(),
        _ => Vec::new(),
    }
}

/// `--retries` of `--retries <N>`, `--queue` of `--queue=x`, `ID` of `[ID]...`.
fn bare(arg: &str) -> String {
    let name = arg.split([' ', '=']).next().unwrap_or(arg);
    name.trim_matches(|c| matches!(c, '<' | '>' | '[' | ']' | '.'))
        .to_string()
}

/// An argument as the sentence names it: `` `--queue` `` or "a job id".
fn named(arg: &str) -> String {
    let name = bare(arg);
    match name.as_str() {
        "NAME" => "a job name".into(),
        "ID" => "a job id".into(),
        "QUEUE" => "a queue name".into(),
        "SHELL" => "a shell (bash, zsh, fish, elvish or powershell)".into(),
        option if option.starts_with('-') => format!("`{arg}`"),
        other => format!("a {}", other.to_lowercase()),
    }
}

/// `a, b or c`.
fn one_of(values: &[String]) -> String {
    match values {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Clap's refusal `e` of a command line naming `command` as one sentence.
fn sentence(e: &clap::Error, command: Option<&str>) -> String {
    let arg = context(e, ContextKind::InvalidArg).unwrap_or_default();
    let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
    let option = bare(&arg);
    let (subject, help) = match command {
        Some(c) => (format!("`{c}`"), format!("see `{c} --help`")),
        None => (
            "the program".into(),
            "run with --help to list the commands".into(),
        ),
    };
    match e.kind() {
        ErrorKind::InvalidSubcommand => format!(
            "unknown command `{}`; {}run with --help to list the commands",
            context(e, ContextKind::InvalidSubcommand).unwrap_or_default(),
            did_you_mean(e, ContextKind::SuggestedSubcommand)
        ),
        ErrorKind::UnknownArgument if arg.starts_with('-') => format!(
            "{subject} has no option `{option}`; {}{help}",
            did_you_mean(e, ContextKind::SuggestedArg)
        ),
        ErrorKind::UnknownArgument if command == Some("job:runall") => format!(
            "`job:runall` takes no names (got {arg:?}); use `job:run {arg}` to run the jobs of one name"
        ),
        ErrorKind::UnknownArgument => format!("{subject} does not take {arg:?}; {help}"),
        ErrorKind::ValueValidation => refused_value(e, &option, &value),
        ErrorKind::InvalidValue if valid_values(e).is_empty() => {
            format!("`{option}` needs a value, e.g. `{option}=...`; {help}")
        }
        ErrorKind::InvalidValue => {
            let what = match arg.starts_with('-') {
                true => format!("`{option}`"),
                false => subject,
            };
            let hint = context(e, ContextKind::SuggestedValue)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!(
                "{what} takes {}, not {value:?}{hint}",
                one_of(&valid_values(e))
            )
        }
        ErrorKind::TooManyValues if arg.starts_with('-') => {
            format!("`{option}` takes no value; give it alone")
        }
        ErrorKind::MissingRequiredArgument => format!("{subject} needs {}; {help}", named(&arg)),
        ErrorKind::ArgumentConflict => {
            let prior = context(e, ContextKind::PriorArg).unwrap_or_default();
            if bare(&prior) == option {
                format!("`{option}` is given twice; keep one")
            } else {
                format!(
                    "{subject} takes {} or {}, not both",
                    either(&prior),
                    either(&arg)
                )
            }
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("");
            format!("{}; {help}", first.strip_prefix("error: ").unwrap_or(first))
        }
    }
}

/// `did you mean `x`? ` when clap has a suggestion of `kind`, else nothing.
fn did_you_mean(e: &clap::Error, kind: ContextKind) -> String {
    context(e, kind)
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default()
}

/// A value one of our parsers refused, said as the [`Refusal`] puts it.
fn refused_value(e: &clap::Error, option: &str, value: &str) -> String {
    let source = std::error::Error::source(e);
    match source.and_then(|s| s.downcast_ref::<Refusal>()) {
        Some(Refusal::Sentence(text)) => text.clone(),
        Some(Refusal::OfOption(text)) => format!("`{option}` {text}"),
        None => {
            let why = source.map(|s| s.to_string()).unwrap_or_default();
            format!("`{option}` cannot be {value:?}: {why}")
        }
    }
}

/// One side of a conflict: `` `--queue` `` or "a job id".
fn either(arg: &str) -> String {
    match arg.starts_with('-') {
        true => format!("`{}`", bare(arg)),
        false => named(arg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::{Offline, OnStore, Setup, StateName};
    use rakit_job_core::State;
    use std::time::Duration;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn command(line: &str) -> Command {
        match parse(words(line)) {
            Ok(Parsed::Run(command)) => command,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn on_store(line: &str) -> OnStore {
        match command(line) {
            Command::OnStore(c) => c,
            other => panic!("{line}: {other:?}"),
        }
    }

    /// The one-sentence usage error of `line`.
    fn refused(line: &str) -> String {
        match parse(words(line)) {
            Err(failure) => {
                assert_eq!(failure.code, 2, "{line}: {failure:?}");
                assert_eq!(failure.message.lines().count(), 1, "{line}: {failure:?}");
                failure.message
            }
            Ok(parsed) => panic!("{line} was accepted: {parsed:?}"),
        }
    }

    #[test]
    fn options_take_their_value_after_an_equals_sign_or_a_space() {
        for line in [
            "job:runall --queue=high,default --retries=2 --sleep=50 --max-jobs=10 --concurrency=4 --prefetch=0 --grace=5 --stop-when-empty",
            "job:runall --queue high,default --retries 2 --sleep 50 --max-jobs 10 --concurrency 4 --prefetch 0 --grace 5 --stop-when-empty",
        ] {
            let OnStore::RunAll(run) = on_store(line) else {
                panic!("{line}")
            };
            let w = &run.worker;
            assert_eq!(w.queue.as_ref().unwrap().0, ["high", "default"]);
            assert_eq!(
                (w.retries, w.sleep, w.concurrency, w.prefetch, w.grace),
                (Some(2), Some(50), Some(4), Some(0), Some(5))
            );
            assert_eq!(run.max_jobs, Some(10));
            assert!(run.stop_when_empty);
        }
    }

    #[test]
    fn each_command_reads_its_options() {
        let OnStore::Run(run) = on_store("job:run send-email import-row --concurrency=2") else {
            panic!()
        };
        assert_eq!(run.names, ["send-email", "import-row"]);
        assert_eq!(run.worker.concurrency, Some(2));

        let OnStore::Jobs(jobs) = on_store(
            "job:jobs --state failed --queue=high --name=send-email --limit=20 --after=c --json",
        ) else {
            panic!()
        };
        assert_eq!(jobs.state, Some(StateName::Failed));
        assert_eq!(State::from(StateName::Cancelled), State::Cancelled);
        assert_eq!(
            (
                jobs.queue.as_deref(),
                jobs.name.as_deref(),
                jobs.limit,
                jobs.after.as_deref()
            ),
            (Some("high"), Some("send-email"), 20, Some("c"))
        );
        assert!(jobs.json.json);
        let OnStore::Jobs(default) = on_store("job:jobs") else {
            panic!()
        };
        assert_eq!(
            (default.state, default.limit, default.json.json),
            (None, 50, false)
        );

        let OnStore::Failed(failed) = on_store("job:failed --limit 5") else {
            panic!()
        };
        assert_eq!(failed.limit, 5);
        let OnStore::PruneFailed(prune) = on_store("job:prune-failed --older-than 12h") else {
            panic!()
        };
        assert_eq!(prune.older_than.duration, Duration::from_secs(43_200));
        let OnStore::Pause(pause) = on_store("job:pause low default") else {
            panic!()
        };
        assert_eq!(pause.queues, ["low", "default"]);
        let OnStore::Retry(retry) = on_store("job:retry --queue=high") else {
            panic!()
        };
        assert_eq!(
            (retry.queue.as_deref(), retry.targets.len()),
            (Some("high"), 0)
        );
        assert!(matches!(on_store("job:flush"), OnStore::Flush));
        assert!(matches!(on_store("job:workers --json"), OnStore::Workers(w) if w.json));
        assert!(matches!(on_store("job:batches --json"), OnStore::Batches(b) if b.json));

        let Command::Setup(Setup::Table(table)) = command("job:table --path db/migrations") else {
            panic!()
        };
        assert_eq!(table.path, std::path::Path::new("db/migrations"));
        let Command::Offline(Offline::Systemd(systemd)) =
            command("job:systemd --numprocs=high=1 --output /tmp/units --grace=10")
        else {
            panic!()
        };
        assert_eq!(systemd.deploy.numprocs.0, [("high".to_string(), 1)]);
        assert_eq!(systemd.deploy.grace, Some(10));
        assert!(matches!(
            command("completions zsh"),
            Command::Offline(Offline::Completions(_))
        ));
    }

    #[test]
    fn help_is_shown_not_refused() {
        for line in ["", "--help", "-h", "job:runall --help", "help job:jobs"] {
            match parse(words(line)) {
                Ok(Parsed::Show(text)) => assert!(text.contains("Usage"), "{line}: {text}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        let Ok(Parsed::Show(all)) = parse(words("--help")) else {
            panic!()
        };
        for name in [
            "job:table",
            "migrate",
            "job:jobs",
            "job:prune-failed",
            "completions",
        ] {
            assert!(all.contains(name), "help lacks {name}:\n{all}");
        }
        let Ok(Parsed::Show(runall)) = parse(words("job:runall --help")) else {
            panic!()
        };
        assert!(runall.contains("--stop-when-empty"), "{runall}");
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            refused("job:rnuall"),
            "unknown command `job:rnuall`; did you mean `job:runall`? run with --help to list the commands"
        );
        assert_eq!(
            refused("job:runall --queues=high"),
            "`job:runall` has no option `--queues`; did you mean `--queue`? see `job:runall --help`"
        );
        assert!(refused("job:stats --jsn").contains("did you mean `--json`?"));
        assert!(refused("job:jobs --state=faild").contains("did you mean `failed`?"));
    }

    #[test]
    fn each_mistake_is_one_sentence_naming_the_option() {
        for (line, expected) in [
            (
                "job:runall --retries=many",
                "`--retries` takes a whole number, not \"many\"",
            ),
            (
                "job:runall --concurrency=0",
                "`--concurrency` must be at least 1",
            ),
            (
                "job:runall --queue=../etc",
                "the queue name \"../etc\" is invalid",
            ),
            (
                "job:runall --queue=",
                "`--queue` needs at least one queue name",
            ),
            ("job:runall send-email", "use `job:run send-email`"),
            (
                "job:runall --grace=1 --grace=2",
                "`--grace` is given twice; keep one",
            ),
            ("job:run", "`job:run` needs a job name"),
            ("job:retry", "`job:retry` needs a job id"),
            ("job:retry not-an-id", "\"not-an-id\" is not a job id"),
            ("job:show 42", "is not a job id"),
            ("job:cancel", "`job:cancel` needs a job id"),
            ("job:pause", "`job:pause` needs a queue name"),
            (
                "job:pause bad/name",
                "the queue name \"bad/name\" is invalid",
            ),
            (
                "job:prune-failed",
                "`job:prune-failed` needs `--older-than <AGE>`",
            ),
            (
                "job:prune-failed --older-than=7",
                "`--older-than` takes an age like 30m, 12h or 7d",
            ),
            (
                "job:jobs --state=done",
                "`--state` takes pending, scheduled, running, failed or cancelled, not \"done\"",
            ),
            (
                "job:jobs --limit=0",
                "`--limit` takes a whole number from 1 to 1000",
            ),
            (
                "job:supervisor --numprocs=high",
                "`--numprocs` takes queue=count pairs",
            ),
            (
                "job:supervisor --output=/tmp/x",
                "`job:supervisor` has no option `--output`",
            ),
            (
                "job:jobs --limit",
                "`--limit` needs a value, e.g. `--limit=...`",
            ),
            (
                "job:runall --stop-when-empty=yes",
                "`--stop-when-empty` takes no value",
            ),
            (
                "completions tcsh",
                "`completions` takes bash, elvish, fish, powershell or zsh",
            ),
            ("--verbose", "the program has no option `--verbose`"),
        ] {
            let message = refused(line);
            assert!(message.contains(expected), "{line}: {message}");
        }
        let both = refused(&format!(
            "job:retry {} --queue=high",
            rakit_job_core::JobId::generate()
        ));
        assert_eq!(both, "`job:retry` takes `--queue` or a job id, not both");
    }
}
