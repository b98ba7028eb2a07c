//! `#[job]` (placeholder until the real expansion lands).
use proc_macro::TokenStream;

/// Placeholder.
#[proc_macro_attribute]
pub fn job(_args: TokenStream, input: TokenStream) -> TokenStream {
    input
}
