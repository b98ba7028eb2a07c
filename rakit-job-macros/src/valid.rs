//! Validation: what the item is and what the argument values mean, turning [`Args`] into
//! a checked [`Job`]. Every mistake is recorded; a value in error falls back to its
//! default so expansion can still go on.

use crate::attr::{self, Arg, Args, Errors, KeyArg};
use crate::duration;
use std::time::Duration;
use syn::ext::IdentExt;
use syn::{Attribute, Data, DeriveInput, Fields, Item, LitStr, Token};

/// The largest job name, in bytes of its slug.
const MAX_NAME_LEN: usize = 128;

/// The item `#[job]` is on, when it can carry a job.
pub(crate) struct Target {
    pub input: DeriveInput,
    /// The user derived `Serialize`/`Deserialize` already, which is an error; the
    /// fallback expansion then leaves serde out to avoid conflicting impls.
    pub own_serde: bool,
}

/// A job whose arguments were all checked.
pub(crate) struct Job {
    pub name: String,
    pub queue: String,
    pub no_overlap: Key,
    pub unique: Key,
    pub retries: Option<u32>,
    pub timeout: Option<Duration>,
    pub backoff: Backoff,
    pub unique_for: Option<Duration>,
    pub rate_limit: Option<(u32, Duration, Key)>,
    pub max_running: Option<(u32, Key)>,
    /// The checked cron expression and time zone, and the span to blame when the struct
    /// cannot be built with `Default`.
    pub cron: Option<(String, Option<String>, proc_macro2::Span)>,
}

/// A checked `no_overlap` / `unique` rule.
pub(crate) enum Key {
    Off,
    Name,
    /// The field's name in the serialized payload (after serde renames).
    Field(String),
}

/// A checked `backoff`.
pub(crate) enum Backoff {
    Exponential,
    Fixed,
    List(Vec<Duration>),
}

/// Checks that the item is a struct without generics. Anything else is recorded as an
/// error; the item comes back unchanged as `Err` so it can still be emitted.
pub(crate) fn target(item: Item, errors: &mut Errors) -> Result<Target, Box<Item>> {
    errors.about(attr::ITEM);
    let input: DeriveInput = match item {
        Item::Struct(s) => s.into(),
        Item::Enum(e) => {
            errors.at(
                e.enum_token.span,
                "`#[job]` cannot be used on an enum; a job is a struct whose fields are its payload",
            );
            return Err(Box::new(Item::Enum(e)));
        }
        Item::Union(u) => {
            errors.at(
                u.union_token.span,
                "`#[job]` cannot be used on a union; a job is a struct whose fields are its payload",
            );
            return Err(Box::new(Item::Union(u)));
        }
        Item::Fn(f) => {
            errors.at(
                f.sig.fn_token.span,
                "`#[job]` cannot be used on a function; it goes on a struct whose fields are the payload, like `pub struct SendEmail { .. }`",
            );
            return Err(Box::new(Item::Fn(f)));
        }
        other => {
            errors.at(
                proc_macro2::Span::call_site(),
                "`#[job]` goes on a struct, like `pub struct SendEmail { .. }`",
            );
            return Err(Box::new(other));
        }
    };
    let generics = &input.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        let what =
            if generics.lifetimes().next().is_some() && generics.type_params().next().is_none() {
                "lifetimes"
            } else {
                "generic parameters"
            };
        errors.spanned(
            generics,
            format!(
                "`#[job]` cannot be used on a struct with {what}; a worker must know the concrete type to decode the payload"
            ),
        );
        return Err(Box::new(Item::Struct(into_struct(input))));
    }
    let own_serde = own_serde_derives(&input.attrs, errors);
    Ok(Target { input, own_serde })
}

fn into_struct(input: DeriveInput) -> syn::ItemStruct {
    let Data::Struct(data) = input.data else {
        unreachable!("only structs are converted")
    };
    syn::ItemStruct {
        attrs: input.attrs,
        vis: input.vis,
        struct_token: data.struct_token,
        ident: input.ident,
        generics: input.generics,
        fields: data.fields,
        semi_token: data.semi_token,
    }
}

/// Records an error on each `Serialize` / `Deserialize` the user derives themselves.
fn own_serde_derives(attrs: &[Attribute], errors: &mut Errors) -> bool {
    let mut found = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr
            .parse_args_with(syn::punctuated::Punctuated::<syn::Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        for path in paths {
            let Some(last) = path.segments.last() else {
                continue;
            };
            if last.ident == "Serialize" || last.ident == "Deserialize" {
                found = true;
                errors.spanned(
                    &path,
                    format!(
                        "`#[job]` derives `{}` itself; remove it from this derive",
                        last.ident
                    ),
                );
            }
        }
    }
    found
}

