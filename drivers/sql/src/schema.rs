//! Migration scripts: the dialect a script names, and splitting it into statements.
//!
//! Every dialect's DDL starts with a line naming its dialect (`-- rakit-job schema for
//! postgres`), so a script written for one database is refused by another before any of
//! it runs.

use rakit_job_core::DriverError;

/// How the first line of the DDL begins; the dialect's name follows.
const MARKER: &str = "-- rakit-job schema for ";

/// How the DDL of earlier versions began (`-- rakit-job tables for PostgreSQL`).
const OLD_MARKER: &str = "-- rakit-job tables for ";

/// The first line of the DDL for `dialect`.
pub(crate) fn marker(dialect: &str) -> String {
    format!("{MARKER}{dialect}")
}

/// Refuses the migration `name` when a line of it says it was written for a dialect other
/// than `dialect`.
pub(crate) fn refuse_other_dialect(
    name: &str,
    script: &str,
    dialect: &str,
) -> Result<(), DriverError> {
    for line in script.lines().map(str::trim) {
        let Some(named) = line
            .strip_prefix(MARKER)
            .or_else(|| line.strip_prefix(OLD_MARKER))
        else {
            continue;
        };
        let named = match named
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
        {
            n if n == "postgresql" => "postgres".to_string(),
            n => n,
        };
        if named != dialect {
            return Err(DriverError::Invalid(format!(
                "the migration {name} creates the job tables for {named}, but this database is {dialect}; run `job:table` again to write the {dialect} version and migrate that"
            )));
        }
    }
    Ok(())
}

/// Splits a script into statements at each `;` outside quotes and comments; empty
/// statements and comment-only pieces are dropped.
///
/// Quotes are `'…'`, `"…"` and `` `…` ``, comments are `-- …` and `/* … */`.
/// PostgreSQL dollar-quoted bodies (`$$ … $$`) are kept whole too.
pub(crate) fn split_statements(script: &str) -> Vec<String> {
    let chars: Vec<char> = script.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' | '`' => {
                let end = find_char(&chars, i + 1, c);
                current.extend(&chars[i..end]);
                i = end;
            }
            '-' if next == Some('-') => {
                let end = find_char(&chars, i, '\n');
                current.extend(&chars[i..end]);
                i = end;
            }
            '/' if next == Some('*') => {
                let end = find_seq(&chars, i + 2, &['*', '/']);
                current.extend(&chars[i..end]);
                i = end;
            }
            '$' if next == Some('$') => {
                let end = find_seq(&chars, i + 2, &['$', '$']);
                current.extend(&chars[i..end]);
                i = end;
            }
            ';' => {
                push_statement(&mut out, &current);
                current.clear();
                i += 1;
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    push_statement(&mut out, &current);
    out
}

/// The index just past the next `close` at or after `from` (or the end).
fn find_char(chars: &[char], from: usize, close: char) -> usize {
    chars[from..]
        .iter()
        .position(|&c| c == close)
        .map_or(chars.len(), |p| from + p + 1)
}

/// The index just past the next `seq` at or after `from` (or the end).
fn find_seq(chars: &[char], from: usize, seq: &[char]) -> usize {
    (from..chars.len())
        .find(|&i| chars[i..].starts_with(seq))
        .map_or(chars.len(), |p| p + seq.len())
}

fn push_statement(out: &mut Vec<String>, piece: &str) {
    let has_code = piece.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with("--")
    });
    if has_code {
        out.push(piece.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let script = "-- head\nCREATE TABLE a (x TEXT DEFAULT 'a;b');\n/* c; */ INSERT INTO a VALUES (\"q;\");\n-- tail;\n";
        let got = split_statements(script);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("DEFAULT 'a;b')"));
        assert!(got[1].ends_with("VALUES (\"q;\")"));
    }
}
