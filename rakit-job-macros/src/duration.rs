//! Duration strings of `timeout` and `backoff`: `"500ms"`, `"30s"`, `"5m"`, `"1h"`,
//! `"2d"`, and sums of them such as `"1m30s"` or `"1h 15m"`.

use std::time::Duration;

/// The units a duration string may use, longest spelling first so `ms` wins over `m`.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Reads one duration string; the error is a message without the argument's name.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(
            "expected a duration like `30s`, `500ms` or `1m30s`, found an empty string".to_string(),
        );
    }
    let mut millis: u64 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!(
                "expected a number in the duration `{trimmed}`; write it like `30s`, `500ms` or `1m30s`"
            ));
        }
        let (digits, after) = rest.split_at(digits_end);
        if after.starts_with(['.', ',']) {
            return Err(format!(
                "the duration `{trimmed}` has a fraction; use whole numbers of a smaller unit, like `1500ms` for 1.5 seconds"
            ));
        }
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(format!(
                "the duration `{trimmed}` needs a unit after `{digits}`: `ms`, `s`, `m`, `h` or `d`"
            ));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(match short_unit(unit) {
                Some(short) => format!(
                    "unknown unit `{unit}` in the duration `{trimmed}`; write `{digits}{short}`"
                ),
                None => format!(
                    "unknown unit `{unit}` in the duration `{trimmed}`; use `ms`, `s`, `m`, `h` or `d`"
                ),
            });
        };
        let too_long = || format!("the duration `{trimmed}` is too long");
        let amount: u64 = digits.parse().map_err(|_| too_long())?;
        let part = amount.checked_mul(scale).ok_or_else(too_long)?;
        millis = millis.checked_add(part).ok_or_else(too_long)?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(millis))
}

/// The unit a long spelling such as `seconds` or `min` means.
fn short_unit(long: &str) -> Option<&'static str> {
    Some(match long.to_ascii_lowercase().as_str() {
        "ms" | "msec" | "msecs" | "milli" | "millis" | "millisecond" | "milliseconds" => "ms",
        "sec" | "secs" | "second" | "seconds" | "s" => "s",
        "min" | "mins" | "minute" | "minutes" | "m" => "m",
        "hr" | "hrs" | "hour" | "hours" | "h" => "h",
        "day" | "days" | "d" => "d",
        _ => return None,
    })
}

/// Reads a comma-separated list of durations, as `backoff = "1s,10s,60s"` takes.
pub(crate) fn parse_list(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|item| {
            if item.trim().is_empty() {
                Err(format!(
                    "the list `{text}` has an empty item; write it like `1s,10s,60s`"
                ))
            } else {
                parse(item)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn single_units_are_read() {
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("30s"), Ok(ms(30_000)));
        assert_eq!(parse("5m"), Ok(ms(300_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("2d"), Ok(ms(172_800_000)));
        assert_eq!(parse("0s"), Ok(ms(0)));
    }

    #[test]
    fn combinations_add_up() {
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1h 15m"), Ok(ms(4_500_000)));
        assert_eq!(parse("1s500ms"), Ok(ms(1_500)));
        assert_eq!(parse(" 2m "), Ok(ms(120_000)));
        assert_eq!(parse("30 s"), Ok(ms(30_000)));
    }

    #[test]
    fn malformed_durations_say_what_is_wrong() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("30").unwrap_err().contains("needs a unit after `30`"));
        assert!(parse("30x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse("30sec").unwrap_err().contains("unknown unit `sec`"));
        assert!(parse("30 seconds").unwrap_err().ends_with("; write `30s`"));
        assert!(parse("2H").unwrap_err().ends_with("; write `2h`"));
        assert!(parse("s").unwrap_err().contains("expected a number"));
        assert!(parse("1.5s").unwrap_err().contains("has a fraction"));
        assert!(parse("-1s").is_err());
        assert!(
            parse("99999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse("9999999999999999d").unwrap_err().contains("too long"));
    }

    #[test]
    fn lists_are_read_in_order() {
        assert_eq!(
            parse_list("1s,10s,60s"),
            Ok(vec![ms(1_000), ms(10_000), ms(60_000)])
        );
        assert_eq!(parse_list("1s, 1m30s"), Ok(vec![ms(1_000), ms(90_000)]));
        assert!(parse_list("1s,,2s").unwrap_err().contains("empty item"));
        assert!(parse_list("1s,x").is_err());
    }
}