/// Checks every argument against the struct.
pub(crate) fn check(target: &Target, args: Args, errors: &mut Errors) -> Job {
    let input = &target.input;
    let default_name = kebab_case(&input.ident.unraw().to_string());
    Job {
        name: checked(args.name, errors, check_name).unwrap_or(default_name),
        queue: checked(args.queue, errors, check_queue).unwrap_or_else(|| "default".to_string()),
        no_overlap: checked(args.no_overlap, errors, |k, e| {
            Some(check_key(attr::NO_OVERLAP, k, input, e))
        })
        .unwrap_or(Key::Off),
        unique: checked(args.unique, errors, |k, e| {
            Some(check_key(attr::UNIQUE, k, input, e))
        })
        .unwrap_or(Key::Off),
        retries: args.retries,
        timeout: checked(args.timeout, errors, check_timeout),
        backoff: checked(args.backoff, errors, check_backoff).unwrap_or(Backoff::Exponential),
        unique_for: checked(args.unique_for, errors, |lit, e| {
            check_window(attr::UNIQUE_FOR, lit, e)
        }),
        rate_limit: check_rate_limit(args.rate_limit, args.rate_key, input, errors),
        max_running: check_max_running(args.max_running, args.max_running_key, input, errors),
        cron: check_cron(args.cron, args.tz, errors),
    }
}

/// A window (`unique_for`): a duration longer than zero.
fn check_window(key: &str, lit: LitStr, errors: &mut Errors) -> Option<Duration> {
    match duration::parse(&lit.value()) {
        Ok(d) if d.is_zero() => {
            errors.spanned(lit, format!("`{key}` must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            errors.spanned(lit, message);
            None
        }
    }
}

/// `rate_limit = "N/window"` (N at least 1), and `rate_key`, a field, only with it.
fn check_rate_limit(
    limit: Option<Arg<LitStr>>,
    key: Option<Arg<LitStr>>,
    input: &DeriveInput,
    errors: &mut Errors,
) -> Option<(u32, Duration, Key)> {
    let per_key = checked(key, errors, |lit, e| {
        Some(check_key(attr::RATE_KEY, KeyArg::Field(lit), input, e))
    });
    let Some(limit) = limit else {
        if per_key.is_some() {
            errors.about(attr::ITEM);
            errors.at(
                input.ident.span(),
                "`rate_key` needs a `rate_limit`, like `rate_limit = \"100/1m\"`",
            );
        }
        return None;
    };
    errors.about(limit.position);
    let lit = limit.value;
    let text = lit.value();
    let parsed = text.split_once('/').and_then(|(n, window)| {
        let n: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
        let window = duration::parse(window.trim())
            .ok()
            .filter(|d| !d.is_zero())?;
        Some((n, window))
    });
    match parsed {
        Some((n, window)) => Some((n, window, per_key.unwrap_or(Key::Name))),
        None => {
            errors.spanned(
                lit,
                format!("`rate_limit` {text:?} is not a count per window; write it like \"100/1m\" (at least 1, per a duration)"),
            );
            None
        }
    }
}

/// `max_running = N` (at least 1), and `max_running_key`, a field, only with it.
fn check_max_running(
    cap: Option<Arg<(u32, proc_macro2::Span)>>,
    key: Option<Arg<LitStr>>,
    input: &DeriveInput,
    errors: &mut Errors,
) -> Option<(u32, Key)> {
    let per_key = checked(key, errors, |lit, e| {
        Some(check_key(
            attr::MAX_RUNNING_KEY,
            KeyArg::Field(lit),
            input,
            e,
        ))
    });
    let Some(cap) = cap else {
        if per_key.is_some() {
            errors.about(attr::ITEM);
            errors.at(
                input.ident.span(),
                "`max_running_key` needs a `max_running`, like `max_running = 5`",
            );
        }
        return None;
    };
    errors.about(cap.position);
    let (n, span) = cap.value;
    if n == 0 {
        errors.at(
            span,
            "`max_running` must be at least 1; leave it out for no cap",
        );
        return None;
    }
    Some((n, per_key.unwrap_or(Key::Name)))
}

/// `cron`: 5 fields, or 6 with seconds first; `tz`: an IANA time zone, only with `cron`.
fn check_cron(
    cron: Option<Arg<LitStr>>,
    tz: Option<Arg<LitStr>>,
    errors: &mut Errors,
) -> Option<(String, Option<String>, proc_macro2::Span)> {
    let zone = checked(tz, errors, |lit, e| {
        let name = lit.value();
        match name.parse::<chrono_tz::Tz>() {
            Ok(_) => Some((name, lit.span())),
            Err(_) => {
                e.spanned(
                    lit,
                    format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""),
                );
                None
            }
        }
    });
    let Some(cron) = cron else {
        if let Some((_, span)) = zone {
            errors.at(
                span,
                "`tz` needs a `cron` schedule, like `cron = \"0 3 * * *\"`",
            );
        }
        return None;
    };
    errors.about(cron.position);
    let lit = cron.value;
    let expression = lit.value();
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build();
    match parser.parse(&expression) {
        Ok(_) => Some((expression, zone.map(|(name, _)| name), lit.span())),
        Err(e) => {
            let e = e.to_string();
            let e = e.trim_end_matches('.');
            errors.spanned(
                lit,
                format!("invalid cron expression {expression:?}: {e}; write 5 fields (minute hour day month weekday) or 6 with seconds first, like \"0 3 * * *\""),
            );
            None
        }
    }
}

/// Runs `check` on an argument's value with errors filed under the argument's position.
fn checked<T, U>(
    arg: Option<Arg<T>>,
    errors: &mut Errors,
    check: impl FnOnce(T, &mut Errors) -> Option<U>,
) -> Option<U> {
    let arg = arg?;
    errors.about(arg.position);
    check(arg.value, errors)
}

fn check_name(lit: LitStr, errors: &mut Errors) -> Option<String> {
    let written = lit.value();
    let name = slug(&written);
    if written.trim().is_empty() {
        errors.spanned(
            lit,
            "the job name is empty; leave `name` out to use the struct's name in kebab-case",
        );
        None
    } else if name.is_empty() {
        errors.spanned(
            lit,
            format!("the job name {written:?} has no letters or digits"),
        );
        None
    } else if name.len() > MAX_NAME_LEN {
        errors.spanned(
            lit,
            format!("the job name is too long; the most is {MAX_NAME_LEN} bytes"),
        );
        None
    } else {
        Some(name)
    }
}

fn check_queue(lit: LitStr, errors: &mut Errors) -> Option<String> {
    let queue = lit.value();
    let ok = !queue.is_empty()
        && queue.len() <= 64
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Some(queue)
    } else {
        errors.spanned(
            lit,
            format!("the queue name {queue:?} is invalid; use 1 to 64 letters, digits, `-` or `_`"),
        );
        None
    }
}

