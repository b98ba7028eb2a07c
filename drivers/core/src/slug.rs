//! Rakit's slug, the one spelling of a job name. This file is compiled into two crates:
//! here, for the runtime, and into `rakit-job-macros` (by `#[path]`), so `#[job]` names a
//! job at compile time exactly as workers and dispatch by name look it up.

/// Lowercase letters and digits are kept; spaces, `-` and `_` become one `-`; other
/// punctuation is dropped.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() {
            // `İ` lowercases to `i` and a combining dot: keep the letters and digits only.
            out.extend(c.to_lowercase().filter(|l| l.is_alphanumeric()));
        } else if (c == '-' || c == '_' || c.is_whitespace())
            && !out.is_empty()
            && !out.ends_with('-')
        {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}
