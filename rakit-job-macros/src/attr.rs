//! Parsing: the `#[job(...)]` argument list into [`Args`], checking only the shape of
//! each value (a string, an integer, a bare flag). What the values mean is `valid`'s job.

use proc_macro2::{Span, TokenStream};
use std::fmt::Display;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Token, UnOp};

/// The job's name.
pub(crate) const NAME: &str = "name";
/// The job's default queue.
pub(crate) const QUEUE: &str = "queue";
/// The overlap rule: a flag, or a field name.
pub(crate) const NO_OVERLAP: &str = "no_overlap";
/// The uniqueness rule: a flag, or a field name.
pub(crate) const UNIQUE: &str = "unique";
/// Retries after the first run.
pub(crate) const RETRIES: &str = "retries";
/// Longest run.
pub(crate) const TIMEOUT: &str = "timeout";
/// Delay between attempts.
pub(crate) const BACKOFF: &str = "backoff";
/// How long an accepted dispatch keeps its unique key.
pub(crate) const UNIQUE_FOR: &str = "unique_for";
/// At most N starts per window, across every process: `"100/1m"`.
pub(crate) const RATE_LIMIT: &str = "rate_limit";
/// The field the rate limit is counted per.
pub(crate) const RATE_KEY: &str = "rate_key";
/// At most N running at once, across every process.
pub(crate) const MAX_RUNNING: &str = "max_running";
/// The field the running cap is counted per.
pub(crate) const MAX_RUNNING_KEY: &str = "max_running_key";
/// A cron schedule: 5 fields, or 6 with seconds first.
pub(crate) const CRON: &str = "cron";
/// The IANA time zone the schedule is read in.
pub(crate) const TZ: &str = "tz";

/// Every argument, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    NAME,
    QUEUE,
    NO_OVERLAP,
    UNIQUE,
    UNIQUE_FOR,
    RETRIES,
    TIMEOUT,
    BACKOFF,
    RATE_LIMIT,
    RATE_KEY,
    MAX_RUNNING,
    MAX_RUNNING_KEY,
    CRON,
    TZ,
];

/// The arguments as written; `None` where an argument is absent or its value had the wrong shape.
#[derive(Default)]
pub(crate) struct Args {
    pub name: Option<Arg<LitStr>>,
    pub queue: Option<Arg<LitStr>>,
    pub no_overlap: Option<Arg<KeyArg>>,
    pub unique: Option<Arg<KeyArg>>,
    pub retries: Option<u32>,
    pub timeout: Option<Arg<LitStr>>,
    pub backoff: Option<Arg<LitStr>>,
    pub unique_for: Option<Arg<LitStr>>,
    pub rate_limit: Option<Arg<LitStr>>,
    pub rate_key: Option<Arg<LitStr>>,
    pub max_running: Option<Arg<(u32, Span)>>,
    pub max_running_key: Option<Arg<LitStr>>,
    pub cron: Option<Arg<LitStr>>,
    pub tz: Option<Arg<LitStr>>,
}

/// A value and the position of its argument in the list, so that the errors `valid`
/// finds later are still reported in source order.
pub(crate) struct Arg<T> {
    pub position: usize,
    pub value: T,
}

/// `no_overlap` / `unique` as written.
pub(crate) enum KeyArg {
    /// The bare flag: key on the job's name.
    Flag,
    /// `= "field"`: key on the name plus this field's value.
    Field(LitStr),
}

/// Every error found so far, reported together (serde_derive's `Ctxt` idea) and in
/// source order: each is filed under the position of the argument being looked at.
#[derive(Default)]
pub(crate) struct Errors {
    list: Vec<(usize, syn::Error)>,
    position: usize,
}

impl Errors {
    /// The position in the argument list errors are now about; `ITEM` for the item itself.
    pub fn about(&mut self, position: usize) {
        self.position = position;
    }

    /// Records an error at `span`.
    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error spanning a whole token tree (a literal, a path, …).
    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error that was already built.
    pub fn push(&mut self, error: syn::Error) {
        self.list.push((self.position, error));
    }

    /// All errors as one, in source order, or `Ok` when there were none.
    pub fn finish(mut self) -> syn::Result<()> {
        self.list.sort_by_key(|(position, _)| *position);
        let mut all = self.list.into_iter().map(|(_, e)| e);
        let Some(mut first) = all.next() else {
            return Ok(());
        };
        first.extend(all);
        Err(first)
    }
}

/// The position errors about the item (not an argument) are filed under: after all arguments.
pub(crate) const ITEM: usize = usize::MAX;

/// Parses the argument list. A token-level syntax error (`name "x"`, `retries(5)`) stops
/// the parse and is recorded; every other mistake is recorded and the parse goes on.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<String> = Vec::new();
    let parser = |input: ParseStream| {
        for position in 0.. {
            if input.is_empty() {
                break;
            }
            errors.about(position);
            let key = input.call(Ident::parse_any)?;
            let value = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse::<Expr>()?)
            } else if input.is_empty() || input.peek(Token![,]) {
                None
            } else {
                return Err(input.error(format!("expected `=` or `,` after `{}`", key.unraw())));
            };
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
            args.set(&key, value, position, &mut seen, errors);
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    args
}