fn check_timeout(lit: LitStr, errors: &mut Errors) -> Option<Duration> {
    match duration::parse(&lit.value()) {
        Ok(d) if d.is_zero() => {
            errors.spanned(
                lit,
                "`timeout` must be longer than zero; leave it out for no timeout",
            );
            None
        }
        Ok(d) => Some(d),
        Err(message) => {
            errors.spanned(lit, message);
            None
        }
    }
}

fn check_backoff(lit: LitStr, errors: &mut Errors) -> Option<Backoff> {
    const WORDS: &[&str] = &["exponential", "fixed"];
    let text = lit.value();
    match text.trim() {
        "exponential" => return Some(Backoff::Exponential),
        "fixed" => return Some(Backoff::Fixed),
        _ => {}
    }
    let starts_with_letter = text.trim_start().starts_with(|c: char| c.is_alphabetic());
    if starts_with_letter {
        let message = match attr::did_you_mean(text.trim(), WORDS.iter().copied()) {
            Some(near) => format!("unknown backoff {text:?}, did you mean `{near}`?"),
            None => format!(
                "unknown backoff {text:?}; expected `exponential`, `fixed` or a list of delays like \"1s,10s,60s\""
            ),
        };
        errors.spanned(lit, message);
        return None;
    }
    match duration::parse_list(&text) {
        Ok(list) => Some(Backoff::List(list)),
        Err(message) => {
            errors.spanned(lit, format!("{message} (in `backoff`)"));
            None
        }
    }
}

