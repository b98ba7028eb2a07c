//! Batch items bound as one JSON array, which SQLite's `json_each` reads as a table: one
//! prepared statement then serves every batch size, where a list of placeholders would
//! need one per size (each kept in the statement cache) and a bind per value.

// MySQL shares the claim that calls it, but leases through its own statement.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use crate::db::Arg;
use rakit_job_core::Lease;
use std::fmt::Write;

/// `items` as one JSON array holding the array `row(item)` of each.
pub(crate) fn json_rows<'a, T, const N: usize>(
    items: &'a [T],
    row: impl Fn(&'a T) -> [Arg<'a>; N],
) -> String {
    let mut out = String::with_capacity(items.len() * 48 + 2);
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        out.push_str(if i == 0 { "[" } else { ",[" });
        for (k, value) in row(item).iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            push_value(&mut out, value);
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// A lease as `[id, token]`.
pub(crate) fn pair(lease: &Lease) -> [Arg<'_>; 2] {
    [Arg::Text(lease.id.as_str()), Arg::Int(lease.token as i64)]
}

/// Appends `value` as JSON.
fn push_value(out: &mut String, value: &Arg<'_>) {
    match *value {
        // Writing to a `String` cannot fail.
        Arg::Int(n) | Arg::MaybeInt(Some(n)) => {
            let _ = write!(out, "{n}");
        }
        Arg::Text(text) | Arg::MaybeText(Some(text)) => push_text(out, text),
        Arg::MaybeText(None) | Arg::MaybeInt(None) => out.push_str("null"),
        Arg::Flag(flag) => out.push_str(if flag { "true" } else { "false" }),
    }
}

/// Appends `text` as a JSON string.
fn push_text(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
