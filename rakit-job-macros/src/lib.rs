//! The `#[job]` attribute of [rakit-job](https://docs.rs/rakit-job). Use it through
//! `rakit_job::job` (or `rakit_job::prelude::*`); this crate is an implementation detail.
//!
//! The macro parses its arguments (`attr`), validates them against the struct (`valid`)
//! and expands to data only (`expand`): serde derives, an `impl JobSpec` of constants and
//! a link-time registration.

mod attr;
mod duration;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Turns a struct into a background job: its fields are the payload.
///
/// ```
/// use rakit_job::prelude::*;
///
/// #[job(name = "send-email", queue = "high", no_overlap = "to", retries = 5, timeout = "30s", backoff = "1s,10s,60s")]
/// pub struct SendEmail {
///     pub to: String,
///     #[serde(default)]
///     pub subject: String,
/// }
///
/// impl Jobable for SendEmail {
///     async fn run(&self, ctx: &JobContext) -> JobResult {
///         println!("mailing {} (attempt {})", self.to, ctx.attempt());
///         Ok(())
///     }
/// }
///
/// assert_eq!(SendEmail::NAME, "send-email");
/// assert_eq!(SendEmail::QUEUE, "high");
/// assert_eq!(SendEmail::OPTIONS.retries, Some(5));
/// ```
///
/// `#[job]` derives `Serialize` and `Deserialize` through rakit-job (your crate needs no
/// serde dependency; `#[serde(...)]` attributes on fields and on the struct still work),
/// implements [`JobSpec`](../rakit_job/trait.JobSpec.html) with the job's metadata, and
/// registers the job so workers find it by name. You implement
/// [`Jobable`](../rakit_job/trait.Jobable.html) yourself.
///
/// # Arguments
///
/// All optional, in any order, each at most once:
///
/// | argument | value | default |
/// |---|---|---|
/// | `name` | the job's name, slugged: `"Send Email"`, `"send_email"` and `"send-email"` are one job | the struct's name in kebab-case: `SendEmail` → `send-email` |
/// | `queue` | 1 to 64 letters, digits, `-` or `_` | `"default"` |
/// | `no_overlap` | alone: runs never overlap; `= "field"`: runs with the same value of that field never overlap | off |
/// | `unique` | like `no_overlap`, but a dispatch is skipped while a job with the same key is pending | off |
/// | `retries` | an integer: a failing job runs at most `retries + 1` times | the worker's or config's |
/// | `timeout` | a duration: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1m30s"` | none |
/// | `backoff` | `"exponential"`, `"fixed"` or a list of delays `"1s,10s,60s"` (the last repeats) | `"exponential"` |
///
/// A mistake in an argument, or `#[job]` on an enum, a union or a generic struct, is a
/// compile error pointing at the token at fault.
///
/// Jobs in a library are registered only if the binary links that library: a crate of
/// jobs the binary never names needs `use my_jobs as _;`.
#[proc_macro_attribute]
pub fn job(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = syn::parse_macro_input!(input as syn::Item);
    expand::job(args.into(), item).into()
}