/// `no_overlap` / `unique`: the flag keys on the name; a field must exist and be serialized.
fn check_key(key: &str, arg: KeyArg, input: &DeriveInput, errors: &mut Errors) -> Key {
    let lit = match arg {
        KeyArg::Flag => return Key::Name,
        KeyArg::Field(lit) => lit,
    };
    let written = lit.value();
    // `r#type` and `type` both name the field `r#type`, which serde calls `type`.
    let wanted = written.strip_prefix("r#").unwrap_or(&written).to_string();
    let ty = input.ident.unraw();
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        _ => return Key::Off,
    };
    let Fields::Named(named) = fields else {
        errors.spanned(
            &lit,
            format!("`{ty}` has no named fields; write `{key}` alone to key on the job's name"),
        );
        return Key::Off;
    };
    let names: Vec<String> = named
        .named
        .iter()
        .filter_map(|f| f.ident.as_ref())
        .map(|i| i.unraw().to_string())
        .collect();
    let Some(index) = names.iter().position(|n| *n == wanted) else {
        let message = match attr::did_you_mean(&wanted, names.iter().map(String::as_str)) {
            Some(near) => format!("no field `{wanted}` on `{ty}`, did you mean `{near}`?"),
            None => format!(
                "no field `{wanted}` on `{ty}` for `{key}`; its fields are {}",
                {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    attr::backticked(&refs, "and")
                }
            ),
        };
        errors.spanned(&lit, message);
        return Key::Off;
    };
    let serde = SerdeField::read(&named.named[index].attrs);
    if let Some(why) = serde.absent_because {
        errors.spanned(
            &lit,
            format!("`{key}` cannot key on `{wanted}`: its `#[serde({why})]` keeps it out of the payload"),
        );
        return Key::Off;
    }
    let serialized = match (serde.rename, container_rename_all(&input.attrs)) {
        (Some(rename), _) => rename,
        (None, Some(rule)) => rename_field(&wanted, &rule),
        (None, None) => wanted,
    };
    Key::Field(serialized)
}

/// What a field's own `#[serde(...)]` attributes change about its payload key.
#[derive(Default)]
struct SerdeField {
    rename: Option<String>,
    absent_because: Option<&'static str>,
}

impl SerdeField {
    fn read(attrs: &[Attribute]) -> SerdeField {
        let mut out = SerdeField::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            // Malformed serde attributes are serde's to report; ignore parse errors here.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(name) = serialize_value(&meta)? {
                        out.rename = Some(name);
                    }
                } else if meta.path.is_ident("skip") {
                    out.absent_because = Some("skip");
                } else if meta.path.is_ident("skip_serializing") {
                    out.absent_because = Some("skip_serializing");
                } else if meta.path.is_ident("flatten") {
                    out.absent_because = Some("flatten");
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            });
        }
        out
    }
}

/// The container's `#[serde(rename_all = "...")]` (its serialize side), if any.
fn container_rename_all(attrs: &[Attribute]) -> Option<String> {
    let mut rule = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if let Some(r) = serialize_value(&meta)? {
                    rule = Some(r);
                }
            } else {
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    rule
}

/// `key = "x"` or `key(serialize = "x", ...)`: the serialize-side string.
fn serialize_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Option<String>> {
    if meta.input.peek(Token![=]) {
        return Ok(Some(meta.value()?.parse::<LitStr>()?.value()));
    }
    let mut found = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            found = Some(inner.value()?.parse::<LitStr>()?.value());
        } else {
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    Ok(found)
}

/// Steps over a nested meta's value (`= expr` or `(...)`) that this crate does not read.
fn skip_value(meta: &syn::meta::ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// A snake_case field name under serde's `rename_all` rule.
fn rename_field(field: &str, rule: &str) -> String {
    let pascal = || {
        let mut out = String::new();
        let mut upper = true;
        for c in field.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    match rule {
        "UPPERCASE" | "SCREAMING_SNAKE_CASE" => field.to_ascii_uppercase(),
        "PascalCase" => pascal(),
        "camelCase" => {
            let p = pascal();
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => p,
            }
        }
        "kebab-case" => field.replace('_', "-"),
        "SCREAMING-KEBAB-CASE" => field.to_ascii_uppercase().replace('_', "-"),
        _ => field.to_string(),
    }
}

/// A type name in kebab-case: `SendEmail` → `send-email`, `GenerateHTMLReport` →
/// `generate-html-report`, `ProcessV2Upload` → `process-v2-upload`.
pub(crate) fn kebab_case(ident: &str) -> String {
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('-');
            }
        }
        out.push(c);
    }
    slug(&out)
}

