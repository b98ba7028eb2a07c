//! Inputs the fuzz targets in `fuzz/` once broke, kept as tests so they stay fixed.
//! Each test names the target that found it; `scripts/fuzz.sh` runs the targets.

use rakit_job::driver::{redact_url, slug};
use rakit_job::prelude::*;

/// Found by `cli_and_config`: `İ` lowercases to `i` plus a combining dot, which is neither
/// a letter nor a digit, so the slug held a mark and slugging it again changed it.
#[test]
fn a_slug_holds_only_letters_digits_and_dashes_and_is_its_own_slug() {
    assert_eq!(slug("İstanbul Report"), "istanbul-report");
    for name in [
        "İstanbul Report",
        "Send Email",
        "ǅemal_Ǆ",
        "ΣΊΣΥΦΟΣ",
        "x\u{301}y",
    ] {
        let once = slug(name);
        assert!(
            once.chars().all(|c| c == '-' || c.is_alphanumeric()),
            "{name:?} gave {once:?}"
        );
        assert_eq!(slug(&once), once, "{name:?}");
    }
}

/// The `#[job]` macro slugs names at compile time exactly as the runtime does.
#[job(name = "İstanbul Report")]
pub struct IstanbulReport {
    /// The month reported on.
    pub month: u32,
}

impl Jobable for IstanbulReport {
    async fn run(&self, _ctx: &JobContext) -> JobResult {
        Ok(())
    }
}

#[test]
fn a_job_name_is_slugged_by_the_macro_as_by_the_runtime() {
    assert_eq!(IstanbulReport::NAME, "istanbul-report");
    assert_eq!(IstanbulReport::NAME, slug("İstanbul Report"));
    let found = rakit_job::__private::find("İstanbul Report").expect("found by any spelling");
    assert_eq!(found.name, IstanbulReport::NAME);
}

/// Found by `cli_and_config`: the password ran to the first `/`, so a password holding a
/// `/` was printed whole. A password written raw may hold `/`, `?`, `#`, `:` or `@`.
#[test]
fn a_url_is_printed_without_its_password_whatever_the_password_holds() {
    let found = "postgres://app:--queuedb:5432/@\0\0\0\0\0\0\u{19}jpbs";
    assert!(
        !redact_url(found).contains("--queuedb:5432/"),
        "{}",
        redact_url(found)
    );
    for (url, password) in [
        ("postgres://app:pa/ss@db:5432/jobs", "pa/ss"),
        ("postgres://app:p@a/ss@db/jobs", "p@a/ss"),
        ("mysql://root:a?b#c@127.0.0.1/test", "a?b#c"),
        ("redis://:x:y/z@127.0.0.1:6379/0", "x:y/z"),
        (
            "postgres://app:s3cret@db/jobs?application_name=a@b",
            "s3cret",
        ),
    ] {
        let shown = redact_url(url);
        assert!(!shown.contains(password), "{url:?} was shown as {shown:?}");
        assert!(shown.contains("***"), "{shown:?}");
    }
}

#[test]
fn a_url_without_a_password_is_printed_as_written() {
    for url in [
        "sqlite://storage/jobs.db",
        "sqlite://storage/jobs@2.db",
        "redis://127.0.0.1:6379/0",
        "storage/jobs",
    ] {
        assert_eq!(redact_url(url), url);
    }
    assert_eq!(
        redact_url("postgres://app:s3cret@db:5432/jobs"),
        "postgres://app:***@db:5432/jobs"
    );
    assert_eq!(redact_url("memcache://u@h:1"), "memcache://***@h:1");
}

/// What `Config` prints of its url goes through the same redaction.
#[test]
fn a_configured_url_is_printed_without_a_password_holding_a_slash() {
    let config = rakit_job::Config::from_toml("url = \"postgres://app:pa/ss@db/jobs\"").unwrap();
    assert!(
        !config.redacted_url().contains("pa/ss"),
        "{}",
        config.redacted_url()
    );
}
