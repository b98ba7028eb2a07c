//! Text for people: aligned tables, local times and shortened cells.

use rakit_job_core::Millis;

/// Renders rows under a header with columns padded to their widest cell.
pub(crate) fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(|row| line(row)));
    out.join("\n")
}

/// A stored time in the local time zone, `YYYY-MM-DD HH:MM:SS`.
pub(crate) fn local_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

/// An optional time, or `-`.
pub(crate) fn maybe_time(ms: Option<Millis>) -> String {
    ms.map_or_else(|| "-".into(), local_time)
}

/// The first line of `text`, cut to `max` characters with `…` when longer.
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && !text.contains('\n') {
        return line.to_string();
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `1 job` or `3 jobs`: `what` with an `s` unless there is exactly one.
pub(crate) fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_to_their_widest_cell() {
        let rows = vec![
            vec!["a".to_string(), "long cell".to_string()],
            vec!["bbbb".to_string(), "x".to_string()],
        ];
        assert_eq!(
            render(&["ID", "NAME"], &rows),
            "ID    NAME\na     long cell\nbbbb  x"
        );
    }

    #[test]
    fn long_or_multi_line_text_is_cut_with_an_ellipsis() {
        assert_eq!(first_line("short", 10), "short");
        assert_eq!(first_line("0123456789abc", 10), "012345678…");
        assert_eq!(first_line("first\nsecond", 10), "first…");
        assert_eq!(count(1, "job"), "1 job");
        assert_eq!(count(2, "job"), "2 jobs");
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(local_time(0).len(), "1970-01-01 00:00:00".len());
        assert_eq!(maybe_time(None), "-");
    }
}