/// Rakit's slug: the very function the runtime uses (`rakit_job_core::slug`), compiled here too.
#[path = "../../drivers/core/src/slug.rs"]
mod one_slug;
pub(crate) use one_slug::slug;

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn struct_names_become_kebab_case() {
        assert_eq!(kebab_case("SendEmail"), "send-email");
        assert_eq!(kebab_case("GenerateHTMLReport"), "generate-html-report");
        assert_eq!(kebab_case("HTTPServer"), "http-server");
        assert_eq!(kebab_case("ProcessV2Upload"), "process-v2-upload");
        assert_eq!(kebab_case("Report2024"), "report2024");
        assert_eq!(kebab_case("Ping"), "ping");
        assert_eq!(kebab_case("Send_Email"), "send-email");
        assert_eq!(kebab_case("ABC"), "abc");
    }

    #[test]
    fn names_are_slugged_like_the_runtime() {
        assert_eq!(slug("Send Email"), "send-email");
        assert_eq!(slug("send_email"), "send-email");
        assert_eq!(slug("send-email"), "send-email");
        assert_eq!(slug("  Report: Monthly!! "), "report-monthly");
        assert_eq!(slug("Send__Email"), "send-email");
        assert_eq!(slug("-x-"), "x");
        assert_eq!(slug("!!!"), "");
        assert_eq!(slug("Ünïcode Jöb"), "ünïcode-jöb");
    }

    #[test]
    fn serde_renames_change_the_key_field() {
        assert_eq!(rename_field("user_id", "camelCase"), "userId");
        assert_eq!(rename_field("user_id", "PascalCase"), "UserId");
        assert_eq!(rename_field("user_id", "kebab-case"), "user-id");
        assert_eq!(rename_field("user_id", "SCREAMING-KEBAB-CASE"), "USER-ID");
        assert_eq!(rename_field("user_id", "UPPERCASE"), "USER_ID");
        assert_eq!(rename_field("user_id", "snake_case"), "user_id");
    }

    fn checked(
        item: proc_macro2::TokenStream,
        args: proc_macro2::TokenStream,
    ) -> (Option<Job>, Vec<String>) {
        let mut errors = Errors::default();
        let args = attr::parse(args, &mut errors);
        let job = match target(syn::parse2(item).unwrap(), &mut errors) {
            Ok(t) => Some(check(&t, args, &mut errors)),
            Err(_) => None,
        };
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (job, messages)
    }

    #[test]
    fn key_fields_follow_serde_renames() {
        let item = quote!(
            #[serde(rename_all = "camelCase")]
            struct Report {
                month_key: String,
                #[serde(rename = "who")]
                user: u64,
            }
        );
        let (job, errors) = checked(item, quote!(no_overlap = "month_key", unique = "user"));
        assert!(errors.is_empty(), "{errors:?}");
        let job = job.unwrap();
        assert!(matches!(&job.no_overlap, Key::Field(f) if f == "monthKey"));
        assert!(matches!(&job.unique, Key::Field(f) if f == "who"));
    }

    #[test]
    fn bad_values_are_all_reported() {
        let item = quote!(
            struct Report {
                month: String,
                #[serde(skip)]
                cache: u8,
            }
        );
        let args = quote!(
            name = "!!",
            queue = "a b",
            timeout = "0s",
            backoff = "fixd",
            no_overlap = "mont",
            unique = "cache"
        );
        let (job, errors) = checked(item, args);
        assert_eq!(
            errors,
            [
                "the job name \"!!\" has no letters or digits",
                "the queue name \"a b\" is invalid; use 1 to 64 letters, digits, `-` or `_`",
                "`timeout` must be longer than zero; leave it out for no timeout",
                "unknown backoff \"fixd\", did you mean `fixed`?",
                "no field `mont` on `Report`, did you mean `month`?",
                "`unique` cannot key on `cache`: its `#[serde(skip)]` keeps it out of the payload",
            ]
        );
        let job = job.unwrap();
        assert_eq!(job.name, "report");
        assert_eq!(job.queue, "default");
    }

    #[test]
    fn only_plain_structs_carry_jobs() {
        let (_, e) = checked(
            quote!(
                enum E {
                    A,
                }
            ),
            quote!(),
        );
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("on an enum"));
        let (_, e) = checked(
            quote!(
                struct S<T> {
                    t: T,
                }
            ),
            quote!(),
        );
        assert!(e[0].contains("generic parameters"));
        let (_, e) = checked(
            quote!(
                struct S<'a> {
                    t: &'a str,
                }
            ),
            quote!(),
        );
        assert!(e[0].contains("lifetimes"));
        let (_, e) = checked(
            quote!(
                #[derive(Debug, serde::Serialize)]
                struct S;
            ),
            quote!(),
        );
        assert_eq!(
            e,
            ["`#[job]` derives `Serialize` itself; remove it from this derive"]
        );
        let (job, e) = checked(
            quote!(
                struct Ping;
            ),
            quote!(no_overlap, backoff = "1s, 5s"),
        );
        assert!(e.is_empty());
        let job = job.unwrap();
        assert_eq!(job.name, "ping");
        assert!(matches!(job.no_overlap, Key::Name));
        assert!(matches!(&job.backoff, Backoff::List(l) if l.len() == 2));
    }
}