impl Args {
    fn set(
        &mut self,
        key: &Ident,
        value: Option<Expr>,
        position: usize,
        seen: &mut Vec<String>,
        errors: &mut Errors,
    ) {
        let name = key.unraw().to_string();
        if !KEYS.contains(&name.as_str()) {
            let message = match did_you_mean(&name, KEYS.iter().copied()) {
                Some(near) => format!("unknown `#[job]` argument `{name}`, did you mean `{near}`?"),
                None => format!(
                    "unknown `#[job]` argument `{name}`; expected one of {}",
                    backticked(KEYS, "or")
                ),
            };
            errors.at(key.span(), message);
            return;
        }
        if seen.contains(&name) {
            errors.at(key.span(), format!("duplicate `#[job]` argument `{name}`"));
            return;
        }
        seen.push(name.clone());
        let at = |value| Arg { position, value };
        match name.as_str() {
            NAME => self.name = string(key, value, "\"send-email\"", errors).map(at),
            QUEUE => self.queue = string(key, value, "\"high\"", errors).map(at),
            TIMEOUT => self.timeout = duration(key, value, errors).map(at),
            BACKOFF => self.backoff = string(key, value, "\"1s,10s,60s\"", errors).map(at),
            RETRIES => self.retries = integer(key, value, errors),
            NO_OVERLAP => {
                self.no_overlap = key_rule(key, value, errors).map(|v| Arg { position, value: v })
            }
            UNIQUE => {
                self.unique = key_rule(key, value, errors).map(|v| Arg { position, value: v })
            }
            UNIQUE_FOR => self.unique_for = duration(key, value, errors).map(at),
            RATE_LIMIT => self.rate_limit = string(key, value, "\"100/1m\"", errors).map(at),
            RATE_KEY => self.rate_key = string(key, value, "\"tenant\"", errors).map(at),
            MAX_RUNNING => {
                let span = key.span();
                self.max_running = integer(key, value, errors).map(|n| Arg {
                    position,
                    value: (n, span),
                })
            }
            MAX_RUNNING_KEY => {
                self.max_running_key = string(key, value, "\"file\"", errors).map(at)
            }
            CRON => self.cron = string(key, value, "\"0 3 * * *\"", errors).map(at),
            TZ => self.tz = string(key, value, "\"Europe/Berlin\"", errors).map(at),
            _ => unreachable!("every key of KEYS is handled"),
        }
    }
}

/// A string value; `example` is a sample value for the message.
fn string(key: &Ident, value: Option<Expr>, example: &str, errors: &mut Errors) -> Option<LitStr> {
    match value {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => Some(s),
        Some(other) => {
            errors.spanned(
                &other,
                format!("`{key}` expects a string, like `{key} = {example}`"),
            );
            None
        }
        None => {
            errors.at(
                key.span(),
                format!("`{key}` needs a value, like `{key} = {example}`"),
            );
            None
        }
    }
}

/// A duration string; `timeout = 30s` (an integer with a suffix) gets a hint to quote it.
fn duration(key: &Ident, value: Option<Expr>, errors: &mut Errors) -> Option<LitStr> {
    if let Some(Expr::Lit(ExprLit {
        lit: Lit::Int(n), ..
    })) = &value
    {
        let written = if n.suffix().is_empty() {
            format!("{}s", n.base10_digits())
        } else {
            n.to_string()
        };
        errors.spanned(
            n,
            format!("`{key}` expects a duration string, like `{key} = \"{written}\"`"),
        );
        return None;
    }
    string(key, value, "\"30s\"", errors)
}

/// A `u32`, with its own messages for strings, negatives and overflow.
fn integer(key: &Ident, value: Option<Expr>, errors: &mut Errors) -> Option<u32> {
    match value {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        })) => match n.base10_parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.spanned(
                    &n,
                    format!("`{key}` is too large; the most is {}", u32::MAX),
                );
                None
            }
        },
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => {
            let text = s.value();
            let example = if text.trim().parse::<u32>().is_ok() {
                text.trim().to_string()
            } else {
                "5".to_string()
            };
            errors.spanned(
                &s,
                format!("`{key}` expects an integer, not a string: write `{key} = {example}`"),
            );
            None
        }
        Some(Expr::Unary(u)) if matches!(u.op, UnOp::Neg(_)) => {
            errors.spanned(&u, format!("`{key}` cannot be negative"));
            None
        }
        Some(other) => {
            errors.spanned(
                &other,
                format!("`{key}` expects an integer, like `{key} = 5`"),
            );
            None
        }
        None => {
            errors.at(
                key.span(),
                format!("`{key}` needs a value, like `{key} = 5`"),
            );
            None
        }
    }
}

