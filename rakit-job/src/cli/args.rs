//! Parsing `command --key=value --flag NAME ...` into [`Args`].

use crate::error::Error;
use std::collections::BTreeMap;

/// A parsed command line: the command, its positional words and its options.
///
/// ```
/// let args = rakit_job::cli::Args::parse(vec!["job:runall".into(), "--queue=high,low".into(), "--stop-when-empty".into()]).unwrap();
/// assert_eq!(args.command, "job:runall");
/// assert_eq!(args.list("queue").unwrap(), ["high", "low"]);
/// assert!(args.flag("stop-when-empty"));
/// ```
#[derive(Debug, Default)]
pub struct Args {
    /// The command, e.g. `job:runall`.
    pub command: String,
    /// Words after the command that are not options.
    pub positional: Vec<String>,
    options: BTreeMap<String, Option<String>>,
}

impl Args {
    /// Splits the words; `--key value` and `--key=value` are both accepted.
    pub fn parse(argv: Vec<String>) -> Result<Args, Error> {
        let mut args = Args::default();
        let mut words = argv.into_iter().peekable();
        while let Some(word) = words.next() {
            if let Some(option) = word.strip_prefix("--") {
                let (key, value) = match option.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None if takes_value(option) => {
                        let value = words.next().ok_or_else(|| {
                            Error::Usage(format!(
                                "`--{option}` needs a value, e.g. `--{option}=...`"
                            ))
                        })?;
                        (option.to_string(), Some(value))
                    }
                    None => (option.to_string(), None),
                };
                if args.options.insert(key.clone(), value).is_some() {
                    return Err(Error::Usage(format!("`--{key}` is given twice; keep one")));
                }
            } else if word == "-h" {
                args.options.insert("help".into(), None);
            } else if args.command.is_empty() {
                args.command = word;
            } else {
                args.positional.push(word);
            }
        }
        Ok(args)
    }

    /// True when `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }

    /// The text of `--name=value`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(|v| v.as_deref())
    }

    /// `--name=N` as a whole number.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Usage(format!("`--{name}` takes a whole number, not {v:?}"))),
        }
    }

    /// `--name=a,b,c` as a list.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.value(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// Refuses options outside `allowed` (plus `help`), suggesting the closest one.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        for key in self.options.keys() {
            if key == "help" || allowed.contains(&key.as_str()) {
                continue;
            }
            let hint = allowed
                .iter()
                .min_by_key(|a| crate::config::distance(a, key))
                .filter(|a| crate::config::distance(a, key) <= 3)
                .map(|a| format!("did you mean `--{a}`? "))
                .unwrap_or_default();
            return Err(Error::Usage(format!(
                "`{}` has no option `--{key}`; {hint}see `{} --help`",
                self.command, self.command
            )));
        }
        Ok(())
    }
}

/// Options that take a value even when written `--key value`.
fn takes_value(option: &str) -> bool {
    matches!(
        option,
        "queue"
            | "retries"
            | "sleep"
            | "max-jobs"
            | "concurrency"
            | "prefetch"
            | "grace"
            | "limit"
            | "path"
            | "numprocs"
            | "user"
            | "command"
            | "log-dir"
            | "workdir"
            | "output"
    )
}
