//! Command-line options: `--key value`, `--key=value` and bare `--flag`.

use crate::BenchError;

/// Parsed options and positional words.
#[derive(Debug, Default)]
pub struct Opts {
    pairs: Vec<(String, Option<String>)>,
    /// Words that are not options.
    pub positional: Vec<String>,
}

impl Opts {
    /// Parses `argv` (without the program name and subcommand).
    pub fn parse(argv: &[String]) -> Result<Opts, BenchError> {
        let mut opts = Opts::default();
        let mut i = 0;
        while i < argv.len() {
            let arg = &argv[i];
            if let Some(key) = arg.strip_prefix("--") {
                if let Some((k, v)) = key.split_once('=') {
                    opts.pairs.push((k.to_string(), Some(v.to_string())));
                } else if argv.get(i + 1).is_some_and(|next| !next.starts_with("--")) {
                    opts.pairs
                        .push((key.to_string(), Some(argv[i + 1].clone())));
                    i += 1;
                } else {
                    opts.pairs.push((key.to_string(), None));
                }
            } else {
                opts.positional.push(arg.clone());
            }
            i += 1;
        }
        Ok(opts)
    }

    /// The value of `--key`, the last one given.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether `--key` was given (with or without a value).
    pub fn flag(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// `--key` as a number (`20000`, `20k` or `20_000`).
    pub fn number(&self, key: &str) -> Result<Option<u64>, BenchError> {
        self.value(key).map(|v| parse_number(key, v)).transpose()
    }

    /// `--key` as a comma-separated list of numbers.
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<u64>>, BenchError> {
        self.value(key)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse_number(key, s))
                    .collect()
            })
            .transpose()
    }

    /// Fails on an option not in `known`, naming it.
    pub fn only(&self, known: &[&str]) -> Result<(), BenchError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(BenchError::Usage(format!(
                "unknown option `--{k}`; the options are {}",
                known
                    .iter()
                    .map(|k| format!("--{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            None => Ok(()),
        }
    }
}

fn parse_number(key: &str, text: &str) -> Result<u64, BenchError> {
    let t = text.trim().replace('_', "").to_ascii_lowercase();
    let (digits, scale) = match t.strip_suffix('k') {
        Some(d) => (d.to_string(), 1000),
        None => (t.clone(), 1),
    };
    digits
        .parse::<u64>()
        .map(|n| n * scale)
        .map_err(|_| BenchError::Usage(format!("`--{key}` wants a whole number, not {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Opts {
        Opts::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn values_flags_and_numbers_parse() {
        let o = opts(&[
            "--jobs",
            "20k",
            "--stores=sqlite,redis",
            "--peers",
            "--concurrency",
            "1,4,16",
        ]);
        assert_eq!(o.number("jobs").unwrap(), Some(20_000));
        assert_eq!(o.value("stores"), Some("sqlite,redis"));
        assert!(o.flag("peers"));
        assert_eq!(o.numbers("concurrency").unwrap(), Some(vec![1, 4, 16]));
        assert!(o.only(&["jobs"]).is_err());
    }
}