/// `no_overlap` / `unique`: the bare flag or a field name string.
fn key_rule(key: &Ident, value: Option<Expr>, errors: &mut Errors) -> Option<KeyArg> {
    match value {
        None => Some(KeyArg::Flag),
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => Some(KeyArg::Field(s)),
        Some(Expr::Path(p)) if p.path.get_ident().is_some() => {
            let field = p
                .path
                .get_ident()
                .map(|i| i.unraw().to_string())
                .unwrap_or_default();
            errors.spanned(
                &p,
                format!("write the field name as a string: `{key} = \"{field}\"`"),
            );
            None
        }
        Some(other) => {
            errors.spanned(
                &other,
                format!(
                    "`{key}` is a flag or a field name: write `{key}` alone, or `{key} = \"field\"`"
                ),
            );
            None
        }
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo: at most one
/// edit (insert, delete, substitute, swap two neighbours) per three letters.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `` `a`, `b` or `c` `` (or `and`, as `conjunction` says).
pub(crate) fn backticked(words: &[&str], conjunction: &str) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(tokens: TokenStream) -> Args {
        let mut errors = Errors::default();
        let args = parse(tokens, &mut errors);
        if let Err(e) = errors.finish() {
            panic!("unexpected error: {e}");
        }
        args
    }

    fn messages(tokens: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        parse(tokens, &mut errors);
        match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_argument_is_read() {
        let args = parse_ok(quote!(
            name = "send-email",
            queue = "high",
            no_overlap,
            unique = "to",
            retries = 5,
            timeout = "30s",
            backoff = "1s,10s",
        ));
        assert_eq!(args.name.unwrap().value.value(), "send-email");
        assert_eq!(args.queue.unwrap().value.value(), "high");
        assert!(matches!(args.no_overlap.unwrap().value, KeyArg::Flag));
        let unique = args.unique.unwrap();
        assert!(matches!(unique.value, KeyArg::Field(f) if f.value() == "to"));
        assert_eq!(unique.position, 3);
        assert_eq!(args.retries, Some(5));
        assert_eq!(args.timeout.unwrap().value.value(), "30s");
        assert_eq!(args.backoff.unwrap().value.value(), "1s,10s");
    }

    #[test]
    fn no_arguments_is_fine() {
        let args = parse_ok(quote!());
        assert!(args.name.is_none() && args.no_overlap.is_none() && args.retries.is_none());
    }

    #[test]
    fn all_mistakes_are_reported_together() {
        let got = messages(quote!(
            retires = 5,
            queue = 3,
            retries = "5",
            name = "a",
            name = "b",
            no_overlap = 5
        ));
        assert_eq!(
            got,
            [
                "unknown `#[job]` argument `retires`, did you mean `retries`?",
                "`queue` expects a string, like `queue = \"high\"`",
                "`retries` expects an integer, not a string: write `retries = 5`",
                "duplicate `#[job]` argument `name`",
                "`no_overlap` is a flag or a field name: write `no_overlap` alone, or `no_overlap = \"field\"`",
            ]
        );
    }

    #[test]
    fn value_mistakes_get_hints() {
        assert_eq!(
            messages(quote!(timeout = 30s)),
            ["`timeout` expects a duration string, like `timeout = \"30s\"`"]
        );
        assert_eq!(
            messages(quote!(timeout = 30)),
            ["`timeout` expects a duration string, like `timeout = \"30s\"`"]
        );
        assert_eq!(
            messages(quote!(no_overlap = month)),
            ["write the field name as a string: `no_overlap = \"month\"`"]
        );
        assert_eq!(
            messages(quote!(retries = -1)),
            ["`retries` cannot be negative"]
        );
        assert_eq!(
            messages(quote!(retries = 5000000000)),
            ["`retries` is too large; the most is 4294967295"]
        );
        assert_eq!(
            messages(quote!(retries)),
            ["`retries` needs a value, like `retries = 5`"]
        );
        assert_eq!(
            messages(quote!(name "x")),
            ["expected `=` or `,` after `name`"]
        );
        assert_eq!(
            messages(quote!(colour = "red")),
            [
                "unknown `#[job]` argument `colour`; expected one of `name`, `queue`, `no_overlap`, `unique`, `unique_for`, `retries`, `timeout`, `backoff`, `rate_limit`, `rate_key`, `max_running`, `max_running_key`, `cron` or `tz`"
            ]
        );
    }

    #[test]
    fn suggestions_need_a_close_match() {
        assert_eq!(
            did_you_mean("retires", KEYS.iter().copied()),
            Some("retries")
        );
        assert_eq!(
            did_you_mean("nooverlap", KEYS.iter().copied()),
            Some("no_overlap")
        );
        assert_eq!(did_you_mean("queu", KEYS.iter().copied()), Some("queue"));
        assert_eq!(did_you_mean("colour", KEYS.iter().copied()), None);
        assert_eq!(
            did_you_mean("ratelimit", KEYS.iter().copied()),
            Some("rate_limit")
        );
    }
}
