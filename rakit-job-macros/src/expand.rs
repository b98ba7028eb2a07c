//! Expansion: the struct with serde derives, one `impl JobSpec` of constants, and one
//! linkme registration. Behaviour lives in the runtime; this only writes data.

use crate::attr::{self, Errors};
use crate::valid::{self, Backoff, Job, Key, Target};
use proc_macro2::{Literal, TokenStream};
use quote::{quote, quote_spanned};
use std::time::Duration;
use syn::Item;
use syn::ext::IdentExt;

/// The whole `#[job]` expansion for `item` with the argument tokens `args`.
pub(crate) fn job(args: TokenStream, item: Item) -> TokenStream {
    let mut errors = Errors::default();
    let args = attr::parse(args, &mut errors);
    let target = match valid::target(item, &mut errors) {
        Ok(target) => target,
        Err(item) => {
            // Not a struct we can derive for: the item as written, and the errors.
            let errors = errors.finish().err().map(|e| e.to_compile_error());
            return quote!(#item #errors);
        }
    };
    let job = valid::check(&target, args, &mut errors);
    match errors.finish() {
        Ok(()) => {
            let item = with_serde(&target);
            let spec = job_spec(&target, &job);
            let entry = registration(&target, &job);
            quote!(#item #spec #entry)
        }
        Err(e) => fallback(&target, &job, e),
    }
}

/// On error: the struct and its `JobSpec` (as far as the arguments were valid), so code
/// using the job still type-checks and the user sees our errors alone; no registration,
/// as this never links.
fn fallback(target: &Target, job: &Job, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let item = if target.own_serde {
        let input = &target.input;
        quote!(#input)
    } else {
        with_serde(target)
    };
    let spec = job_spec(target, job);
    quote!(#error #item #spec)
}

/// The struct as written, deriving serde through rakit-job's hidden re-export.
fn with_serde(target: &Target) -> TokenStream {
    let input = &target.input;
    quote! {
        #[derive(::rakit_job::__private::serde::Serialize, ::rakit_job::__private::serde::Deserialize)]
        #[serde(crate = "::rakit_job::__private::serde")]
        #input
    }
}

/// `impl JobSpec` with the job's name, queue and options as constants.
fn job_spec(target: &Target, job: &Job) -> TokenStream {
    let ident = &target.input.ident;
    let name = &job.name;
    let queue = &job.queue;
    let no_overlap = key_rule(&job.no_overlap);
    let unique = key_rule(&job.unique);
    let retries = match job.retries {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let timeout = match job.timeout {
        Some(d) => {
            let d = duration(d);
            quote!(::core::option::Option::Some(#d))
        }
        None => quote!(::core::option::Option::None),
    };
    let backoff = match &job.backoff {
        Backoff::Exponential => quote!(::rakit_job::Backoff::Exponential),
        Backoff::Fixed => quote!(::rakit_job::Backoff::Fixed),
        Backoff::List(steps) => {
            let steps = steps.iter().map(|d| duration(*d));
            quote!(::rakit_job::Backoff::List(&[#(#steps),*]))
        }
    };
    let unique_for = optional(job.unique_for.map(duration));
    let rate_limit = optional(job.rate_limit.as_ref().map(|(count, per, key)| {
        let per = duration(*per);
        let key = key_rule(key);
        quote!(::rakit_job::RateLimit { count: #count, per: #per, key: #key })
    }));
    let max_running = optional(job.max_running.as_ref().map(|(count, key)| {
        let key = key_rule(key);
        quote!(::rakit_job::MaxRunning { count: #count, key: #key })
    }));
    let cron = optional(job.cron.as_ref().map(|(expression, tz, _)| {
        let tz = optional(tz.as_ref().map(|tz| quote!(#tz)));
        quote!(::rakit_job::Cron { expression: #expression, tz: #tz })
    }));
    quote! {
        #[automatically_derived]
        impl ::rakit_job::JobSpec for #ident {
            const NAME: &'static str = #name;
            const QUEUE: &'static str = #queue;
            const OPTIONS: ::rakit_job::JobOptions = ::rakit_job::JobOptions {
                no_overlap: #no_overlap,
                unique: #unique,
                unique_for: #unique_for,
                retries: #retries,
                timeout: #timeout,
                backoff: #backoff,
                rate_limit: #rate_limit,
                max_running: #max_running,
                cron: #cron,
            };
        }
    }
}

/// The job's entry in the link-time slice workers look jobs up in, and for a `cron` job
/// its schedule in the slice every worker's scheduler reads.
fn registration(target: &Target, job: &Job) -> TokenStream {
    let ident = &target.input.ident;
    let path_suffix = format!("::{}", ident.unraw());
    // Spanned on the struct's name, so a missing `impl Jobable` is reported there.
    let entry = quote_spanned!(ident.span()=> ::rakit_job::__private::JobEntry::of::<#ident>);
    // Spanned on the cron string, so a struct without `Default` is reported there.
    let schedule = job.cron.as_ref().map(|(_, _, span)| {
        let of = quote_spanned!(*span=> ::rakit_job::__private::ScheduleEntry::of::<#ident>);
        quote! {
            #[::rakit_job::__private::linkme::distributed_slice(::rakit_job::__private::SCHEDULES)]
            #[linkme(crate = ::rakit_job::__private::linkme)]
            static SCHEDULE: ::rakit_job::__private::ScheduleEntry = #of();
        }
    });
    quote! {
        const _: () = {
            #[::rakit_job::__private::linkme::distributed_slice(::rakit_job::__private::JOBS)]
            #[linkme(crate = ::rakit_job::__private::linkme)]
            static ENTRY: ::rakit_job::__private::JobEntry =
                #entry(::core::concat!(::core::module_path!(), #path_suffix));
            #schedule
        };
    }
}

/// `Some(value)` or `None` as tokens.
fn optional(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

fn key_rule(key: &Key) -> TokenStream {
    match key {
        Key::Off => quote!(::rakit_job::KeyRule::Off),
        Key::Name => quote!(::rakit_job::KeyRule::Name),
        Key::Field(field) => quote!(::rakit_job::KeyRule::Field(#field)),
    }
}

fn duration(d: Duration) -> TokenStream {
    let millis = Literal::u64_unsuffixed(d.as_millis() as u64);
    quote!(::rakit_job::__private::Duration::from_millis(#millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand(args: TokenStream, item: TokenStream) -> String {
        job(args, syn::parse2(item).unwrap()).to_string()
    }

    #[test]
    fn a_valid_job_gets_serde_its_spec_and_one_registration() {
        let out = expand(
            quote!(queue = "high", timeout = "1m30s", backoff = "1s,10s"),
            quote!(
                pub struct SendEmail {
                    pub to: String,
                }
            ),
        );
        assert!(
            out.contains("derive (:: rakit_job :: __private :: serde :: Serialize"),
            "{out}"
        );
        assert!(
            out.contains("serde (crate = \"::rakit_job::__private::serde\")"),
            "{out}"
        );
        assert!(
            out.contains("const NAME : & 'static str = \"send-email\""),
            "{out}"
        );
        assert!(
            out.contains("const QUEUE : & 'static str = \"high\""),
            "{out}"
        );
        assert!(out.contains("timeout : :: core :: option :: Option :: Some (:: rakit_job :: __private :: Duration :: from_millis (90000))"), "{out}");
        assert!(out.contains("Backoff :: List (& [:: rakit_job :: __private :: Duration :: from_millis (1000) , :: rakit_job :: __private :: Duration :: from_millis (10000)])"), "{out}");
        assert_eq!(out.matches("distributed_slice").count(), 1, "{out}");
        assert!(out.contains("JobEntry :: of :: < SendEmail >"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn a_job_with_mistakes_keeps_its_struct_and_spec_but_is_not_registered() {
        let out = expand(
            quote!(retires = 5),
            quote!(
                pub struct SendEmail {
                    pub to: String,
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("pub struct SendEmail"), "{out}");
        assert!(
            out.contains("impl :: rakit_job :: JobSpec for SendEmail"),
            "{out}"
        );
        assert!(!out.contains("distributed_slice"), "{out}");
    }

    #[test]
    fn an_enum_is_left_as_written() {
        let out = expand(
            quote!(),
            quote!(
                enum Notify {
                    Email,
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("enum Notify"), "{out}");
        assert!(!out.contains("JobSpec") && !out.contains("derive"), "{out}");
    }
}
