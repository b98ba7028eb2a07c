//! Arbitrary text through everything a user types: the command line, `config/job.toml`,
//! `RAKIT_JOB_*` variables, dates, names, queue names, job ids and store urls.
//!
//! The first byte picks the parser, the rest (as UTF-8) is its input:
//!
//! - 0: argv, words split on NUL, through `Args::parse` and every option accessor.
//! - 1: TOML text through `Config::from_toml`.
//! - 2: environment pairs, one `NAME=VALUE` a line, through `Config::apply_env`.
//! - 3: a date through `When::from(..).millis()`.
//! - 4: a name through `slug`, `validate_queue`, `validate_identifier` and `JobId::parse`.
//! - 5: `scheme\0user\0password\0rest` through `redact_url`, which must hide the password.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rakit_job::{Config, JobId, When};
use rakit_job_core::{redact_url, slug, validate_identifier, validate_queue};

/// Any argument list is read without a panic: it runs, or is refused as a usage
/// mistake (exit 2) or, at most, a runtime failure (exit 1). Nothing is run.
fn argv(text: &str) {
    let words: Vec<String> = text.split('\0').map(str::to_string).collect();
    if let Some(code) = rakit_job::cli::refusal(words) {
        assert!(code == 1 || code == 2, "exit code {code}");
    }
}

fn toml(text: &str) {
    if let Ok(config) = Config::from_toml(text) {
        assert!(config.validate().is_ok());
        assert!(!config.store_url().is_empty());
        let _ = (config.redacted_url(), config.sleep());
    }
}

fn env(text: &str) {
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|line| match line.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (line.to_string(), String::new()),
        })
        .collect();
    let mut config = Config::default();
    if config.apply_env(pairs.clone()).is_err() {
        return;
    }
    // A text setting holds the last value given for it.
    for (name, value) in pairs.iter().rev() {
        let Some(key) = name.strip_prefix("RAKIT_JOB_") else {
            continue;
        };
        if key.eq_ignore_ascii_case("driver") {
            assert_eq!(&config.driver, value);
            break;
        }
    }
    let _ = config.validate();
    let _ = config.redacted_url();
}

fn date(text: &str) {
    let _ = When::from(text).millis();
}

fn names(text: &str) {
    let s = slug(text);
    assert!(
        !s.starts_with('-') && !s.ends_with('-') && !s.contains("--"),
        "{s:?}"
    );
    assert!(s.chars().all(|c| c == '-' || c.is_alphanumeric()), "{s:?}");
    assert!(!s.bytes().any(|b| b.is_ascii_uppercase()), "{s:?}");

    let queue_ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    assert_eq!(validate_queue(text).is_ok(), queue_ok, "{text:?}");

    for allow_dot in [false, true] {
        let ok = (1..=64).contains(&text.len())
            && !text.as_bytes()[0].is_ascii_digit()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (allow_dot && b == b'.'));
        assert_eq!(validate_identifier(text, allow_dot).is_ok(), ok, "{text:?}");
    }

    if let Ok(id) = JobId::parse(text) {
        let s = id.as_str();
        assert_eq!(s.len(), 36, "{s:?}");
        assert!(
            s.bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(JobId::parse(s).ok(), Some(id));
    }
}

fn url(text: &str) {
    let mut parts = text.splitn(4, '\0');
    let (Some(scheme), Some(user), Some(password), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    // The scheme and user are what they say: neither holds the `:` that ends them.
    if scheme.contains(':') || user.contains(':') || user.contains('@') {
        return;
    }
    let url = format!("{scheme}://{user}:{password}@{rest}");
    let shown = redact_url(&url);
    // The password must not survive, unless the text around it repeats it anyway.
    let prefix = format!("{scheme}://{user}:");
    let suffix = format!("@{rest}");
    if !password.is_empty()
        && !password.contains('*')
        && !prefix.contains(password)
        && !suffix.contains(password)
    {
        assert!(!shown.contains(password), "{url:?} was shown as {shown:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&parser, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match parser % 6 {
        0 => argv(text),
        1 => toml(text),
        2 => env(text),
        3 => date(text),
        4 => names(text),
        _ => url(text),
    }
});
